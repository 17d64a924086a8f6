"""Whether the Hugging Face Hub can be reached from this machine: asked once per process, so an offline machine
learns it once (the app's model loading and the first run's data both ask)."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

from huggingface_hub import constants


@functools.lru_cache(maxsize=None)
def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens within ``timeout`` seconds; asked once per process, so
    an offline machine learns it once instead of retrying every model (Hub clients retry with back-off). Behind
    a proxy (``HTTPS_PROXY``) the direct probe says nothing: True."""
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return True
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True
