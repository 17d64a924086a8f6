"""Model families, by the name used in registries and ``training_info.json``."""

from genhub.models.base import CheckpointError, GenhubModel
from genhub.models.cyclegan import CycleGAN
from genhub.models.dcgan import DCGAN
from genhub.models.face_features import FaceFeatureNet
from genhub.models.pix2pix import Pix2Pix
from genhub.models.vae import VAE

MODEL_CLASSES: dict[str, type[GenhubModel]] = {
    "dcgan": DCGAN,
    "pix2pix": Pix2Pix,
    "cyclegan": CycleGAN,
    "vae": VAE,
}

__all__ = ["MODEL_CLASSES", "CheckpointError", "CycleGAN", "DCGAN", "FaceFeatureNet", "GenhubModel", "Pix2Pix", "VAE"]
