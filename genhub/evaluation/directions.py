"""Attribute directions for a GAN's latent space (InterFaceGAN, Shen, Gu, Tang & Zhou 2020): sample z, let genhub's
face feature network label the decoded faces, keep the most confident positives and negatives, and fit one linear
boundary per attribute (:func:`genhub.geometry.linear_boundary`); its unit normal is the attribute's slider.
The space is the DCGAN's z, and a style-based generator's w = mapping(z) (InterFaceGAN's W space: more linear than
z, Shen et al. sec. 4.3), decoded with the same w at every layer and constant noise (:data:`SPACES`).
Stored beside the export as ``attribute_boundaries.safetensors`` (:func:`genhub.models.base.read_boundaries`).

    python -m genhub.evaluation.directions checkpoints/dcgan-faces-64 [--feature_network checkpoints/face-features]
    python -m genhub.evaluation.directions checkpoints/stylegan-faces-32
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

from genhub.evaluation.exports import load_export
from genhub.evaluation.features import DEFAULT_FEATURE_NETWORK, load_feature_network
from genhub.geometry import linear_boundary
from genhub.models.base import BOUNDARIES_FILE, CheckpointError
from genhub.paths import locate

ATTRIBUTES = ("Smiling", "Male", "Eyeglasses", "Young", "Blond_Hair", "Black_Hair", "Bald", "Mustache",
              "Wearing_Hat", "Bangs", "Heavy_Makeup", "Pale_Skin")


#: family -> (model, z -> the code the directions live in; model, codes -> images in [-1, 1]).
SPACES: dict[str, tuple[Callable, Callable]] = {
    "dcgan": (lambda model, z: z, lambda model, z: model.generator(z)),
    "stylegan": (lambda model, z: model.mapping(z) if model.style_based else z,
                 lambda model, codes: model.decode_w(codes)),
}


@torch.no_grad()
def label_samples(generate, classifier, num_samples: int, latent_dim: int, seed: int = 0, batch_size: int = 256,
                  to_code: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z ~ N(0, I) (num_samples, latent_dim) from ``seed``, their codes ``to_code(z)`` (default z itself) and the
    classifier's attribute logits of ``generate(codes)``: (codes float (num_samples, code size), logits float
    (num_samples, len(classifier.attributes)))."""
    z = torch.randn(num_samples, latent_dim, generator=torch.Generator().manual_seed(seed))
    codes = torch.cat([(to_code(chunk) if to_code else chunk).float().cpu() for chunk in z.split(batch_size)])
    logits = torch.cat([classifier(generate(chunk).float().clamp(-1, 1)).float().cpu()
                        for chunk in codes.split(batch_size)])
    return codes, logits


def fit_boundaries(z: torch.Tensor, logits: torch.Tensor, names: list[str], wanted: tuple[str, ...] = ATTRIBUTES,
                   confident: float = 0.3, seed: int = 0) -> dict[str, dict]:
    """One boundary per wanted attribute: the ``confident`` share of codes with the highest logit are positives,
    the same share with the lowest negatives (InterFaceGAN's choice); 80% fit the boundary, 20% measure it.

    Returns:
        name -> {"direction": float32 (latent_dim,) unit, "accuracy": share of the held-out 20% on the right side
        of the boundary (normal ``direction``, offset midway between the two classes on the fit share),
        "samples": codes used}.
    """
    found = {}
    generator = torch.Generator().manual_seed(seed)
    count = max(2, int(confident * len(z)))
    for name in wanted:
        if name not in names:
            continue
        order = logits[:, names.index(name)].argsort(descending=True)
        chosen = torch.cat([order[:count], order[-count:]])
        labels = torch.cat([torch.ones(count), torch.zeros(count)])
        shuffle = torch.randperm(len(chosen), generator=generator)
        chosen, labels = chosen[shuffle], labels[shuffle]
        split = int(0.8 * len(chosen))
        direction = linear_boundary(z[chosen[:split]], labels[:split], seed=seed)
        # the boundary's offset along the normal: midway between the two classes' mean projections on the fit
        # share (not 0: a StyleGAN's w is not centred on the origin as z ~ N(0, I) is)
        fitted = z[chosen[:split]] @ direction
        offset = (fitted[labels[:split] == 1].mean() + fitted[labels[:split] == 0].mean()) / 2
        held_out = ((z[chosen[split:]] @ direction > offset).float() == labels[split:]).float().mean()
        found[name] = {"direction": direction, "accuracy": float(held_out), "samples": int(len(chosen))}
    return found


def save_boundaries(folder: str | Path, boundaries: dict[str, dict]) -> Path:
    """Write :data:`~genhub.models.base.BOUNDARIES_FILE` into an export folder (unit directions; accuracy and
    sample counts in the metadata)."""
    path = Path(folder) / BOUNDARIES_FILE
    save_file({name: entry["direction"].float().contiguous() for name, entry in boundaries.items()}, str(path),
              metadata={"fit": json.dumps({name: {"accuracy": entry["accuracy"], "samples": entry["samples"]}
                                           for name, entry in boundaries.items()}),
                        "method": "InterFaceGAN (Shen et al. 2020) with genhub-face-features labels"})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit InterFaceGAN attribute directions for a DCGAN (in z) or a "
                                                 "style-based GAN (in w) export.")
    parser.add_argument("export")
    parser.add_argument("--feature_network", default=DEFAULT_FEATURE_NETWORK)
    parser.add_argument("--num_samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        model, _ = load_export(Path(args.export), tuple(SPACES))
        classifier = load_feature_network(locate(args.feature_network))
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    to_code, decode = SPACES[model.family]
    codes, logits = label_samples(lambda c: decode(model, c), classifier, args.num_samples, model.latent_dim, args.seed,
                                  to_code=lambda z: to_code(model, z))
    boundaries = fit_boundaries(codes, logits, list(classifier.attributes), seed=args.seed)
    path = save_boundaries(args.export, boundaries)
    for name, entry in boundaries.items():
        print(f"{name}: held-out accuracy {entry['accuracy']:.3f} on {entry['samples'] // 5} codes")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
