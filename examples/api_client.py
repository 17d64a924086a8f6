"""Call every genhub tab from Python with gradio_client.

    python app.py &                                   # or any running genhub hub / Space
    python examples/api_client.py http://127.0.0.1:7860/ path/to/photo.png

Endpoints whose model is not loaded on that server are skipped with a note.
"""

from __future__ import annotations

import sys

from gradio_client import Client, handle_file


def main(url: str, photo: str) -> None:
    client = Client(url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]

    def available(name: str) -> bool:
        if name not in endpoints:
            print(f"{name}: not on this server (its model is missing)")
        return name in endpoints

    if available("/new_round"):  # Which face is fake?
        # No choice given: "Surprise me" (a random model) at "normal". The pair as HTML (both faces inline, PNG data
        # URLs); the answer and the model stay on the server until the guess.
        pair, _ = client.predict(api_name="/new_round")
        print("quiz pair:", pair.count("data:image/png;base64,"), "inline faces")
        verdict, my_score, everyone = client.predict(api_name="/guess_left")
        print("quiz:", verdict.splitlines()[0], "|", my_score.splitlines()[0])
        models = next(p for p in endpoints["/new_round"]["parameters"] if p["parameter_name"] == "model")
        if "dcgan-faces" in models["type"]["enum"]:  # a chosen model at a chosen difficulty
            client.predict("dcgan-faces", "hard", api_name="/new_round")  # fakes its discriminator accepts as real
            verdict, *_ = client.predict(api_name="/guess_right")
            print("quiz, DCGAN hard mode:", verdict.splitlines()[0])

    if available("/vae_faces_random_face"):  # Latent explorer, VAE
        face, *_ = client.predict(None, api_name="/vae_faces_random_face")  # seed None: random
        print("random VAE face:", face)
        photo_seen, reconstruction, *_, verdict = client.predict(handle_file(photo), api_name="/vae_faces_encode")
        print("VAE reconstruction:", reconstruction, "|", verdict.splitlines()[0])
        strip = client.predict(None, 8, "spherical", 7, api_name="/vae_faces_interpolate")  # to random face, seed 7
        print("interpolation strip:", strip)

    if available("/dcgan_faces_random_face"):  # Latent explorer, DCGAN with SeFa sliders
        face, *_ = client.predict(3, api_name="/dcgan_faces_random_face")
        print("DCGAN face, seed 3:", face)

    if available("/translate"):  # Image-to-image
        model_input, translation, reconstruction, note = client.predict(
            "pix2pix-sketch2face", handle_file(photo), "crop", api_name="/translate")
        print("translation:", translation, "|", note.splitlines()[0])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
