"""Latent-space geometry for exploring a generator: interpolation (lerp, slerp), SeFa directions, and
slider coordinates along orthonormal directions. Pure tensor math, no model."""

from __future__ import annotations

import torch

INTERPOLATION_MODES = ("spherical", "linear")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation: a, b (D,), t (N,) in [0, 1] -> (N, D) = (1 - t) a + t b."""
    t = t.to(a.dtype).view(-1, 1)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985), recommended for Gaussian latents by White 2016.

    a, b (D,), t (N,) in [0, 1] -> (N, D) = sin((1-t) w)/sin(w) a + sin(t w)/sin(w) b, w the angle between
    a and b; falls back to :func:`lerp` when they are (anti)parallel within 1e-6 rad or one is zero.
    """
    a64, b64 = a.double(), b.double()
    norms = a64.norm() * b64.norm()
    if norms < 1e-12:
        return lerp(a, b, t)
    omega = torch.arccos((a64 @ b64 / norms).clamp(-1.0, 1.0))
    if omega < 1e-6 or torch.pi - omega < 1e-6:
        return lerp(a, b, t)
    t64 = t.double().view(-1, 1)
    out = (torch.sin((1 - t64) * omega) * a64 + torch.sin(t64 * omega) * b64) / torch.sin(omega)
    return out.to(a.dtype)


def interpolate(a: torch.Tensor, b: torch.Tensor, num_frames: int, mode: str = "spherical") -> torch.Tensor:
    """``num_frames`` (>= 2) codes (num_frames, D) from a to b inclusive, evenly spaced in t.

    Raises:
        ValueError: fewer than 2 frames or an unknown mode (see :data:`INTERPOLATION_MODES`).
    """
    if num_frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {num_frames}")
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"mode must be one of {INTERPOLATION_MODES}, got {mode!r}")
    t = torch.linspace(0.0, 1.0, num_frames)
    return (slerp if mode == "spherical" else lerp)(a, b, t)


def sefa(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form factorization of a generator's first layer (SeFa; Shen & Zhou 2021, "Closed-Form
    Factorization of Latent Semantics in GANs", CVPR).

    For a first layer y = A z, the unit directions n maximising ||A n||^2 are the eigenvectors of A^T A,
    ranked by eigenvalue. As in the authors' code, each output unit's weights are first scaled to unit norm.

    Args:
        weight: float (latent_dim, out_features): row i is how z_i feeds every output unit (i.e. A^T).

    Returns:
        (eigenvalues float32 (latent_dim,) descending, directions float32 (latent_dim, latent_dim) whose
        rows are orthonormal unit directions in z, in the same order).
    """
    w = weight.detach().double().cpu()
    w = w / w.norm(dim=0, keepdim=True).clamp_min(1e-12)
    values, vectors = torch.linalg.eigh(w @ w.T)
    order = torch.argsort(values, descending=True, stable=True)
    return values[order].float(), vectors[:, order].T.contiguous().float()


def axis_directions(indices: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """One-hot unit directions (K, latent_dim) along the given dimensions."""
    return torch.eye(latent_dim)[indices]


def compose(base: torch.Tensor, directions: torch.Tensor, values: torch.Tensor,
            offsets: torch.Tensor | None = None, amounts: torch.Tensor | None = None) -> torch.Tensor:
    """The code a set of slider positions stands for.

    z = base - sum_k <base, d_k> d_k + sum_k s_k d_k + sum_a alpha_a v_a: the sliders (values s_k) set
    the coordinates of ``base`` along orthonormal ``directions`` d_k; attribute sliders (amounts alpha_a)
    add multiples of their direction vectors v_a (``offsets``).

    Args:
        base: float (D,). directions: float (K, D), orthonormal rows. values: float (K,).
        offsets: float (A, D) or None. amounts: float (A,) or None.

    Returns:
        float32 (D,).
    """
    base, directions, values = base.float(), directions.float(), values.float()
    z = base - directions.T @ (directions @ base) + directions.T @ values
    if offsets is not None and len(offsets):
        z = z + offsets.float().T @ amounts.float()
    return z


def coordinates(code: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Slider positions (K,) of a code (D,) along orthonormal directions (K, D): <code, d_k>."""
    return directions.float() @ code.float()


def linear_boundary(codes: torch.Tensor, labels: torch.Tensor, steps: int = 1000, seed: int = 0) -> torch.Tensor:
    """The unit normal of a linear boundary separating codes with an attribute from codes without it (InterFaceGAN,
    Shen, Gu, Tang & Zhou 2020, section 2.2, with logistic regression in place of their linear SVM).

    Args:
        codes: float (N, D) latent codes; labels: (N,) bool or {0, 1}, the attribute as judged on each decode.

    Returns:
        float32 (D,), unit length, pointing towards the attribute: moving a code along it adds the attribute.

    Raises:
        ValueError: fewer than two codes, or one class missing.
    """
    y = labels.float()
    if len(codes) < 2 or y.min() == y.max():
        raise ValueError("a boundary needs codes with and without the attribute")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = torch.nn.Linear(codes.shape[1], 1)
        optimizer = torch.optim.Adam(layer.parameters(), lr=1e-2)
        # centred: the same optimal normal (the bias absorbs the mean), but reached within the step budget for codes
        # far from the origin, e.g. a StyleGAN's w after the mapping network's leaky ReLUs
        centred = codes.float() - codes.float().mean(0)
        for _ in range(steps):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(layer(centred).flatten(), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    normal = layer.weight.detach()[0]
    return normal / normal.norm().clamp_min(1e-12)


def condition(primary: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
    """``primary`` (D,) with its components along ``others`` removed, renormalised (InterFaceGAN's conditional
    manipulation, eq. 4: n1 - (n1^T n2) n2 for one unit ``other``; for several, the projection out of their span),
    so moving along it leaves the other attributes' boundaries' sides unchanged.

    Raises:
        ValueError: ``primary`` lies in the span of ``others``.
    """
    if not others:
        return primary / primary.norm()
    basis, _ = torch.linalg.qr(torch.stack([o.double() for o in others], dim=1))
    rest = primary.double() - basis @ (basis.T @ primary.double())
    if rest.norm() < 1e-8:
        raise ValueError("the direction lies in the span of the conditions: nothing is left to move along")
    return (rest / rest.norm()).to(primary.dtype)
