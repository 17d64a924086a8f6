"""How the app serves requests: the CPU thread setup, and :func:`handler`, the one decorator of every Gradio
event (ZeroGPU, clear errors, output PNGs that expire), and the limits every app launches with.

Every event handler of every tab is ``@handler(gpu_seconds=N)`` (it runs a model: it gets a ZeroGPU
GPU for up to N seconds; N may be a function of the handler's arguments) or ``@handler(gpu_seconds=None)`` (it only
reads session state or data). Streaming (generator) handlers go through the same decorator.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import inspect
import io
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import torch
from PIL import Image

import spaces  # ZeroGPU; imports off-Space, where spaces.GPU(f) is f
from genhub.data import DataError
from genhub.images import ImageError, sanitize_image

#: Our clear errors: their message is shown to the user (or arrives in gradio_client as ``AppError``).
USER_ERRORS = (ImageError, DataError, ValueError)
#: The marker :func:`handler` sets on what it returns: the ZeroGPU duration in seconds (an int, or a callable of the
#: handler's arguments returning one), or None (runs no model).
GPU_MARKER = "__genhub_gpu__"
#: ``gr.Blocks(delete_cache=(frequency, age))`` of every app, in seconds: every 10 minutes Gradio deletes the files
#: it cached for the app (outputs, :func:`served_png` files, uploads) older than an hour, so the disk holds at most
#: about 70 minutes of outputs (0.4 MB per quiz round).
DELETE_CACHE = (600, 3600)
#: Largest upload accepted, in bytes (20 MiB; ``launch(max_file_size=...)`` of the app and every Space):
#: Gradio refuses a bigger file while it streams in, with HTTP 413 "File size exceeded maximum allowed size of
#: 20971520 bytes.", before anything decodes it. Images bigger than this are far beyond what any tab uses.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: ``demo.queue(...)`` of the app and every Space: up to 4 runs of one event at once (2 cores, one torch thread
#: each), and queue positions re-estimated every 5 s instead of after every finished job, which sends every waiting
#: client a message (with 32 quiz players the server's CPU per round went from 83 to 68 ms: bench_app.py).
QUEUE = {"default_concurrency_limit": 4, "status_update_rate": 5}
#: Events between two recomputations of the summary behind Gradio's monitoring dashboard
#: (``launch(enable_monitoring=True)``), set as ``GRADIO_ANALYTICS_CACHE_FREQUENCY`` unless the environment sets it.
#: Gradio's default, 1, rebuilds a pandas DataFrame of the last 10,000 events and groups it after every event, on
#: the server's one Python thread and whether or not the dashboard is on: 13.5% of the server's samples under 32
#: quiz players (py-spy), and more as the events pile up towards 10,000.
ANALYTICS_EVERY = 1000


#: Class of output images that are sent at the model's resolution and enlarged by the browser, with its smooth
#: filter, into a square box of :data:`DISPLAY_SIZE` CSS pixels (no server-side resize, small PNGs).
ENLARGED = "genhub-enlarged"
DISPLAY_SIZE = 256


def enlargement_style() -> None:
    """Put the CSS of :data:`ENLARGED` in the page's head (call inside a layout; an empty
    block on the page, in every app and Space that builds the tab; repeated calls are harmless)."""
    import gradio as gr

    box = f"width: {DISPLAY_SIZE}px !important; height: {DISPLAY_SIZE}px !important; object-fit: contain;"
    gr.HTML(head=f"<style>.{ENLARGED} img {{{box}}}</style>")


def zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space (a GPU exists only inside ``spaces.GPU`` calls)."""
    return bool(spaces.config.Config.zero_gpu)


def launch(demo, **options) -> None:
    """Queue ``demo`` with :data:`QUEUE` (its monitoring summary every :data:`ANALYTICS_EVERY` events) and launch it
    with uploads limited to :data:`MAX_UPLOAD_BYTES`; ``options`` go to ``launch`` (e.g. ``server_name``,
    ``server_port``)."""
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))  # read by demo.queue()
    demo.queue(**QUEUE).launch(max_file_size=MAX_UPLOAD_BYTES, **options)


def configure_threads() -> None:
    """Serving setup, called once by ``app.py`` and every Space before building: on CPU, one torch thread per
    request. Requests then run side by side on the cores instead of fighting over them, which gives far
    better tails (a 64x64 VAE decode under load: p90 1.5 ms with 1 thread, 290 ms with 2). A GPU is left alone.
    """
    if not torch.cuda.is_available():
        torch.set_num_threads(1)


def served_png(image: Image.Image) -> str:
    """Write ``image`` as a metadata-free PNG at ``<Gradio's cache>/<random>/image.png`` and return the path.

    For the app's outputs: given a PIL image, Gradio rewrites its cache file in place for every identical
    output, so a second client downloading the same picture can receive a truncated file (bench_app.py saw
    86 failed requests under 8-32 concurrent clients). A path inside its cache is served as it is instead:
    every call writes a new folder with a random name, so no file is ever rewritten, no name depends on the
    picture, the disk holds one copy, and ``delete_cache`` (:data:`DELETE_CACHE`) deletes it once it is old.
    An image that is not plain 8-bit RGB / L or carries metadata is sanitised first
    (:func:`~genhub.images.sanitize_image`); the app's own outputs are neither.
    """
    from gradio.utils import get_upload_folder

    cache = Path(get_upload_folder())
    cache.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=cache)) / "image.png"
    _clean(image).save(path, format="PNG", compress_level=6)
    return str(path)


def inline_png(image: Image.Image) -> str:
    """``image`` as a ``data:image/png;base64,...`` URL of an uncompressed, metadata-free PNG: its length depends
    only on the size and mode, never on the content, and it needs no file and no second request (the quiz's pair,
    where a compressed length would tell a smooth fake from a detailed photo)."""
    buffer = io.BytesIO()
    _clean(image).save(buffer, format="PNG", compress_level=0)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _clean(image: Image.Image) -> Image.Image:
    if image.mode not in ("RGB", "L") or image.info:  # ours are clean already: sanitise only what needs it
        return sanitize_image(image, 1 if image.mode == "L" else 3)
    return image


def expire_cache_under_load() -> None:
    """Make Gradio's ``delete_cache`` keep working on a busy server (idempotent; ``tabs.assemble`` calls it).

    Gradio 6.31's scheduled pass, ``gradio.route_utils.delete_files_created_by_app(blocks, age)``, iterates the
    live sets of cached files while request threads add to them: the first "Set changed size during iteration"
    ends the scheduled task for good, and the cache grows without bound again (one quiz player was enough in
    tests/test_served_files.py). It also leaves each emptied ``<cache>/<folder>/`` behind. Here every pass runs
    on copies of the sets (copying a set is atomic), then drops what it deleted from the live sets and removes
    the folders it emptied.
    """
    from gradio import route_utils

    delete = route_utils.delete_files_created_by_app
    if hasattr(delete, "__wrapped__"):
        return

    @functools.wraps(delete)
    def delete_from_copies(blocks, age):
        live = list(blocks.temp_file_sets)
        before = [set(files) for files in live]
        after = [set(files) for files in before]
        delete(SimpleNamespace(blocks=blocks.blocks, temp_file_sets=after), age)
        for files, old, new in zip(live, before, after):
            files.difference_update(old - new)
            for path in old - new:
                with contextlib.suppress(OSError):  # not empty: the folder holds another file
                    os.rmdir(os.path.dirname(path))

    route_utils.delete_files_created_by_app = delete_from_copies


def _served(value):
    return served_png(value) if isinstance(value, Image.Image) else value


def _served_all(result):
    return tuple(_served(value) for value in result) if isinstance(result, tuple) else _served(result)


def _message(error: Exception) -> str:
    return f"Cannot use this image: {error}" if isinstance(error, ImageError) else str(error)


def handler(*, gpu_seconds: int | Callable[..., int] | None):
    """Decorate a Gradio event handler:

    - ``gpu_seconds`` set (the event runs a model): wrapped in ``spaces.GPU(duration=gpu_seconds)``, so on a
      ZeroGPU Space it holds a GPU only while it runs (a no-op elsewhere). An int is a fixed duration; a callable
      is called by ZeroGPU with the handler's own arguments (as Gradio passes them, ``gr.Progress`` included) and
      returns the seconds, for events whose cost grows with their inputs (e.g. the number of diffusion steps).
      ``None`` declares that the event runs no model (it only reads state or data).
    - :data:`USER_ERRORS` (``ImageError``, ``DataError``, ``ValueError``) become ``gr.Error`` with their message
      (an ``ImageError``'s prefixed "Cannot use this image: "); raised inside the GPU call, so ZeroGPU carries
      them back as they are.
    - every PIL image returned (alone or in a tuple) is sent as a :func:`served_png` path.
    - a generator function (a streaming event) stays one: each value it yields is served like a returned one,
      and an error stops the stream as above. ZeroGPU holds the GPU for the whole stream.

    The result carries :data:`GPU_MARKER` (``fn.__genhub_gpu__ is gpu_seconds``: None, an int or the callable)
    so tests can check every event.

    Raises:
        ValueError: ``gpu_seconds`` is neither None, a positive int nor a callable.
    """
    import gradio as gr

    if not (gpu_seconds is None or callable(gpu_seconds) or (isinstance(gpu_seconds, int) and gpu_seconds > 0)):
        raise ValueError(f"gpu_seconds must be None, a positive int or a callable, got {gpu_seconds!r}")

    def decorate(function):
        streaming = inspect.isgeneratorfunction(function)

        # spaces.GPU and Gradio both tell a streaming handler by inspect.isgeneratorfunction: every layer of a
        # generator handler must itself be a generator function.
        @functools.wraps(function)
        def clear_errors(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except USER_ERRORS as error:
                raise gr.Error(_message(error)) from None

        @functools.wraps(function)
        def clear_stream_errors(*args, **kwargs):
            try:
                yield from function(*args, **kwargs)
            except USER_ERRORS as error:
                raise gr.Error(_message(error)) from None

        checked = clear_stream_errors if streaming else clear_errors
        run = spaces.GPU(duration=gpu_seconds)(checked) if gpu_seconds is not None else checked

        @functools.wraps(function)
        def serve(*args, **kwargs):
            return _served_all(run(*args, **kwargs))

        @functools.wraps(function)
        def serve_stream(*args, **kwargs):
            for result in run(*args, **kwargs):
                yield _served_all(result)

        served = serve_stream if streaming else serve
        setattr(served, GPU_MARKER, gpu_seconds)
        return served

    return decorate


def readable_upload(component):
    """Make ``component`` hand its upload to the event as it was uploaded, for :func:`genhub.images.sanitize_image`
    to decode: the one decoder, which refuses non-images, damaged files and decompression bombs (from the
    header, before decoding) with a clear ``ImageError``. Gradio's own preprocessing would decode first (a
    ``gr.Sketchpad`` always, a ``gr.Image`` a ``data:`` URL), with no size limit and its own error text.

    The event gets, from a ``gr.Image``: the upload's path, or the bytes of a ``data:`` URL; from a ``gr.Sketchpad``
    (any ``gr.ImageEditor``): ``{"background": x, "layers": [x, ...], "composite": x}``, each ``x`` a path, the
    bytes the browser sent, or None. No upload: None. Returns the component. Replaced on the instance: a
    ``gr.Image`` subclass would make Gradio write a ``.pyi`` stub beside the module defining it.

    Raises:
        ValueError: ``component`` is not a ``gr.Image`` or ``gr.ImageEditor`` with ``type="filepath"``.
    """
    import gradio as gr
    from gradio.data_classes import FileData

    if not isinstance(component, (gr.Image, gr.ImageEditor)) or component.type != "filepath":
        raise ValueError("readable_upload takes a gr.Image or gr.Sketchpad with type='filepath'")

    def encoded(item):  # a FileData, the bytes the browser sent for a drawing, or None
        return item.path if isinstance(item, FileData) else item

    def image(payload):
        if payload is not None and (payload.url or "").startswith("data:"):
            try:
                return base64.b64decode(payload.url.rsplit(",", 1)[-1])
            except binascii.Error:
                raise gr.Error(_message(ImageError("its data: URL is not valid base64. Send the image as a file."))
                               ) from None
        return None if payload is None else payload.path

    def drawing(payload):
        if payload is None:
            return None
        layers = component.blob_storage.pop(payload.id, None) if payload.id is not None else payload
        if layers is None:  # the browser's blobs for this id never arrived
            return {"background": None, "layers": [], "composite": None}
        return {"background": encoded(layers.background), "composite": encoded(layers.composite),
                "layers": [encoded(layer) for layer in layers.layers if layer is not None]}

    component.preprocess = drawing if isinstance(component, gr.ImageEditor) else image
    return component
