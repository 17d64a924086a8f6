"""What the machine is, for choosing a precision and for naming the hardware beside every throughput figure."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s "model name"), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_bf16_native() -> bool:
    """Whether the CPU runs bf16 matrix maths in hardware (AVX512_BF16 or AMX tiles). Without either, torch
    emulates bf16 on CPU and it runs 2-4x slower than fp32 (measured on an Intel Xeon with AVX-512 only)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def describe() -> str:
    """One line for cards and benchmarks: the GPU(s), or the CPU model, whether it runs bf16 natively, cores, torch."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    bf16 = "native bf16" if cpu_bf16_native() else "no native bf16"
    return f"CPU: {cpu_model()} ({bf16}), {os.cpu_count()} cores, torch {torch.__version__}"
