"""Model families, by the name used in registries and ``training_info.json``."""

from genhub.models.base import CheckpointError, GenhubModel
from genhub.models.dcgan import DCGAN

MODEL_CLASSES: dict[str, type[GenhubModel]] = {
    "dcgan": DCGAN,
}

__all__ = ["MODEL_CLASSES", "CheckpointError", "DCGAN", "GenhubModel"]
