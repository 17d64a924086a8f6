"""Model families. :data:`MODEL_CLASSES` maps each class's ``family`` (the name used in registries and
``training_info.json``) to the class; a new family adds its class to the tuple."""

from genhub.models.autoencoder import Autoencoder
from genhub.models.base import CheckpointError, GenhubModel
from genhub.models.cgan import CGAN
from genhub.models.cyclegan import CycleGAN
from genhub.models.dbvae import DBVAE
from genhub.models.dcgan import DCGAN
from genhub.models.ddpm import DDPM
from genhub.models.face_features import FaceFeatureNet
from genhub.models.pix2pix import Pix2Pix
from genhub.models.pixelcnn import PixelCNN
from genhub.models.stylegan import StyleGAN
from genhub.models.vae import VAE

MODEL_CLASSES: dict[str, type[GenhubModel]] = {cls.family: cls for cls in (DCGAN, VAE, Pix2Pix, CycleGAN,
                                                                           FaceFeatureNet, DDPM, Autoencoder,
                                                                           DBVAE, PixelCNN, CGAN, StyleGAN)}

__all__ = ["CGAN", "MODEL_CLASSES", "Autoencoder", "CheckpointError", "CycleGAN", "DBVAE", "DCGAN", "DDPM",
           "FaceFeatureNet", "GenhubModel", "Pix2Pix", "PixelCNN", "StyleGAN", "VAE"]
