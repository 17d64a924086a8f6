"""How the app serves requests: the CPU thread setup, and :func:`handler`, the one decorator of every Gradio
event (ZeroGPU, clear errors, PNGs written atomically).

Every event handler of every tab is ``@handler(gpu_seconds=N)`` (it runs a model: it gets a ZeroGPU
GPU for up to N seconds) or ``@handler(gpu_seconds=None)`` (it only reads session state or data).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
from pathlib import Path

import torch
from PIL import Image

import spaces  # ZeroGPU; imports off-Space, where spaces.GPU(f) is f
from genhub.data import DataError
from genhub.images import ImageError, sanitize_image

#: Our clear errors: their message is shown to the user (or arrives in gradio_client as ``AppError``).
USER_ERRORS = (ImageError, DataError, ValueError)
#: The marker :func:`handler` sets on what it returns: the ZeroGPU duration in seconds, or None (runs no model).
GPU_MARKER = "__genhub_gpu__"


def configure_threads() -> None:
    """Serving setup, called once by ``app.py`` and every Space before building: on CPU, one torch thread per
    request. Requests then run side by side on the cores instead of fighting over them, which gives far
    better tails (a 64x64 VAE decode under load: p90 1.5 ms with 1 thread, 290 ms with 2). A GPU is left alone.
    """
    if not torch.cuda.is_available():
        torch.set_num_threads(1)


def served_png(image: Image.Image) -> str:
    """Write ``image`` once as a metadata-free PNG at ``<tmp>/genhub-served/<sha256>/image.png`` and return the path.

    For the app's outputs: given a PIL image, Gradio rewrites its cache file in place for every identical
    output, so a second client downloading the same picture can receive a truncated file (bench_app.py saw
    86 failed requests under 8-32 concurrent clients). A path is copied by Gradio atomically instead, and
    this file is itself written to a temporary name and renamed, never rewritten.
    """
    buffer = io.BytesIO()
    sanitize_image(image, 1 if image.mode == "L" else 3).save(buffer, format="PNG")
    data = buffer.getvalue()
    folder = Path(tempfile.gettempdir()) / "genhub-served" / hashlib.sha256(data).hexdigest()
    path = folder / "image.png"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    return str(path)


def _served(value):
    return served_png(value) if isinstance(value, Image.Image) else value


def _message(error: Exception) -> str:
    return f"Cannot use this image: {error}" if isinstance(error, ImageError) else str(error)


def handler(*, gpu_seconds: int | None):
    """Decorate a Gradio event handler:

    - ``gpu_seconds`` set (the event runs a model): wrapped in ``spaces.GPU(duration=gpu_seconds)``, so on a
      ZeroGPU Space it holds a GPU only while it runs (a no-op elsewhere). ``None`` declares that the event
      runs no model (it only reads state or data).
    - :data:`USER_ERRORS` (``ImageError``, ``DataError``, ``ValueError``) become ``gr.Error`` with their message
      (an ``ImageError``'s prefixed "Cannot use this image: "); raised inside the GPU call, so ZeroGPU carries
      them back as they are.
    - every PIL image returned (alone or in a tuple) is sent as a :func:`served_png` path.

    The result carries :data:`GPU_MARKER` (``fn.__genhub_gpu__ == gpu_seconds``) so tests can check every event.
    """
    import gradio as gr

    def decorate(function):
        @functools.wraps(function)
        def clear_errors(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except USER_ERRORS as error:
                raise gr.Error(_message(error)) from None

        run = spaces.GPU(duration=gpu_seconds)(clear_errors) if gpu_seconds is not None else clear_errors

        @functools.wraps(function)
        def serve(*args, **kwargs):
            result = run(*args, **kwargs)
            return tuple(_served(value) for value in result) if isinstance(result, tuple) else _served(result)

        setattr(serve, GPU_MARKER, gpu_seconds)
        return serve

    return decorate


def readable_upload(component):
    """Make ``component``'s own decoding (``gr.Image`` opens an upload before any handler runs) fail with a clear
    ``gr.Error`` on a corrupt file or a decompression bomb; returns the component. Wrapped on the instance: a
    ``gr.Image`` subclass would make Gradio write a ``.pyi`` stub beside the module defining it."""
    import gradio as gr

    decode = component.preprocess

    @functools.wraps(decode)
    def preprocess(payload):
        try:
            return decode(payload)
        except Exception as error:
            raise gr.Error(f"Cannot use this image: cannot read it ({error})") from None

    component.preprocess = preprocess
    return component
