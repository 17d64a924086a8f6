"""``--mixed_precision auto``: the fastest precision the device runs natively, and why it was chosen."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genhub.hardware import cpu_bf16_native

CHOICES = ("auto", "no", "fp16", "bf16")


@dataclass(frozen=True)
class Precision:
    """The precision a run uses (Accelerate's ``mixed_precision``: "no", "fp16" or "bf16") and the reason."""

    mixed_precision: str
    reason: str


def choose_precision(requested: str, cuda: bool, cuda_bf16: bool, cpu_bf16: bool) -> Precision:
    """Decide the precision from the request and the device's capabilities (no hardware is queried here).

    ``auto``: on CUDA, bf16 where the GPU supports it, else fp16; on CPU, bf16 only where it runs natively
    (AVX512_BF16 or AMX), else fp32 ("no"): emulated bf16 is 2-4x slower than fp32. An explicit request wins.

    Raises:
        ValueError: ``requested`` is not one of :data:`CHOICES`.
    """
    if requested not in CHOICES:
        raise ValueError(f"mixed precision must be one of {CHOICES}, got {requested!r}")
    if requested != "auto":
        return Precision(requested, f"--mixed_precision {requested} was requested")
    if cuda:
        if cuda_bf16:
            return Precision("bf16", "auto: this GPU supports bf16")
        return Precision("fp16", "auto: this GPU has no bf16, so fp16")
    if cpu_bf16:
        return Precision("bf16", "auto: this CPU runs bf16 natively (AVX512_BF16 or AMX)")
    return Precision("no", "auto: this CPU has no native bf16 (no AVX512_BF16 or AMX), where bf16 is emulated "
                           "and 2-4x slower, so fp32")


def resolve_precision(requested: str, cpu: bool = False) -> Precision:
    """:func:`choose_precision` with this machine's capabilities (``cpu``: the run is forced onto the CPU)."""
    cuda = torch.cuda.is_available() and not cpu
    return choose_precision(requested, cuda, cuda and torch.cuda.is_bf16_supported(), cpu_bf16_native())
