"""Train genhub's face feature network: CelebA's 40 attributes and a face-vs-non-face head, for FID/KID in its
feature space and for the face check.

    accelerate launch training/train_face_features.py --dataset ../shared/data/faces_celeba \
        --nonface_dataset ../shared/data/nonface_flowers_128 --output_dir checkpoints/face-features

Faces are every row of ``--dataset``; the attribute loss (mean binary cross-entropy) counts only rows whose
``has_attributes`` is true (9,725 train / 546 test in faces_celeba). The face loss (binary cross-entropy of the
face logit) sees the faces, a quarter of them blurred and a fifth grey (blurry and grey faces are still faces),
the rows of ``--nonface_dataset``, and as many synthetic non-faces per batch as ``--synthetic_nonfaces`` times its
faces, made from those faces (:func:`genhub.nonfaces.make_nonfaces`: phase-scrambled, patch-shuffled, colour
blobs, pixel noise). At export, held-out attribute accuracy and AUROC, and the face check's rates on held-out faces,
blurred faces, non-face rows and each synthetic kind are written to the model card. Only the loss and step live
here; the loop, checkpoints, export and push are genhub.train.trainer's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genhub.data import DataError, DataSpec, ImageDataset, load_split
from genhub.hub.card import CardText
from genhub.models.face_features import CELEBA_ATTRIBUTES, NAME, VERSION, FaceFeatureNet
from genhub.nonfaces import NONFACE_MAKERS, gaussian_blur, make_nonfaces
from genhub.train.args import add_training_args
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train

#: Attributes whose held-out accuracy is written to the card beside the means.
HEADLINE_ATTRIBUTES = ("Male", "Smiling", "Eyeglasses", "Young")
#: Shares of the faces shown blurred (a VAE's blur is still a face) and of the face head's whole batch shown grey,
#: and the blur's sigma range as a share of the side (1-2.5 px at 64 px).
BLURRED_SHARE, GREY_SHARE, BLUR_SIGMA = 0.25, 0.2, (1 / 64, 2.5 / 64)
#: Share of the face head's batch (faces and non-faces alike) shown at a half or a quarter of the side and resized
#: back, as a 32 or 16 px sample reaches the 64 px network: the face check then judges the PixelCNN's and the
#: growth strip's 16 px images.
LOW_RES_SHARE = 0.25


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the face-attribute and face-check network with Accelerate.")
    add_training_args(parser)
    model = parser.add_argument_group("feature network")
    model.add_argument("--width", type=int, default=8, help="stem channels (features: width * 16 at 64 px)")
    model.add_argument("--weight_decay", type=float, default=1e-4)
    model.add_argument("--nonface_dataset", default=None,
                       help="real non-face photos for the face head (e.g. ../shared/data/nonface_flowers_128)")
    model.add_argument("--synthetic_nonfaces", type=float, default=0.5,
                       help="synthetic non-faces per face of each batch (genhub.nonfaces)")
    parser.set_defaults(resolution=64, learning_rate=1e-3, adam_beta1=0.9, num_epochs=8, train_batch_size=128,
                        use_ema=False, random_flip=True)
    args = parser.parse_args(argv)
    args.data = DataSpec(args.dataset, args.resolution, 3, {"pixel_values": args.image_column})
    args.nonface_data = (DataSpec(args.nonface_dataset, args.resolution, 3, {"pixel_values": None})
                         if args.nonface_dataset else None)
    return args


class AttributeDataset(torch.utils.data.Dataset):
    """Face rows, and non-face rows after them: ``{"pixel_values": float (3, R, R) in [-1, 1], "labels": float32
    (A,) of 0/1, "has_attributes": float32 0/1, "is_face": float32 0/1}``. Face rows without attributes (and
    non-faces) have zero labels and ``has_attributes`` 0.

    Raises:
        DataError: no annotated row, no attribute column, or a missing label on an annotated row.
    """

    def __init__(self, spec: DataSpec, split: str, nonfaces: DataSpec | None = None):
        images = load_split(spec, split)
        table = images.table
        annotated = (np.asarray(table["has_attributes"], dtype=bool) if "has_attributes" in table.column_names
                     else np.ones(len(table), dtype=bool))
        self.attributes = [name for name in CELEBA_ATTRIBUTES if name in table.column_names]
        if not self.attributes or not annotated.any():
            raise DataError(f"dataset {spec.source!r}, split {split!r}: no annotated rows with CelebA attribute "
                            "columns")
        columns = [np.asarray(table[name], dtype=object)[annotated] for name in self.attributes]
        if any(value is None for column in columns for value in column):
            raise DataError(f"dataset {spec.source!r}, split {split!r}: an annotated row has a missing attribute")
        labels = np.zeros((len(table), len(self.attributes)), dtype=np.float32)
        labels[annotated] = np.stack(columns, axis=1).astype(np.float32)
        self.images = ImageDataset(table, images.columns, spec.resolution, spec.channels, spec.source)
        self.nonfaces = load_split(nonfaces, split) if nonfaces is not None else None
        extra = len(self.nonfaces) if self.nonfaces is not None else 0
        self.labels = torch.cat([torch.from_numpy(labels), torch.zeros(extra, len(self.attributes))])
        self.has_attributes = torch.cat([torch.from_numpy(annotated.astype(np.float32)), torch.zeros(extra)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        is_face = index < len(self.images)
        image = self.images[index] if is_face else self.nonfaces[index - len(self.images)]
        return {"pixel_values": image["pixel_values"], "labels": self.labels[index],
                "has_attributes": self.has_attributes[index], "is_face": torch.tensor(float(is_face))}


@dataclass(frozen=True)
class FeatureHparams:
    synthetic_nonfaces: float


def face_check_batch(pixel_values: torch.Tensor, is_face: torch.Tensor, synthetic_nonfaces: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The face head's batch: the faces with a share blurred, the non-face rows, and synthetic non-faces made from
    the (unaltered) faces; then a share of all of them grey and a share at a lower resolution
    (:func:`low_resolution`): faces and non-faces alike, so that grey or a low resolution is never a cue for "face"
    (v2 greyed only the faces and called a fifth of grey flowers faces). All drawn from the torch RNG
    (checkpointed: resume is exact). Returns (images float (N, 3, R, R) in [-1, 1], is_face float32 (N,))."""
    faces = pixel_values[is_face > 0.5]
    synthetic = make_nonfaces(faces[:round(len(faces) * synthetic_nonfaces)], None).to(pixel_values)
    faces = faces.clone()
    blurred = torch.rand(len(faces)) < BLURRED_SHARE
    if blurred.any():
        sigma = float(torch.empty(1).uniform_(*BLUR_SIGMA)) * faces.shape[-1]
        faces[blurred] = gaussian_blur(faces[blurred], sigma)
    images = torch.cat([faces, pixel_values[is_face <= 0.5], synthetic])
    grey = torch.rand(len(images)) < GREY_SHARE
    images[grey] = images[grey].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    low = torch.rand(len(images)) < LOW_RES_SHARE
    images[low] = low_resolution(images[low], int(torch.randint(1, 3, ())))
    targets = torch.cat([torch.ones(len(faces)), torch.zeros(len(images) - len(faces))]).to(pixel_values.device)
    return images, targets


def low_resolution(images: torch.Tensor, halvings: int = 1) -> torch.Tensor:
    """images float (N, C, R, R) -> the same at side R / 2**halvings (antialiased) and resized back to R
    (bilinear, as :meth:`FaceFeatureNet._prepare` enlarges a small image)."""
    if len(images) == 0:
        return images
    side = images.shape[-1]
    small = F.interpolate(images, size=(side >> halvings,) * 2, mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(small, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: mean binary cross-entropy of the attribute logits of the annotated faces against their
    0/1 labels, plus that of the face logit on :func:`face_check_batch`."""
    annotated = batch["has_attributes"] > 0.5
    labelled = batch["pixel_values"][annotated]
    images, targets = face_check_batch(batch["pixel_values"], batch["is_face"], ctx.hparams.synthetic_nonfaces)
    attribute_logits, face_logits = ctx.networks["classifier"](torch.cat([labelled, images]), with_face=True)
    attribute_errors = F.binary_cross_entropy_with_logits(attribute_logits[:len(labelled)].float(),
                                                          batch["labels"][annotated].float(), reduction="none")
    attribute_loss = attribute_errors.mean(dim=1).sum() / max(len(labelled), 1)  # 0 for a batch without labels
    face_loss = F.binary_cross_entropy_with_logits(face_logits[len(labelled):].float(), targets)
    ctx.backward(attribute_loss + face_loss)
    ctx.step("classifier")
    return {"loss": attribute_loss.detach(), "face_loss": face_loss.detach()}


@torch.no_grad()
def face_check_rates(model: FaceFeatureNet, faces: torch.Tensor, nonfaces: torch.Tensor | None,
                     seed: int = 0) -> dict[str, float]:
    """How often the face check (P(face) > 0.5) says "face" on held-out faces (float (N, 3, R, R) in [-1, 1]),
    on the same faces blurred (sigma 2 px at 64 px), grey, on held-out non-face rows, and on each synthetic
    non-face kind made from the faces; and on each of these at a quarter of the side (:func:`low_resolution`: 16 px
    at 64 px)."""
    generator = torch.Generator().manual_seed(seed)
    side = faces.shape[-1]
    probes = {"held-out faces": faces, "blurred held-out faces": gaussian_blur(faces, 2 * side / 64),
              "grey held-out faces": faces.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)}
    if nonfaces is not None:
        probes["held-out non-face photos"] = nonfaces
    probes.update({kind: make(faces, generator) for kind, make in NONFACE_MAKERS.items()})
    probes.update({f"{name} at a quarter of the side": low_resolution(images, 2) for name, images in probes.items()})
    return {f"face check: share called faces, {name}": float((model.face_probability(images) > 0.5).float().mean())
            for name, images in probes.items()}


@torch.no_grad()
def held_out_metrics(model: FaceFeatureNet, dataset: AttributeDataset, batch_size: int = 256) -> dict[str, float]:
    """Mean accuracy (threshold 0.5) and mean AUROC over the attributes on the annotated faces of ``dataset``, the
    accuracy of :data:`HEADLINE_ATTRIBUTES`, and :func:`face_check_rates`. AUROC skips attributes with a single
    class in the data."""
    from torchmetrics.functional.classification import binary_auroc

    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    batches = list(loader)
    images = torch.cat([batch["pixel_values"] for batch in batches])
    logits = torch.cat([model(batch["pixel_values"]).cpu() for batch in batches])
    annotated, is_face = dataset.has_attributes > 0.5, torch.cat([batch["is_face"] for batch in batches]) > 0.5
    logits, labels = logits[annotated], dataset.labels[annotated]
    accuracy = ((logits > 0).float() == labels).float().mean(0)
    aurocs = [float(binary_auroc(logits[:, j], labels[:, j].long())) for j in range(labels.shape[1])
              if 0 < labels[:, j].sum() < len(labels)]
    metrics = {"held-out mean attribute accuracy": float(accuracy.mean()),
               "held-out mean attribute AUROC": float(np.mean(aurocs)) if aurocs else float("nan")}
    for name in HEADLINE_ATTRIBUTES:
        if name in model.attributes:
            metrics[f"held-out accuracy, {name}"] = float(accuracy[model.attributes.index(name)])
    nonfaces = images[~is_face] if (~is_face).any() else None
    return {**metrics, **face_check_rates(model, images[is_face], nonfaces)}


def first_layer_filters(model: FaceFeatureNet) -> torch.Tensor:
    """The stem's 3x3 RGB filters, each scaled to [-1, 1] and enlarged to 24x24: (width, 3, 24, 24)."""
    weights = model.trunk[0].weight.detach().float()
    low, high = weights.amin(dim=(1, 2, 3), keepdim=True), weights.amax(dim=(1, 2, 3), keepdim=True)
    scaled = (weights - low) / (high - low).clamp_min(1e-12) * 2 - 1
    return F.interpolate(scaled, scale_factor=8, mode="nearest")


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset = AttributeDataset(args.data, "train", args.nonface_data)
    model = FaceFeatureNet(args.resolution, args.width, dataset.attributes)

    def on_export(exported: FaceFeatureNet, folder: Path) -> dict[str, float]:
        return held_out_metrics(exported, AttributeDataset(args.data, "test", args.nonface_data))

    recipe = Recipe(
        model=model,
        networks={"classifier": model},
        optimizers={"classifier": adam(model.parameters(), args.learning_rate, (args.adam_beta1, args.adam_beta2),
                                       weight_decay=args.weight_decay, decoupled=True)},
        training_step=training_step,
        sample=first_layer_filters,  # a classifier makes no images; its grid shows no data either
        hparams=FeatureHparams(args.synthetic_nonfaces),
        ema_network=None,
        on_export=on_export,
        card=CardText(
            f"`{NAME}` v{VERSION}: a small CNN predicting {len(dataset.attributes)} CelebA face attributes and whether "
            "an image is a face (trained against non-face photos and synthetic non-faces: phase-scrambled and "
            "patch-shuffled faces, colour blobs, pixel noise). genhub uses its penultimate layer (`features`) as "
            "the feature space for FID/KID/precision/recall when the standard Inception weights are unavailable "
            "(such numbers are not comparable with published FIDs), and its face logit as the face check. "
            "The grid shows the first layer's filters.",
            usage="features = model.features(images)  # (B, 3, H, W) in [-1, 1] -> (B, model.num_features)\n"
                  "logits = model(images)  # (B, 40) attribute logits\n"
                  "p_face = model.face_probability(images)  # (B,) in [0, 1]"),
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
