"""genhub's own face feature network: a small CNN trained to predict CelebA's 40 face attributes and whether an
image is a face at all, whose penultimate layer is the feature space genhub measures FID, KID, precision and
recall in when the standard Inception weights are not available.

Version 2 added the face head. Version 1 learnt attributes from faces only, so nothing in its training set them
apart from non-faces: it scored a starter's colour garbage (FID 38.6) better than its smeared faces (44.8) and gave
pure noise a precision of 0.64. A feature space ranks what its training separates (Kynkäänniemi et al. 2023, "The
Role of ImageNet Classes in Fréchet Inception Distance", show FID following the classes of Inception's training);
the face head, trained against flowers and the synthetic non-faces of :mod:`genhub.nonfaces`, makes
"is it a face" a direction of the space, and gives the face check (:meth:`FaceFeatureNet.face_probability`).

Version 3 has half v2's channels (128 features), and a quarter of each face-check batch, faces and non-faces alike,
is seen at a half or a quarter of the side and a fifth grey: it trains in about half v2's time (the first run's
critical path), keeps the known answers' ranking, and its face check holds at 16 px and in grey (the PixelCNN's
samples, the growth strip's 16 px stage), where v2 called most grey flowers and grey scrambled faces at 16 px faces.
(A 32 px network trained in a quarter of the time but could no longer tell a 64 px VAE's blur: its precision was
0.86 against v2's 0.17; bench/README.md.)

Numbers in this space are comparable only with numbers measured with the same weights (the report
names the network, its version and the SHA-256 of its weights) and never with published FIDs, which
are defined on Inception-v3 (see :mod:`genhub.models.inception`). Trained exports are loaded, and untrained
ones refused, by :func:`genhub.evaluation.features.load_feature_network`.

    accelerate launch training/train_face_features.py --dataset ../shared/data/faces_celeba \
        --output_dir checkpoints/face-features
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genhub.models.base import GenhubModel

NAME = "genhub-face-features"
#: Bump when the architecture, the input convention or the training recipe changes.
VERSION = "3"
#: CelebA's 40 binary attributes, in the official order (``list_attr_celeba.txt``).
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
)


class FaceFeatureNet(GenhubModel, tags=["face-attributes", "face-detection", "genhub-feature-network"],
                     pipeline_tag="image-classification"):
    """Conv 3x3 stem, then stride-2 conv / batch norm / ReLU stages down to 4x4, global average pool
    (the ``features``, after a ReLU, so non-negative), and two linear heads on them: one logit per attribute,
    and one face-vs-non-face logit.

    Parameters:
        resolution: side the network works at; other sizes are resized to it (bilinear, antialiased).
        width: channels of the stem; each stage down to 4x4 doubles them, so features have
            ``width * resolution / 4`` dimensions (128 for the defaults).
        attributes: names of the predicted attributes (one logit each).
        name, version: the feature space's identity, written to ``config.json`` and to every report.
    """

    family = "face-features"
    in_app = False
    paper = "Liu, Luo, Wang & Tang 2015, Deep Learning Face Attributes in the Wild (CelebA)."

    def __init__(self, resolution: int = 64, width: int = 8,
                 attributes: list[str] | tuple[str, ...] = CELEBA_ATTRIBUTES, name: str = NAME, version: str = VERSION):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        self.resolution, self.attributes, self.name, self.version = resolution, list(attributes), name, version
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        side, channels = resolution, width
        while side > 4:
            layers += [nn.Conv2d(channels, 2 * channels, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * channels),
                       nn.ReLU(True)]
            side, channels = side // 2, 2 * channels
        self.trunk = nn.Sequential(*layers)
        self.num_features = channels
        self.head = nn.Linear(channels, len(self.attributes))
        self.face_head = nn.Linear(channels, 1)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(next(self.parameters()).device, torch.float32)
        if images.shape[1] == 1:
            images = images.repeat(1, 3, 1, 1)
        if images.shape[-2:] != (self.resolution, self.resolution):
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="bilinear",
                                   align_corners=False, antialias=True)
        return images

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, 1 or 3, H, W) in [-1, 1] -> float32 (B, num_features), the penultimate layer."""
        return self.trunk(self._prepare(images)).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor, with_face: bool = False):
        """images: float (B, 1 or 3, H, W) in [-1, 1] -> attribute logits float32 (B, len(attributes)); with
        ``with_face``, the pair (attribute logits, face logit float32 (B,)) from one pass (training uses this)."""
        features = self.features(images)
        attribute_logits = self.head(features)
        return (attribute_logits, self.face_head(features).squeeze(1)) if with_face else attribute_logits

    def face_logit(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, 1 or 3, H, W) in [-1, 1] -> float32 (B,), the face-vs-non-face logit (> 0: a face)."""
        return self.face_logit_of_features(self.features(images))

    def face_logit_of_features(self, features: torch.Tensor) -> torch.Tensor:
        """:meth:`features` already extracted (B, num_features), any float dtype or device -> the face logit (B,)."""
        return self.face_head(features.to(self.face_head.weight)).squeeze(1)

    @torch.no_grad()
    def face_probability(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """The face check: P(face) of each image, float32 (B,) in [0, 1], ``batch_size`` images at a time, on the
        network's device (eval mode is the caller's)."""
        return torch.cat([torch.sigmoid(self.face_logit(chunk)).cpu() for chunk in images.split(batch_size)])
