"""Autoencoder vs VAE (a view of the Latent explorer): its pure functions on tiny models, then every event through
gradio_client on a launched server, bad uploads and a missing model (the view laid out all the same) included."""

import math
import re

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from conftest import png_pixels, served_tab, tiny_autoencoder_args, train_tiny
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.app.tabs import latent, tab
from genhub.app.tabs.latent import ae_vs_vae
from genhub.app.tabs.latent.ae_vs_vae import Comparison
from genhub.data import DataSpec, load_split
from genhub.images import ImageError, to_pil
from genhub.models import VAE, Autoencoder

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module

API_NAMES = {f"ae_vs_vae_{name}" for name in ("prior_draws", "reconstruct", "held_out_face", "random_held_out_face",
                                              "interpolate", "histogram")}
CORRUPT_PNG = b"\x89PNG\r\n\x1a\n this is not really a png"


@pytest.fixture(scope="module")
def models() -> tuple[Autoencoder, VAE]:
    """An untrained tiny autoencoder and VAE (32 px, latent_dim 8, the same networks)."""
    torch.manual_seed(0)
    return Autoencoder(32, 8, 3, 8).eval(), VAE(32, 8, 3, 8).eval()


@pytest.fixture(scope="module")
def faces(labelled_faces_dir):
    return load_split(DataSpec(str(labelled_faces_dir), 32), "test")  # 16 held-out faces


@pytest.fixture(scope="module")
def tiny_autoencoder_export(labelled_faces_dir, tmp_path_factory):
    """An autoencoder export trained for 20 steps on the tiny VAE export's data: both have the same held-out faces."""
    output = tmp_path_factory.mktemp("export") / "autoencoder"
    return train_tiny("autoencoder", tiny_autoencoder_args(labelled_faces_dir, output, "--max_train_steps", "20",
                                                           "--learning_rate", "2e-3"))


def _tile(strip: Image.Image, index: int, resolution: int = 32) -> np.ndarray:
    """Image ``index`` of a one-row make_grid strip (padding 2)."""
    left = 2 + index * (resolution + 2)
    return np.asarray(strip)[2:2 + resolution, left:left + resolution]


def _hand_psnr(reconstruction: torch.Tensor, target: torch.Tensor) -> float:
    mse = (((reconstruction.double() + 1) / 2 - (target.double() + 1) / 2) ** 2).mean().item()
    return 10 * math.log10(1 / mse)


# ------------------------------------------------------------------------------------------- prior draws
def test_equal_latent_sizes_decode_the_very_same_prior_draws(models):
    z_autoencoder, z_vae = ae_vs_vae.prior_codes(8, 8, 5, 3)
    assert z_autoencoder is z_vae and z_vae.shape == (5, 8)
    assert torch.equal(z_vae, torch.randn(5, 8, generator=torch.Generator().manual_seed(3)))
    autoencoder, vae = models
    row_ae, row_fitted, row_vae, note = ae_vs_vae.prior_draws(autoencoder, vae, 5, 3)
    assert row_ae.size == row_vae.size == (5 * 34 + 2, 36) and "seed 3" in note and "the same tensor" in note
    assert row_fitted is None and "no fitted Gaussian" in note  # an export from before the fit: said, not drawn
    for model, row in ((autoencoder, row_ae), (vae, row_vae)):  # exactly model.sample's draws from that seed
        expected = model.sample(5, torch.Generator().manual_seed(3))
        assert all(np.array_equal(_tile(row, k), np.asarray(to_pil(expected[k]))) for k in range(5))
    again = ae_vs_vae.prior_draws(autoencoder, vae, 5, 3)
    assert np.array_equal(np.asarray(again[0]), np.asarray(row_ae))
    assert np.array_equal(np.asarray(again[2]), np.asarray(row_vae))
    assert "seed" in ae_vs_vae.prior_draws(autoencoder, vae, 2, None)[3]  # no seed: a random one, named
    for wrong in (0, 17, None):
        with pytest.raises(ValueError, match="number of draws"):
            ae_vs_vae.prior_draws(autoencoder, vae, wrong, 1)


def test_the_fitted_gaussian_row_is_the_autoencoders_own_sample_and_the_note_gives_each_rows_spread(models):
    torch.manual_seed(4)
    autoencoder = Autoencoder(32, 8, 3, 8).eval()
    autoencoder.fit_latent_gaussian(3 + 2 * torch.randn(256, 8))  # codes far from N(0, I), as a trained one's
    row_ae, row_fitted, row_vae, note = ae_vs_vae.prior_draws(autoencoder, models[1], 4, 9)
    expected = autoencoder.sample(4, torch.Generator().manual_seed(9), fitted=True)
    assert all(np.array_equal(_tile(row_fitted, k), np.asarray(to_pil(expected[k]))) for k in range(4))
    spreads = {label: float(value) for label, value in
               re.findall(r"(autoencoder N\(0, I\)|autoencoder fitted Gaussian|VAE) ([0-9]+\.[0-9]+)", note)}
    assert spreads["autoencoder fitted Gaussian"] == pytest.approx(ae_vs_vae.spread(expected.float()), abs=5e-4)
    assert "no fitted Gaussian" not in note


def test_spread_is_zero_for_copies_and_the_rms_difference_for_two_images():
    image = torch.rand(3, 4, 4) * 2 - 1
    assert ae_vs_vae.spread(image.expand(5, 3, 4, 4)) == 0 and ae_vs_vae.spread(image[None]) == 0
    black, white = -torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    assert ae_vs_vae.spread(torch.cat([black, white])) == pytest.approx(1.0)  # RMS of 1 on pixels in [0, 1]
    assert ae_vs_vae.spread(torch.cat([black, torch.zeros(1, 3, 4, 4)])) == pytest.approx(0.5)


def test_different_latent_sizes_draw_each_their_own_from_the_same_seed(models):
    z_autoencoder, z_vae = ae_vs_vae.prior_codes(8, 12, 4, 7)
    assert z_autoencoder.shape == (4, 8) and z_vae.shape == (4, 12)
    assert torch.equal(z_vae, torch.randn(4, 12, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(z_autoencoder, torch.randn(4, 8, generator=torch.Generator().manual_seed(7)))
    autoencoder = models[0]
    wide = VAE(32, 12, 3, 8).eval()
    row_ae, _, row_vae, note = ae_vs_vae.prior_draws(autoencoder, wide, 4, 7)
    assert "latent sizes differ (autoencoder 8, VAE 12)" in note and row_ae.size == row_vae.size == (138, 36)


# ------------------------------------------------------------------------------------------- reconstructions
def test_psnr_is_the_hand_computation(models):
    torch.manual_seed(1)
    target = torch.rand(3, 32, 32) * 2 - 1
    noisy = (target + 0.1 * torch.randn_like(target)).clamp(-1, 1)
    assert ae_vs_vae.psnr_db(noisy, target) == pytest.approx(_hand_psnr(noisy, target), rel=1e-6)
    half = torch.full((3, 4, 4), 0.0)  # 0.5 on [0, 1] pixels against 1.0: MSE 0.25, 6.02 dB
    assert ae_vs_vae.psnr_db(half, torch.ones(3, 4, 4)) == pytest.approx(10 * math.log10(4), rel=1e-6)
    face = Image.new("RGB", (50, 40), (180, 120, 90))
    for model in models:
        result = ae_vs_vae.reconstruct(model, face)
        assert result.original.shape == result.reconstruction.shape == (3, 32, 32)
        assert result.reconstruction.min() >= -1 and result.reconstruction.max() <= 1
        assert torch.equal(result.reconstruction, model.reconstruct(result.original[None])[0])
        assert result.psnr_db == pytest.approx(_hand_psnr(result.reconstruction, result.original), rel=1e-6)
    vae = models[1]
    original = ae_vs_vae.reconstruct(vae, face).original
    mu = vae.encode(original[None])[0]  # the VAE reconstructs from its posterior mean
    assert torch.allclose(ae_vs_vae.reconstruct(vae, face).reconstruction, vae.decode(mu)[0])


def test_reconstructions_side_by_side(models):
    autoencoder, vae = models
    face = Image.new("RGB", (90, 60), (180, 120, 90))
    original, by_autoencoder, by_vae, note = ae_vs_vae.compare_reconstructions(autoencoder, vae, face, size=64)
    assert original.size == by_autoencoder.size == by_vae.size == (64, 64)
    assert np.asarray(original)[32, 32].tolist() == [180, 120, 90]  # sanitised, cropped, shown as the model sees it
    for model in models:
        assert f"{ae_vs_vae.reconstruct(model, face).psnr_db:.2f} dB" in note
    assert "**autoencoder " in note and "**VAE " in note


def test_a_bad_upload_raises_a_clear_error(models):
    with pytest.raises(ImageError, match="looks like a PNG file but cannot be decoded"):
        ae_vs_vae.compare_reconstructions(*models, CORRUPT_PNG)
    with pytest.raises(ImageError, match="looks like a PNG file but cannot be decoded"):
        ae_vs_vae.interpolation_strip(models[0], CORRUPT_PNG, Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match="Upload a photo first"):
        ae_vs_vae.compare_reconstructions(*models, None)
    with pytest.raises(TypeError, match="needs an Autoencoder and a VAE"):
        Comparison(models[1], models[0])


# ------------------------------------------------------------------------------------------- interpolation
def test_interpolation_strips_run_from_one_reconstruction_to_the_other(models, faces):
    first, second = faces.image(0), faces.image(1)
    for model in models:
        strip = ae_vs_vae.interpolation_strip(model, first, second, 5)
        assert strip.size == (5 * 34 + 2, 36)
        for index, face in ((0, first), (4, second)):
            expected = to_pil(ae_vs_vae.reconstruct(model, face).reconstruction)
            assert np.abs(_tile(strip, index).astype(int) - np.asarray(expected).astype(int)).max() <= 1
    for wrong in (1, 17):
        with pytest.raises(ValueError, match="number of frames"):
            ae_vs_vae.interpolation_strip(models[0], first, second, wrong)
    autoencoder_strip, vae_strip, note = Comparison(*models, faces).interpolate(16, 17, 3)  # wrapped: faces 0 and 1
    assert autoencoder_strip.size == vae_strip.size == (3 * 34 + 2, 36) and "faces 0 → 1" in note


# ------------------------------------------------------------------------------------------- histogram
def test_histogram_counts_every_code_once():
    values = torch.cat([torch.randn(300, generator=torch.Generator().manual_seed(0)), torch.tensor([-9.0, 50.0])])
    counts, edges = ae_vs_vae.histogram(values, bins=25)
    assert counts.shape == (25,) and edges.shape == (26,) and counts.sum() == len(values) == 302
    assert edges[0] == -9.0 and edges[-1] == 50.0
    counts, edges = ae_vs_vae.histogram(torch.zeros(7), bins=10)  # at least the prior's [-4, 4]
    assert counts.sum() == 7 and (edges[0], edges[-1]) == (-ae_vs_vae.PRIOR_SPAN, ae_vs_vae.PRIOR_SPAN)
    n, mean, std = ae_vs_vae.dimension_stats(values)
    assert n == 302 and mean == pytest.approx(values.double().mean().item())
    assert std == pytest.approx(values.double().std(correction=0).item())
    assert ae_vs_vae.dimension_stats(torch.tensor([2.5])) == (1, 2.5, 0.0)


def test_latent_histogram_image_and_statistics():
    generator = torch.Generator().manual_seed(0)
    autoencoder_codes = 5 * torch.randn(40, 8, generator=generator) + 3
    vae_codes, variances = torch.randn(30, 8, generator=generator), torch.full((30, 8), 0.25)
    figure, note = ae_vs_vae.latent_histogram(autoencoder_codes, vae_codes, 2, variances)
    assert figure.mode == "RGB" and figure.size == (720, 520)
    pixels = np.asarray(figure)
    for panel, colour in enumerate(ae_vs_vae.COLOURS.values()):  # the autoencoder's bars above, the VAE's below
        rows = pixels[panel * 260:(panel + 1) * 260].reshape(-1, 3)
        assert (rows == colour).all(1).sum() > 500 and (rows == 0).all(1).sum() > 100  # bars; curve, axes, text
    for name, codes in (("autoencoder", autoencoder_codes), ("VAE", vae_codes)):
        n, mean, std = ae_vs_vae.dimension_stats(codes[:, 2])
        assert f"| {name} | " in note and f" | {n} | {mean:.3f} | {std:.3f} |" in note
    spread = vae_codes[:, 2].double().var(correction=0).item()
    assert "E[σ²] = 0.250 on z2" in note and f"Var(μ) + E[σ²] = {spread + 0.25:.3f}" in note
    for wrong in (-1, 8):
        with pytest.raises(ValueError, match="latent dimension"):
            ae_vs_vae.latent_histogram(autoencoder_codes, vae_codes, wrong)


def test_held_out_codes_are_encoded_once_and_bounded(models, faces, monkeypatch):
    comparison = Comparison(*models, faces, max_encoded=10)
    calls = []
    real_encode = ae_vs_vae.encode
    monkeypatch.setattr(ae_vs_vae, "encode", lambda model, x: calls.append(len(x)) or real_encode(model, x))
    codes = comparison.held_out_codes()
    assert comparison.held_out_codes() is codes and calls == [10, 10]  # both models once, the first 10 faces
    z, nothing = codes["autoencoder"]
    mu, variances = codes["VAE"]
    assert z.shape == mu.shape == variances.shape == (10, 8) and nothing is None and (variances > 0).all()
    prepared = torch.stack([ae_vs_vae.prepare(models[1], faces.image(index)) for index in range(10)])
    assert torch.allclose(mu, models[1].encode(prepared)[0], atol=1e-6)
    figure, note = comparison.histogram(3)
    assert figure.size == (720, 520) and note.count(" | 10 | ") == 2 and calls == [10, 10]
    index, original, *_ = comparison.held_out_face(16 + 5)  # wrapped around the 16 faces
    assert index == 5 and original.size == (256, 256)
    assert 0 <= comparison.random_held_out_face()[0] < 16
    with pytest.raises(ValueError, match="no held-out faces"):
        Comparison(*models).histogram(0)


# ------------------------------------------------------------------------------------------- in the tab
def _tab_labels(demo: gr.Blocks) -> list[str]:
    return [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]


def _public_api_names(demo: gr.Blocks) -> set[str]:
    return {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}


def test_a_missing_model_still_lays_out_and_wires_the_whole_view(tiny_vae_export, tiny_autoencoder_export,
                                                                  tmp_path):
    vae = load_model("vae-faces", ModelSpec("vae", str(tiny_vae_export)))
    absent = load_model("autoencoder-faces", ModelSpec("autoencoder", str(tmp_path / "absent")))
    no_dcgan = load_model("dcgan-faces", ModelSpec("dcgan", str(tmp_path / "absent")))
    with gr.Blocks() as demo:
        latent.build(demo, {"vae-faces": vae, "dcgan-faces": no_dcgan, "autoencoder-faces": absent})
    assert _tab_labels(demo) == ["vae-faces", "dcgan-faces", "Autoencoder vs VAE"]  # no explorer for the autoencoder
    assert set(tab("latent").api_names) <= {fn.api_name for fn in demo.fns.values()}  # the API exists from the start
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any(text.startswith("Model **autoencoder-faces** is not available (no folder") for text in texts)
    events = {fn.api_name: fn for fn in demo.fns.values()}
    with pytest.raises(gr.Error, match=r"Model \*\*autoencoder-faces\*\* is not available"):  # per request
        events["ae_vs_vae_prior_draws"].fn(2, 1)
    with gr.Blocks() as alone:
        latent.build(alone, {"vae-faces": vae})  # no autoencoder asked for: no comparison
    assert _tab_labels(alone) == ["vae-faces"]
    autoencoder = load_model("autoencoder-faces", ModelSpec("autoencoder", str(tiny_autoencoder_export)))
    with gr.Blocks() as public:
        latent.build(public, {"vae-faces": vae, "autoencoder-faces": autoencoder}, held_out_examples=False)
    assert {name for name in _public_api_names(public) if name.startswith("ae_vs_vae_")} == {
        "ae_vs_vae_prior_draws", "ae_vs_vae_reconstruct", "ae_vs_vae_histogram"}  # no held-out face is shown


def test_the_view_fills_in_from_the_served_pair(tiny_vae_export, tiny_autoencoder_export):
    autoencoder = load_model("autoencoder-faces", ModelSpec("autoencoder", str(tiny_autoencoder_export)))
    vae = load_model("vae-faces", ModelSpec("vae", str(tiny_vae_export)))
    pair = ae_vs_vae.served_comparison(autoencoder, vae)
    comparison, problem = pair()
    assert pair()[0] is comparison and problem == "" and len(comparison.faces) == 16  # one per pair of exports
    with gr.Blocks() as demo:
        latent.build(demo, {"vae-faces": vae, "autoencoder-faces": autoencoder})
    events = {fn.api_name: fn for fn in demo.fns.values()}
    heading, _, histogram_row, dimension, faces_column, index, _, _, first, second, _ = events[
        "ae_vs_vae_layout"].fn(None)
    assert "over 16 held-out faces" in heading["value"] and dimension["maximum"] == 7
    assert histogram_row["visible"] and faces_column["visible"] and index["label"] == "held-out face (0–15)"
    assert first["label"] == "first held-out face (0–15)" and second["value"] == 1


# ------------------------------------------------------------------------------------------- through gradio_client
@pytest.fixture(scope="module")
def client(tiny_vae_export, tiny_autoencoder_export):
    models = {"vae-faces": load_model("vae-faces", ModelSpec("vae", str(tiny_vae_export))),
              "autoencoder-faces": load_model("autoencoder-faces",
                                              ModelSpec("autoencoder", str(tiny_autoencoder_export)))}
    assert models["autoencoder-faces"].error is None
    with served_tab(latent, models) as (_, client):
        yield client


def test_every_endpoint_through_gradio_client(client, tmp_path):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {f"/{name}" for name in API_NAMES} <= endpoints

    *rows, note = client.predict(4, 5, api_name="/ae_vs_vae_prior_draws")
    assert [Image.open(row).size for row in rows] == [(4 * 34 + 2, 36)] * 3 and "seed 5" in note  # fitted at export
    again = client.predict(4, 5, api_name="/ae_vs_vae_prior_draws")[:3]
    assert all(np.array_equal(png_pixels(row), png_pixels(same)) for row, same in zip(rows, again))

    face = tmp_path / "face.png"
    Image.new("RGB", (90, 60), (180, 140, 120)).save(face)
    *images, note = client.predict(handle_file(str(face)), api_name="/ae_vs_vae_reconstruct")
    assert [Image.open(path).size for path in images] == [(256, 256)] * 3
    assert png_pixels(images[0])[128, 128].tolist() == [180, 140, 120] and note.count(" dB**") == 2

    index, *images, note = client.predict(3, api_name="/ae_vs_vae_held_out_face")
    assert index == 3 and [Image.open(path).size for path in images] == [(256, 256)] * 3 and "dB" in note
    index, *images, note = client.predict(api_name="/ae_vs_vae_random_held_out_face")
    assert 0 <= index < 16 and len(images) == 3

    strip_ae, strip_vae, note = client.predict(0, 1, 4, api_name="/ae_vs_vae_interpolate")
    assert Image.open(strip_ae).size == Image.open(strip_vae).size == (4 * 34 + 2, 36) and "faces 0 → 1" in note

    figure, note = client.predict(2, api_name="/ae_vs_vae_histogram")
    assert Image.open(figure).size == (720, 520) and note.count(" | 16 | ") == 2  # all 16 held-out faces
    with pytest.raises(AppError, match="latent dimension must be a whole number from 0 to 7"):  # z0..z7
        client.predict(8, api_name="/ae_vs_vae_histogram")


@pytest.mark.parametrize("name, payload, message", [
    ("corrupt.png", CORRUPT_PNG, "^Cannot use this image: .*looks like a PNG file but cannot be decoded"),
    ("notes.txt", b"hello", "Invalid file type"),
])
def test_bad_uploads_give_a_clear_error_through_gradio_client(client, tmp_path, name, payload, message):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), api_name="/ae_vs_vae_reconstruct")
    assert client.predict(2, 1, api_name="/ae_vs_vae_prior_draws")  # the server still works afterwards
