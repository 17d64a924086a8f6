"""The Latent explorer: its Explorer logic directly, then every event through gradio_client on a launched
server, including bad uploads; laid out and wired with its models missing."""

import io
import struct
import zlib

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
from conftest import png_pixels, served_tab
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.app.tabs import latent, tab
from genhub.app.tabs.latent import Explorer, ExplorerState
from genhub.data import DataSpec, load_split
from genhub.geometry import coordinates
from genhub.images import center_crop_resize, to_pil, to_pixel_values
from genhub.models import DCGAN, VAE, Pix2Pix

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


@pytest.fixture(scope="module")
def vae(tiny_vae_export):
    return VAE.from_pretrained(tiny_vae_export)


@pytest.fixture(scope="module")
def vae_explorer(vae, labelled_faces_dir):
    return Explorer(vae, load_split(DataSpec(str(labelled_faces_dir), 32), "test"))


def _png(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------- Explorer
def test_vae_sliders_are_the_highest_kl_dimensions(vae, vae_explorer):
    order = vae.latent_space.slider_order()[:8]
    assert torch.equal(vae_explorer.directions, torch.eye(8)[order])
    assert vae_explorer.slider_labels[0].startswith(f"z{int(order[0])} (KL ")
    assert vae_explorer.can_encode and vae_explorer.reference is not None
    preferred = [name for name in latent.ATTRIBUTES if name in vae.latent_space.directions]
    assert len(preferred) >= 3 and vae_explorer.attribute_names[:len(preferred)] == preferred[:8]  # in that order
    assert len(vae_explorer.attribute_names) == latent.MAX_ATTRIBUTE_SLIDERS
    assert Explorer(vae, num_sliders=3).directions.shape == (3, 8)
    assert Explorer(vae, num_sliders=50).directions.shape == (8, 8)  # at most latent_dim


def test_dcgan_and_bare_vae_get_sefa_directions():
    torch.manual_seed(0)
    explorer = Explorer(DCGAN(32, latent_dim=12, ngf=4, ndf=4).eval())
    assert explorer.slider_labels[0] == "SeFa direction 1" and not explorer.can_encode
    assert explorer.directions.shape == (8, 12) and explorer.attribute_names == []
    assert torch.allclose(explorer.directions @ explorer.directions.T, torch.eye(8), atol=1e-5)
    with pytest.raises(ValueError, match="no encoder"):
        explorer.encode(ExplorerState(), Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match="no encoder"):  # the app's endpoint takes no photo; the method says why not
        explorer.interpolate(explorer.random_face(ExplorerState(), 1)[-1], Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match="^Make a random face first"):
        explorer.interpolate(ExplorerState())
    bare = Explorer(VAE(32, latent_dim=6, hidden_channels=4).eval())  # no latent files: SeFa on the decoder
    assert bare.slider_labels[-1] == "SeFa direction 6" and bare.reference is None
    with pytest.raises(TypeError, match="needs a VAE or a DCGAN"):
        Explorer(Pix2Pix(resolution=32, num_downs=5, ngf=4, ndf=4))


def test_random_face_is_seeded_and_sliders_show_its_coordinates(vae_explorer):
    image, values, amounts, seed, state = vae_explorer.random_face(ExplorerState(), 5)
    again, values_again, _, _, _ = vae_explorer.random_face(ExplorerState(), 5)
    assert seed == 5 and np.array_equal(np.asarray(image), np.asarray(again)) and values == values_again
    assert image.size == (32, 32) and amounts == [0.0] * len(vae_explorer.attribute_names)  # the model's
    assert torch.equal(state.code, torch.randn(8, generator=torch.Generator().manual_seed(5)))
    assert values == pytest.approx(coordinates(state.code, vae_explorer.directions).clamp(-3, 3).tolist(), abs=0.005)
    assert all(value == round(value, 2) for value in values)  # shown as a person reads them: -0.82, not -0.8158177
    assert vae_explorer.random_face(ExplorerState(), None)[3] >= 0


def test_edit_moves_only_along_the_moved_slider_and_attributes_add_their_direction(vae_explorer):
    _, values, amounts, _, state = vae_explorer.random_face(ExplorerState(), 1)
    base = state.code.clone()
    start = coordinates(base, vae_explorer.directions)  # exact; the sliders show it rounded to 0.01
    _, state = vae_explorer.edit(state, values, amounts)
    assert torch.allclose(state.code, base, atol=1e-6)  # sliders where the code is: the same face
    moved = list(values)
    moved[2] = 2.5
    _, state = vae_explorer.edit(state, moved, amounts)
    assert torch.allclose(state.code - base, (2.5 - start[2]) * vae_explorer.directions[2], atol=1e-5)
    more = list(amounts)
    more[0] = 1.5
    _, state = vae_explorer.edit(state, moved, more)
    expected = base + (2.5 - start[2]) * vae_explorer.directions[2] + 1.5 * vae_explorer.attribute_vectors[0]
    assert torch.allclose(state.code, expected, atol=1e-5)
    with pytest.raises(ValueError, match="expected 8 slider values"):
        vae_explorer.edit(state, values[:3], amounts)
    _, fresh = vae_explorer.edit(ExplorerState(), [0.0] * 8, amounts)  # before any face: from z = 0
    assert torch.allclose(fresh.code, torch.zeros(8))


def test_encode_jumps_the_sliders_to_the_code_and_scores_the_photo(vae, vae_explorer, labelled_faces_dir):
    face = load_split(DataSpec(str(labelled_faces_dir), 32), "test").image(0)
    photo, reconstruction, values, amounts, verdict, state = vae_explorer.encode(ExplorerState(), _png(face))
    mu = vae.encode(to_pixel_values(center_crop_resize(face, 32))[None])[0][0]
    assert torch.allclose(state.code, mu) and torch.equal(state.base, state.code)
    assert values == pytest.approx(coordinates(mu, vae_explorer.directions).clamp(-3, 3).tolist(), abs=0.005)
    assert photo.size == reconstruction.size == (32, 32) and "Outlier score:" in verdict
    *_, same = vae_explorer.held_out_face(ExplorerState(), 16)  # wraps around the 16 held-out faces
    assert torch.allclose(same.code, mu)


def test_interpolation_strip(vae_explorer):
    state = vae_explorer.random_face(ExplorerState(), 2)[-1]
    strip = vae_explorer.interpolate(state, None, 5, "spherical", 3)
    assert strip.size == (5 * 34 + 2, 36)
    first = np.asarray(strip)[2:34, 2:34]
    assert np.array_equal(first, np.asarray(to_pil(vae_explorer.decode(state.code[None])[0])))
    with pytest.raises(ValueError, match="frames must be a whole number from 2 to 16"):
        vae_explorer.interpolate(state, None, 17)
    with pytest.raises(ValueError, match="face first"):
        vae_explorer.interpolate(ExplorerState(), None, 4)


# ------------------------------------------------------------------------------------------- through gradio_client
@pytest.fixture(scope="module")
def client(tiny_vae_export, tiny_export):
    models = {"vae-faces": load_model("vae-faces", ModelSpec("vae", str(tiny_vae_export))),
              "dcgan-faces": load_model("dcgan-faces", ModelSpec("dcgan", str(tiny_export)))}
    with served_tab(latent, models) as (_, client):
        yield client


def test_endpoints(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    vae = {f"/vae_faces_{name}" for name in ("random_face", "edit", "encode", "held_out_face", "interpolate")}
    dcgan = {f"/dcgan_faces_{name}" for name in ("random_face", "edit", "interpolate")}
    assert vae | dcgan <= endpoints
    assert "/dcgan_faces_encode" not in endpoints and not any("first_face" in e for e in endpoints)


def test_vae_played_through_gradio_client(client, tiny_vae_export, tmp_path):
    num_attributes = len(Explorer(VAE.from_pretrained(tiny_vae_export)).attribute_names)
    image, *rest = client.predict(7, api_name="/vae_faces_random_face")
    values, amounts, info = rest[:8], rest[8:8 + num_attributes], rest[-1]
    assert len(rest) == 8 + num_attributes + 1 and "seed 7" in info and amounts == [0.0] * num_attributes
    assert Image.open(image).size == (32, 32)
    same, *_ = client.predict(7, api_name="/vae_faces_random_face")
    assert np.array_equal(png_pixels(image), png_pixels(same))

    unchanged = client.predict(*values, *amounts, api_name="/vae_faces_edit")
    assert np.abs(png_pixels(unchanged) - png_pixels(image)).max() <= 1  # the sliders hold the face's own code
    moved = client.predict(3.0, *values[1:], *amounts, api_name="/vae_faces_edit")
    assert np.abs(png_pixels(moved) - png_pixels(image)).mean() > 0.5
    smiling = client.predict(*values, 2.0, *amounts[1:], api_name="/vae_faces_edit")
    assert np.abs(png_pixels(smiling) - png_pixels(image)).mean() > 0.5

    face = tmp_path / "face.png"
    Image.new("RGB", (90, 60), (180, 140, 120)).save(face)
    photo, reconstruction, shown, *rest = client.predict(handle_file(str(face)), api_name="/vae_faces_encode")
    verdict = rest[-1]
    assert png_pixels(photo)[16, 16].tolist() == [180, 140, 120]  # sanitised, cropped, resized
    assert np.array_equal(png_pixels(reconstruction), png_pixels(shown)) and "Outlier score:" in verdict
    assert len(rest) == 8 + num_attributes + 1
    photo, *rest = client.predict(3, api_name="/vae_faces_held_out_face")
    assert Image.open(photo).size == (32, 32) and "negative elbo" in rest[-1].lower()

    strip = client.predict(None, 4, "linear", 11, api_name="/vae_faces_interpolate")
    assert Image.open(strip).size == (4 * 34 + 2, 36)
    strip = client.predict(handle_file(str(face)), 3, "spherical", None, api_name="/vae_faces_interpolate")
    assert Image.open(strip).size == (3 * 34 + 2, 36)


def test_dcgan_played_through_gradio_client(client):
    parameters = client.view_api(print_info=False, return_format="dict")["named_endpoints"][
        "/dcgan_faces_interpolate"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == ["num_frames", "path", "seed_value"]  # no image: no encoder
    with pytest.raises(AppError, match="Make a random face first"):
        client.predict(4, "spherical", 1, api_name="/dcgan_faces_interpolate")  # fresh session
    image, *values, info = client.predict(4, api_name="/dcgan_faces_random_face")
    assert len(values) == 8 + latent.MAX_ATTRIBUTE_SLIDERS and "seed 4" in info  # 8 SeFa sliders, no attribute
    assert values[8:] == [0.0] * latent.MAX_ATTRIBUTE_SLIDERS  # (their sliders are laid out, hidden)
    moved = client.predict(-3.0, *values[1:], api_name="/dcgan_faces_edit")
    assert Image.open(moved).size == (32, 32)
    strip = client.predict(6, "spherical", 2, api_name="/dcgan_faces_interpolate")
    assert Image.open(strip).size == (6 * 34 + 2, 36)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's calling card)."""
    data = bytearray(_png(Image.new("RGB", (1, 1))))
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes of fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def _cmyk_red() -> bytes:
    buffer = io.BytesIO()
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _palette_blue() -> bytes:
    image = Image.new("P", (40, 40))
    image.putpalette([0, 0, 255] * 256)
    return _png(image)


BAD_UPLOADS = {
    "corrupt.png": (b"\x89PNG\r\n\x1a\n this is not really a png", "looks like a PNG file but cannot be decoded"),
    "truncated.png": (_png(Image.new("RGB", (64, 64), (9, 9, 9)))[:60], "looks like a PNG file but cannot be decoded"),
    "huge.png": (_png_claiming(8000, 8000), "8000×8000 pixels, larger than the 50,000,000-pixel limit"),
    "bomb.png": (_png_claiming(100_000, 100_000), "^Cannot use this image: it is larger than the 50,000,000-pixel"),
    "notes.txt": (b"hello", "Invalid file type"),
}

GOOD_ODD_UPLOADS = {  # name -> (bytes, the colour the model must be shown)
    "transparent.png": (_png(Image.new("RGBA", (40, 30), (255, 0, 0, 0))), [255, 255, 255]),  # flattened on white
    "cmyk.jpg": (_cmyk_red(), "red"),
    "gray16.png": (_png(Image.fromarray(np.full((30, 40), 32768, np.uint16))), [128, 128, 128]),
    "palette.png": (_palette_blue(), [0, 0, 255]),
}


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_bad_uploads_give_a_clear_error(client, tmp_path, name):
    payload, message = BAD_UPLOADS[name]
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), api_name="/vae_faces_encode")
    client.predict(1, api_name="/vae_faces_random_face")  # a face on screen: interpolation reads the upload
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), 3, "linear", None, api_name="/vae_faces_interpolate")
    assert client.predict(1, api_name="/vae_faces_random_face")  # the session still works afterwards


@pytest.mark.parametrize("name", sorted(GOOD_ODD_UPLOADS))
def test_odd_but_valid_uploads_are_converted(client, tmp_path, name):
    payload, colour = GOOD_ODD_UPLOADS[name]
    path = tmp_path / name
    path.write_bytes(payload)
    photo, reconstruction, *_ = client.predict(handle_file(str(path)), api_name="/vae_faces_encode")
    centre = png_pixels(photo)[16, 16]
    if colour == "red":
        assert centre[0] > 200 and centre[1] < 60 and centre[2] < 60
    else:
        assert np.abs(centre - colour).max() <= 2, centre
    assert Image.open(reconstruction).size == (32, 32)


# ------------------------------------------------------------------------------------------- in the app
def _loaded(tmp_path, **locations) -> dict:
    """The latent tab's three models, each at ``locations[key]`` (``-`` as ``_``) or missing."""
    families = {"vae-faces": "vae", "dcgan-faces": "dcgan", "autoencoder-faces": "autoencoder"}
    return {key: load_model(key, ModelSpec(family, str(locations.get(key.replace("-", "_"), tmp_path / "absent"))))
            for key, family in families.items()}


def _markdowns(demo) -> list[str]:
    return [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]


def test_app_has_the_latent_explorer(tiny_vae_export, tiny_export, tmp_path):
    demo = app.build_demo([f"vae-faces={tiny_vae_export}", f"dcgan-faces={tiny_export}"])
    api_names = {fn.api_name for fn in demo.fns.values()}
    assert {"vae_faces_random_face", "vae_faces_encode", "dcgan_faces_edit"} <= api_names
    missing = app.build_demo([f"vae-faces={tmp_path / 'absent'}", f"dcgan-faces={tiny_export}"])
    assert set(tab("latent").api_names) <= {fn.api_name for fn in missing.fns.values()}  # laid out all the same
    texts = _markdowns(missing)
    assert any("Model **vae-faces** is not available" in t and "train_vae.py" in t for t in texts)


def test_missing_models_still_lay_out_and_wire_the_whole_tab(tmp_path):
    with gr.Blocks() as demo:
        latent.build(demo, _loaded(tmp_path))
    assert {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"} == set(tab("latent").api_names)
    for key in ("vae-faces", "dcgan-faces", "autoencoder-faces"):  # each sub-tab's status names its missing model
        assert any(f"Model **{key}** is not available" in text for text in _markdowns(demo)), key
    events = {fn.api_name: fn for fn in demo.fns.values()}
    with pytest.raises(gr.Error, match=r"Model \*\*vae-faces\*\* is not available"):  # said per request
        events["vae_faces_random_face"].fn(ExplorerState(), 1)


def test_each_sub_tab_fills_in_from_its_served_export(tiny_vae_export, tiny_export, tmp_path):
    models = _loaded(tmp_path, vae_faces=tiny_vae_export, dcgan_faces=tiny_export)
    served = latent.served_explorer(models["vae-faces"])
    assert served() is served() and len(served().held_out) == 16  # one Explorer per export
    with gr.Blocks() as demo:
        latent.build(demo, models)
    events = {fn.api_name: fn for fn in demo.fns.values()}
    about, *sliders, heading = events["vae_faces_layout"].fn(None)[:latent.NUM_SLIDERS + 2]
    *attributes, keep, index, button, marker, ids = events["vae_faces_layout"].fn(None)[latent.NUM_SLIDERS + 2:]
    assert "32×32 faces, 8-dimensional z" in about["value"] and heading["visible"]
    assert [update["label"] for update in sliders] == served().slider_labels
    assert [update["label"] for update in attributes] == [name.replace("_", " ") for name in served().attribute_names]
    assert keep["choices"] == served().attribute_names and index["label"] == "held-out face (0–15)"
    assert marker == ids == (models["vae-faces"].export_id,)  # the first face follows it
    layout, first_face = events["vae_faces_layout"], events["vae_faces_first_face"]
    assert first_face.targets == [(layout.outputs[-2]._id, "change")] and first_face.api_visibility == "private"
    about, *sliders, heading = events["dcgan_faces_layout"].fn(None)[:latent.NUM_SLIDERS + 2]
    assert sliders[0]["label"] == "SeFa direction 1" and heading["visible"] is False  # the DCGAN has no boundaries


def test_a_code_of_another_latent_size_starts_a_fresh_session(vae_explorer):
    stale = ExplorerState(torch.zeros(3), torch.zeros(3))  # an earlier export's code
    assert latent._session(vae_explorer, stale).code is None
    current = vae_explorer.random_face(ExplorerState(), 1)[-1]
    assert latent._session(vae_explorer, current) is current


def test_held_out_photos_can_be_left_out(tiny_vae_export, labelled_faces_dir):
    loaded = load_model("vae-faces", ModelSpec("vae", str(tiny_vae_export)))
    explorer = latent.load_explorer(loaded)
    assert len(explorer.held_out) == 16 and explorer.held_out.source == str(labelled_faces_dir)
    assert latent.load_explorer(loaded, held_out_examples=False).held_out is None
    with gr.Blocks() as demo:
        latent.build(demo, {"vae-faces": loaded}, held_out_examples=False)  # as the public Space does
    api_names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert api_names == {f"vae_faces_{name}" for name in ("random_face", "edit", "encode", "interpolate")}
