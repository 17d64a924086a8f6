"""Call every genhub tab from Python with gradio_client.

    python app.py &                                   # or any running genhub hub / Space
    python examples/api_client.py http://127.0.0.1:7860/ path/to/photo.png

Every endpoint exists from the app's first second; one whose model is missing (or still training behind the app)
answers with an error that says so, printed here, and the example goes on.
"""

from __future__ import annotations

import sys

from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError


def main(url: str, photo: str) -> None:
    client = Client(url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]

    def first(name: str, *args):
        """The endpoint's answer, or None with its message when its model is not served (yet)."""
        try:
            return client.predict(*args, api_name=name)
        except AppError as error:
            print(f"{name}: {error}")
            return None

    quiz = first("/new_round")  # Which face is fake? No choice given: "Surprise me" at "normal"
    if quiz is not None:
        # The pair as HTML (both faces inline, PNG data URLs); the answer and the model stay on the server.
        pair, _ = quiz
        print("quiz pair:", pair.count("data:image/png;base64,"), "inline faces")
        verdict, my_score, everyone = client.predict(api_name="/guess_left")
        print("quiz:", verdict.splitlines()[0], "|", my_score.splitlines()[0])
        models = next(p for p in endpoints["/new_round"]["parameters"] if p["parameter_name"] == "model")
        if "dcgan-faces" in models["type"]["enum"]:  # a chosen model at a chosen difficulty
            client.predict("dcgan-faces", "hard", api_name="/new_round")  # fakes its discriminator accepts as real
            verdict, *_ = client.predict(api_name="/guess_right")
            print("quiz, DCGAN hard mode:", verdict.splitlines()[0])

    vae = first("/vae_faces_random_face", None)  # Latent explorer, VAE; seed None: random
    if vae is not None:
        print("random VAE face:", vae[0])
        photo_seen, reconstruction, *_, verdict = client.predict(handle_file(photo), api_name="/vae_faces_encode")
        print("VAE reconstruction:", reconstruction, "|", verdict.splitlines()[0])
        strip = client.predict(None, 8, "spherical", 7, api_name="/vae_faces_interpolate")  # to random face, seed 7
        print("interpolation strip:", strip)

    dcgan = first("/dcgan_faces_random_face", 3)  # Latent explorer, DCGAN with SeFa sliders
    if dcgan is not None:
        print("DCGAN face, seed 3:", dcgan[0])

    translated = first("/translate", "pix2pix-sketch2face", handle_file(photo), "crop")  # Image-to-image
    if translated is not None:
        model_input, translation, reconstruction, note = translated
        print("translation:", translation, "|", note.splitlines()[0])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
