"""Train genhub's face feature network (a CelebA 40-attribute classifier) for FID/KID in its feature space.

    accelerate launch training/train_face_features.py --dataset ../shared/data/faces_celeba \
        --output_dir checkpoints/face-features

Uses the rows whose ``has_attributes`` is true (9,725 train / 546 test in faces_celeba); attribute columns
hold 1 / 0. The loss is the mean binary cross-entropy over the attributes. At export, held-out accuracy
and AUROC are measured on the test split and written to the model card. Only the loss and step live
here; the loop, checkpoints, export and push are genhub.train.trainer's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genhub.data import DataError, DataSpec, ImageDataset, load_split
from genhub.hub.card import CardText
from genhub.models.face_features import CELEBA_ATTRIBUTES, NAME, VERSION, FaceFeatureNet
from genhub.train.args import add_training_args
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train

#: Attributes whose held-out accuracy is written to the card beside the means.
HEADLINE_ATTRIBUTES = ("Male", "Smiling", "Eyeglasses", "Young")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the face-attribute feature network with Accelerate.")
    add_training_args(parser)
    model = parser.add_argument_group("feature network")
    model.add_argument("--width", type=int, default=16, help="stem channels (features: width * 16 at 64 px)")
    model.add_argument("--weight_decay", type=float, default=1e-4)
    parser.set_defaults(learning_rate=1e-3, adam_beta1=0.9, num_epochs=8, train_batch_size=128, use_ema=False,
                        random_flip=True)
    args = parser.parse_args(argv)
    args.data = DataSpec(args.dataset, args.resolution, 3, {"pixel_values": args.image_column})
    return args


class AttributeDataset(torch.utils.data.Dataset):
    """Annotated face rows: ``{"pixel_values": float (3, R, R) in [-1, 1], "labels": float32 (A,) of 0/1}``.

    Raises:
        DataError: no annotated row, no attribute column, or a missing label on an annotated row.
    """

    def __init__(self, spec: DataSpec, split: str):
        images = load_split(spec, split)
        table = images.table
        if "has_attributes" in table.column_names:
            rows = [index for index, flag in enumerate(table["has_attributes"]) if flag]
            table = table.select(rows)
        self.attributes = [name for name in CELEBA_ATTRIBUTES if name in table.column_names]
        if not self.attributes or len(table) == 0:
            raise DataError(f"dataset {spec.source!r}, split {split!r}: no annotated rows with CelebA attribute "
                            "columns")
        columns = [np.asarray(table[name], dtype=object) for name in self.attributes]
        if any(value is None for column in columns for value in column):
            raise DataError(f"dataset {spec.source!r}, split {split!r}: an annotated row has a missing attribute")
        self.labels = torch.tensor(np.stack(columns, axis=1).astype(np.float32))
        self.images = ImageDataset(table, images.columns, spec.resolution, spec.channels, spec.source)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {**self.images[index], "labels": self.labels[index]}


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: mean binary cross-entropy of the attribute logits against the 0/1 labels."""
    logits = ctx.networks["classifier"](batch["pixel_values"])
    loss = F.binary_cross_entropy_with_logits(logits.float(), batch["labels"].float())
    ctx.backward(loss)
    ctx.step("classifier")
    return {"loss": loss.detach()}


@torch.no_grad()
def held_out_metrics(model: FaceFeatureNet, dataset: AttributeDataset, batch_size: int = 256) -> dict[str, float]:
    """Mean accuracy (threshold 0.5) and mean AUROC over the attributes on ``dataset``, plus the accuracy
    of :data:`HEADLINE_ATTRIBUTES`. AUROC skips attributes with a single class in the data."""
    from torchmetrics.functional.classification import binary_auroc

    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    logits = torch.cat([model(batch["pixel_values"]).cpu() for batch in loader])
    labels = dataset.labels
    accuracy = ((logits > 0).float() == labels).float().mean(0)
    aurocs = [float(binary_auroc(logits[:, j], labels[:, j].long())) for j in range(labels.shape[1])
              if 0 < labels[:, j].sum() < len(labels)]
    metrics = {"held-out mean attribute accuracy": float(accuracy.mean()),
               "held-out mean attribute AUROC": float(np.mean(aurocs)) if aurocs else float("nan")}
    for name in HEADLINE_ATTRIBUTES:
        if name in model.attributes:
            metrics[f"held-out accuracy, {name}"] = float(accuracy[model.attributes.index(name)])
    return metrics


def first_layer_filters(model: FaceFeatureNet) -> torch.Tensor:
    """The stem's 3x3 RGB filters, each scaled to [-1, 1] and enlarged to 24x24: (width, 3, 24, 24)."""
    weights = model.trunk[0].weight.detach().float()
    low, high = weights.amin(dim=(1, 2, 3), keepdim=True), weights.amax(dim=(1, 2, 3), keepdim=True)
    scaled = (weights - low) / (high - low).clamp_min(1e-12) * 2 - 1
    return F.interpolate(scaled, scale_factor=8, mode="nearest")


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset = AttributeDataset(args.data, "train")
    model = FaceFeatureNet(args.resolution, args.width, dataset.attributes)

    def on_export(exported: FaceFeatureNet, folder: Path) -> dict[str, float]:
        return held_out_metrics(exported, AttributeDataset(args.data, "test"))

    recipe = Recipe(
        model=model,
        networks={"classifier": model},
        optimizers={"classifier": adam(model.parameters(), args.learning_rate, (args.adam_beta1, args.adam_beta2),
                                       weight_decay=args.weight_decay, decoupled=True)},
        training_step=training_step,
        sample=first_layer_filters,  # a classifier makes no images; its grid shows no data either
        ema_network=None,
        on_export=on_export,
        card=CardText(
            f"`{NAME}` v{VERSION}: a small CNN predicting {len(dataset.attributes)} CelebA face attributes. genhub "
            "uses its penultimate layer (`features`) as the feature space for FID/KID/precision/recall when the "
            "standard Inception weights are unavailable; such numbers are not comparable with published FIDs. "
            "The grid shows the first layer's filters.",
            usage="features = model.features(images)  # (B, 3, H, W) in [-1, 1] -> (B, model.num_features)\n"
                  "logits = model(images)  # (B, 40) attribute logits"),
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
