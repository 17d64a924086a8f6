"""One call of every model endpoint of a genhub hub, with example arguments, timed.

    python app.py &
    python examples/every_endpoint.py http://127.0.0.1:7860/ path/to/photo.png [path/to/clip.wav]

Endpoints whose model is not served on that server (yet: it may be training behind the app) are skipped.
``bench/gpu_check.py`` times a GPU-served hub with it, and the test suite plays it to check that every model runs
inside a ZeroGPU call.
"""

from __future__ import annotations

import sys
import time

from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from genhub.app.tabs.kit import NOT_SERVED


def play(client: Client, photo: str, clip: str | None = None) -> dict[str, float]:
    """Call each endpoint the server has once (the quiz and the latent explorers twice: a round and its guess, a face
    and its edit), in tab order; returns {api name: seconds of its call}. Raises what a call raises."""
    available = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    seconds: dict[str, float] = {}

    def call(api_name: str, *args):
        if f"/{api_name}" not in available:
            return None
        start = time.perf_counter()
        try:
            result = client.predict(*args, api_name=f"/{api_name}")
        except AppError as error:
            if str(error).startswith(NOT_SERVED):
                return None
            raise
        seconds[api_name] = time.perf_counter() - start
        return result

    picture = handle_file(photo)
    drawing = {"background": None, "layers": [], "composite": picture, "id": None}
    call("new_round")
    call("guess_right")
    call("new_round", "dcgan-faces", "hard")  # rejection sampling: the discriminator runs
    call("guess_right")
    for prefix, second_photo in (("vae_faces", [None]), ("dcgan_faces", [])):  # the DCGAN's takes no photo
        face = call(f"{prefix}_random_face", 5)
        if face is not None:
            call(f"{prefix}_edit", *face[1:-1])
            call(f"{prefix}_interpolate", *second_photo, 3, "linear", 1)
    call("vae_faces_encode", picture)
    call("vae_faces_interpolate", picture, 3, "spherical", None)
    call("vae_faces_held_out_face", 2)
    call("ae_vs_vae_prior_draws", 3, 1)
    call("ae_vs_vae_reconstruct", picture)
    call("ae_vs_vae_held_out_face", 1)
    call("ae_vs_vae_random_held_out_face")
    call("ae_vs_vae_interpolate", 0, 1, 3)
    call("ae_vs_vae_histogram", 0)  # its first call encodes the held-out faces
    for choice in ("cyclegan-eyeglasses:BA", "pix2pix-sketch2face"):
        call("select_model", choice)
        call("translate", choice, picture, "pad")
    call("translate_sketch", "pix2pix-sketch2face", drawing, "crop")
    call("diffusion_sample", 1, "DDPM", 10, 0.0, 2)
    if "/diffusion_film_strip" in available:
        start = time.perf_counter()
        list(client.submit(1, "DPM-Solver++", 10, 0.0, api_name="/diffusion_film_strip"))  # a stream of frames
        seconds["diffusion_film_strip"] = time.perf_counter() - start
    call("diffusion_forward", picture, 30, 1)
    call("diffusion_invert", picture, 10)
    call("diffusion_interpolate", picture, picture, 3, 10)
    call("cgan_generate", 3, ["Smiling"])
    call("cgan_flips", 3, ["Smiling"])
    call("cgan_grid", 3, 2)
    call("style_mixing", "1, 2", "3", "fine", 0.5, "random", [])
    call("style_growth", 1)
    call("style_truncation", 1)
    call("style_direction", 1, "SeFa 1", [], 1.0)  # SeFa directions exist for every export
    call("pixelcnn_sample", 1, 1.0, 1)
    call("pixelcnn_complete", picture, "lower half", 2, 1.0, 0)
    call("pixelcnn_surprise", picture)
    call("pixelcnn_outliers")
    if clip is not None:
        call("voice_convert", handle_file(clip), "AB")
    call("fairness_table")
    call("fairness_score", picture)
    call("fairness_galleries", "dbvae-faces-alpha-0.1")
    return seconds


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    for name, taken in play(Client(sys.argv[1], verbose=False), *sys.argv[2:]).items():
        print(f"/{name}: {taken * 1000:.0f} ms")
