"""DB-VAE training (Amini et al. 2019): a face detector with a VAE of faces and adaptive resampling, and, with
``--baseline``, the standard CNN it is compared with (the same encoder, the classification loss only, uniform
sampling).

    accelerate launch training/train_dbvae.py --dataset ../shared/data/faces_celeba \
        --nonface_dataset ../shared/data/nonface_flowers_128 --resolution 64 --alpha 0.01 \
        --output_dir checkpoints/dbvae-faces-alpha-0.01

Every batch holds ``--train_batch_size`` faces and as many non-faces. Before each epoch the training faces are
encoded and their resampling weights (genhub.models.debiasing) redrawn: that epoch's faces are
``len(faces)`` draws with replacement from those weights, by a generator of its own; the weights, the draws and
that generator are checkpointed, so a resumed run is bit-identical. Non-faces are uniform. ``--alpha inf`` keeps
every face once per epoch (no debiasing). The export holds the fairness audit (genhub.evaluation.fairness) in
``fairness.json`` and its card, and ``resampling.safetensors`` (the final histograms and each training face's
weight) for the app's galleries.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from genhub.data import DataSpec, ImageDataset, load_split
from genhub.evaluation.fairness import audit, audit_metrics
from genhub.evaluation.latent import reconstruction_errors, reconstruction_quality
from genhub.hub.card import CardText
from genhub.models.dbvae import DBVAE, dbvae_loss, split_outputs
from genhub.models.debiasing import COMBINATIONS, LatentDensity
from genhub.models.vae import reparameterize
from genhub.train.args import add_training_args
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train
from genhub.train.vae import add_autoencoder_args, grid_images


@dataclass(frozen=True)
class DBVAEHparams:
    """The loss weights c1, c2, c3 and whether this is the standard-CNN baseline (classification loss only)."""

    classification_weight: float
    reconstruction_weight: float
    kl_weight: float
    baseline: bool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a DB-VAE face detector (or the standard CNN) with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(learning_rate=5e-4, adam_beta1=0.9, latent_dim=32, train_batch_size=32)
    data = parser.add_argument_group("non-faces")
    data.add_argument("--nonface_dataset", default=None, help="the negatives, e.g. ../shared/data/nonface_flowers_128")
    data.add_argument("--nonface_image_column", default=None)
    data.add_argument("--domain_column", default=None, help="faces and non-faces in one --dataset: the column "
                                                              "telling them apart (instead of --nonface_dataset)")
    data.add_argument("--face_domain", default="A")
    data.add_argument("--nonface_domain", default="B")
    model = add_autoencoder_args(parser, "DB-VAE")
    model.add_argument("--classification_weight", type=float, default=1.0, help="c1")
    model.add_argument("--reconstruction_weight", type=float, default=1.0, help="c2 (faces only)")
    model.add_argument("--kl_weight", type=float, default=5e-4, help="c3 (faces only; the course lab's value)")
    model.add_argument("--baseline", action="store_true",
                       help="the standard CNN: classification loss only, no resampling (the VAE terms are off)")
    debias = parser.add_argument_group("adaptive resampling")
    debias.add_argument("--alpha", type=float, default=0.01, help="debiasing strength: smaller resamples harder; "
                                                                  "inf: uniform (no debiasing)")
    debias.add_argument("--num_bins", type=int, default=10, help="histogram bins per latent")
    debias.add_argument("--combine", choices=COMBINATIONS, default="product",
                        help="product over latents (the paper) or max (the course lab)")
    debias.add_argument("--domain_shift_dataset", default=None,
                        help="more held-out faces from elsewhere for the audit, e.g. ../shared/data/faces_lfw_gray")
    args = parser.parse_args(argv)
    if not args.alpha > 0:
        parser.error(f"--alpha must be > 0 (inf for no debiasing), got {args.alpha}")
    if (args.nonface_dataset is None) == (args.domain_column is None):
        parser.error("give the non-faces either as --nonface_dataset or with --domain_column (one of them)")
    if args.baseline:
        args.alpha = math.inf
    domains = {"pixel_values": args.face_domain, "nonface_values": args.nonface_domain} if args.domain_column else {}
    args.data = DataSpec(args.dataset, args.resolution, args.channels,
                         {"pixel_values": args.image_column, "nonface_values": args.nonface_image_column},
                         domain_column=args.domain_column, domains=domains, source_b=args.nonface_dataset,
                         seed=args.seed)
    return args


class Resampler:
    """Which training face each item of an epoch shows: ``order`` (N,) indices into the faces, redrawn by
    :meth:`resample` from the faces' codes; checkpointed with its generator and its :class:`LatentDensity`."""

    def __init__(self, num_faces: int, alpha: float, num_bins: int, combine: str, seed: int):
        self.alpha, self.num_bins, self.combine = alpha, num_bins, combine
        self.order = torch.arange(num_faces)  # every face once until the first resampling
        self.generator = torch.Generator().manual_seed(seed)
        self.density: LatentDensity | None = None

    def resample(self, mu: torch.Tensor) -> None:
        """New weights from the training faces' codes mu (float (N, k)) and ``N`` draws with replacement."""
        self.density = LatentDensity.fit(mu, self.alpha, self.num_bins, self.combine)
        self.order = torch.multinomial(self.density.weights, len(mu), replacement=True, generator=self.generator)

    def state_dict(self) -> dict:
        density = None if self.density is None else {k: getattr(self.density, k) for k in
                                                        ("edges", "mass", "normalisers", "log_scores")}
        return {"order": self.order, "generator": self.generator.get_state(), "density": density}

    def load_state_dict(self, state: dict) -> None:
        self.order = state["order"]
        self.generator.set_state(state["generator"])
        density = state["density"]
        self.density = None if density is None else LatentDensity(alpha=self.alpha, combine=self.combine, **density)


class FacesAndNonfaces(torch.utils.data.Dataset):
    """Item i: ``{"pixel_values": faces[resampler.order[i]], "nonface_values": nonfaces[i % len(nonfaces)]}``; as
    many items as faces (the loader's shuffle pairs them afresh each epoch)."""

    def __init__(self, faces: ImageDataset, nonfaces: ImageDataset, resampler: Resampler):
        self.faces, self.nonfaces, self.resampler = faces, nonfaces, resampler

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        face = self.faces[int(self.resampler.order[index])]["pixel_values"]
        return {"pixel_values": face, "nonface_values": self.nonfaces[index % len(self.nonfaces)]["nonface_values"]}


@torch.no_grad()
def encode_faces(model: DBVAE, faces: ImageDataset, batch_size: int = 256) -> torch.Tensor:
    """mu of every face, in order: float32 (N, latent_dim)."""
    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(faces, batch_size=batch_size, shuffle=False)
    return torch.cat([model.encode(batch["pixel_values"].to(device))[1].float().cpu() for batch in loader])


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: B faces (label 1) and B non-faces (label 0) through the encoder; for the DB-VAE z is sampled
    and decoded and :func:`~genhub.models.dbvae.dbvae_loss` applies the VAE terms to the faces only; the baseline
    minimises c1 * L_y alone."""
    hp = ctx.hparams
    faces, nonfaces = batch["pixel_values"], batch["nonface_values"]
    images = torch.cat([faces, nonfaces])
    labels = torch.cat([torch.ones(len(faces)), torch.zeros(len(nonfaces))]).to(images.device)
    logits, mu, logvar = split_outputs(ctx.networks["encoder"](images))
    if hp.baseline:
        classification = F.binary_cross_entropy_with_logits(logits.float(), labels)
        losses = {"loss": hp.classification_weight * classification, "classification": classification}
    else:
        reconstructions = ctx.networks["decoder"](reparameterize(mu, logvar))
        losses = dbvae_loss(logits, labels, images, reconstructions, mu, logvar, hp.classification_weight,
                            hp.reconstruction_weight, hp.kl_weight)
    ctx.backward(losses["loss"])
    ctx.step("dbvae")
    return {name: value.detach() for name, value in losses.items()}


def ranked_grid(faces: ImageDataset, nonfaces: ImageDataset, count: int):
    """The baseline's sample grid: held-out faces and non-faces (half each), most face-like first."""
    half = min(count // 2, len(faces), len(nonfaces))
    images = torch.stack([faces[i]["pixel_values"] for i in range(half)]
                         + [nonfaces[i]["nonface_values"] for i in range(half)])

    def sample(model: DBVAE) -> torch.Tensor:
        return images[model.face_probability(images).argsort(descending=True)]

    return sample


def export_measurements(args: argparse.Namespace, train_faces: ImageDataset, test_faces: ImageDataset,
                        test_nonfaces: ImageDataset):
    """The ``on_export`` hook: the fairness audit (``fairness.json``), the DB-VAE's reconstruction quality and
    final resampling weights (``resampling.safetensors``, refitted on the exported model's codes)."""

    def on_export(model: DBVAE, folder: Path) -> dict[str, float]:
        shifted = load_split(DataSpec(args.domain_shift_dataset, args.resolution, args.channels), "test") \
            if args.domain_shift_dataset else None
        report = audit(model, test_faces, test_nonfaces, shifted, Path(args.domain_shift_dataset or "").name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "fairness.json").write_text(json.dumps(report, indent=2))
        metrics = audit_metrics(report)
        if not args.baseline:
            mse, psnr = reconstruction_quality(reconstruction_errors(model, test_faces),
                                               model.channels * model.resolution ** 2)
            density = LatentDensity.fit(encode_faces(model, train_faces), args.alpha, args.num_bins, args.combine)
            model.resampling = density  # saved beside the weights by save_pretrained
            metrics.update({"heldout_face_mse": mse, "heldout_face_psnr_db": psnr,
                            "resampling effective sample size (Kish)": density.effective_sample_size(),
                            "training faces": float(len(train_faces))})
        return metrics

    return on_export


DESCRIPTION = (
    "A face detector ({what}) on {resolution}x{resolution} images: faces are positives, non-faces negatives, "
    "{batch} of each per batch. {method} Face detection means P(face) >= 0.5. The card's recall per group is "
    "measured on held-out faces grouped by CelebA attribute labels, each with N; CelebA has no skin-tone label, "
    "so Pale_Skin is only a weak proxy, and these are not the paper's PPB numbers. The grid shows {grid}.")
DBVAE_METHOD = (
    "The encoder outputs a face logit and a Gaussian over {k} latents; loss per image = {c1:g} * BCE + 1_face * "
    "({c2:g} * mean |x - x_hat| + {c3:g} * KL): the VAE terms apply to faces only. Before each epoch the training "
    "faces are resampled with weights prod_i 1 / (Q_i(mu_i) + alpha) over the per-latent histograms ({bins} "
    "bins; combine = {combine}), alpha = {alpha:g}{uniform}.")
BASELINE_METHOD = "The DB-VAE's encoder trained with the classification loss only and uniform sampling."


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training set of a run (see :func:`genhub.train.trainer.train`)."""
    faces, nonfaces = load_split(args.data, "train", "pixel_values"), load_split(args.data, "train", "nonface_values")
    test_faces, test_nonfaces = load_split(args.data, "test", "pixel_values"), load_split(args.data, "test",
                                                                                          "nonface_values")
    model = DBVAE(args.resolution, args.latent_dim, args.channels, args.hidden_channels)
    resampler = Resampler(len(faces), args.alpha, args.num_bins, args.combine, args.seed)

    def on_epoch(epoch: int) -> None:
        if not math.isinf(args.alpha):
            resampler.resample(encode_faces(model, faces))

    networks = {"encoder": model.encoder} if args.baseline else {"encoder": model.encoder, "decoder": model.decoder}
    parameters = [p for network in networks.values() for p in network.parameters()]
    method = BASELINE_METHOD if args.baseline else DBVAE_METHOD.format(
        k=args.latent_dim, c1=args.classification_weight, c2=args.reconstruction_weight, c3=args.kl_weight,
        bins=args.num_bins, combine=args.combine, alpha=args.alpha,
        uniform=" (uniform weights: no debiasing)" if math.isinf(args.alpha) else "")
    recipe = Recipe(
        model=model,
        networks=networks,
        optimizers={"dbvae": adam(parameters, args.learning_rate, (args.adam_beta1, args.adam_beta2))},
        training_step=training_step,
        sample=ranked_grid(test_faces, test_nonfaces, args.num_grid_images) if args.baseline
        else grid_images(args, test_faces),
        hparams=DBVAEHparams(args.classification_weight, args.reconstruction_weight, args.kl_weight, args.baseline),
        flip_groups=(("pixel_values",), ("nonface_values",)),
        ema_network=tuple(networks),
        state={"resampler": resampler},
        on_export=export_measurements(args, faces, test_faces, test_nonfaces),
        on_epoch=on_epoch,
        card=CardText(DESCRIPTION.format(
            what="the standard CNN baseline" if args.baseline else f"DB-VAE, alpha = {args.alpha:g}",
            resolution=args.resolution, batch=args.train_batch_size, method=method,
            grid="held-out faces and non-faces, most face-like first" if args.baseline else
            "decodes of fixed z ~ N(0, I), then pairs of held-out faces and their reconstructions")),
        channels_last_precisions=("no",),  # README, Benchmarks: the channels_last lever per CPU kind
    )
    return recipe, FacesAndNonfaces(faces, nonfaces, resampler)


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
