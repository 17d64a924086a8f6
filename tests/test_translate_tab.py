"""The Image-to-image tab: its pure functions, then played through gradio_client with good and bad inputs."""


import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from conftest import client_of
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.app.tabs import tab, translate
from genhub.app.tabs.translate import directions, prepare
from genhub.images import MAX_PIXELS, ImageError


@pytest.fixture(scope="module")
def models(tiny_pix2pix_export, tiny_cyclegan_export, tmp_path_factory):
    missing = tmp_path_factory.mktemp("absent") / "nothing"
    return {
        "dcgan-faces": load_model("dcgan-faces", ModelSpec("dcgan", str(missing))),
        "pix2pix-sketch2face": load_model("pix2pix-sketch2face", ModelSpec("pix2pix", str(tiny_pix2pix_export))),
        "cyclegan-eyeglasses": load_model("cyclegan-eyeglasses", ModelSpec("cyclegan", str(tiny_cyclegan_export))),
        "cyclegan-other": load_model("cyclegan-other", ModelSpec("cyclegan", str(missing), "train it like so")),
    }


@pytest.fixture(scope="module")
def entries(models):
    return {entry.value: entry for entry in directions(models)}


def test_menu_lists_pix2pix_and_both_cyclegan_directions(entries):
    assert list(entries) == ["pix2pix-sketch2face", "cyclegan-eyeglasses:AB", "cyclegan-eyeglasses:BA"]
    assert entries["cyclegan-eyeglasses:AB"].label.startswith("cyclegan-eyeglasses: no_eyeglasses → eyeglasses")
    assert entries["cyclegan-eyeglasses:BA"].domains == ("eyeglasses", "no_eyeglasses")
    assert entries["pix2pix-sketch2face"].domains == ("sketch", "face")


def test_prepare_crops_or_pads_and_says_so():
    wide = Image.new("RGB", (300, 100), "red")
    model_input, box, note = prepare(wide, 32, fit="crop")
    assert model_input.size == (32, 32) and box == (0, 0, 32, 32)
    assert note == "Your 300×100 image was centre-cropped to 100×100 and resized to 32×32, the model's resolution."
    model_input, box, note = prepare(wide, 30, fit="pad")
    assert box == (0, 10, 30, 20) and "padded with white to 300×300" in note
    assert model_input.getpixel((0, 0)) == (255, 255, 255) and model_input.getpixel((15, 15)) == (255, 0, 0)
    assert prepare(Image.new("RGB", (32, 32)), 32)[2] == "Your 32×32 image is already at the model's resolution."


@pytest.mark.parametrize("size, message", [((1, 1), "1×1 pixels; it needs at least 16"),
                                           ((2000, 20), "aspect ratio beyond 10:1")])
def test_prepare_refuses_tiny_and_extreme_images(size, message):
    with pytest.raises(ImageError, match=message):
        prepare(Image.new("RGB", size), 32)


def test_translate_returns_images_at_the_model_resolution(entries):
    model_input, output, reconstruction, note = translate.translate(
        entries["cyclegan-eyeglasses:BA"], Image.new("RGB", (200, 100), "gray"), "pad")
    assert model_input.size == (32, 32)  # the browser enlarges them
    assert output.size == reconstruction.size == (32, 16)  # cropped back to 2:1
    assert "from *eyeglasses* to *no_eyeglasses*" in note and "cycle reconstruction" in note
    assert "Sent at 32 px, enlarged by your browser" in note
    _, output, reconstruction, _ = translate.translate(entries["pix2pix-sketch2face"], Image.new("L", (64, 64)))
    assert output.size == (32, 32) and reconstruction is None


def test_examples_come_from_the_held_out_split(entries):
    assert len(translate.examples(entries["pix2pix-sketch2face"])) == 4  # the sketch slice's test rows
    sketch = translate.examples(entries["pix2pix-sketch2face"])[0]
    assert sketch.size == (128, 128) and set(np.unique(np.asarray(sketch))) <= {0, 255}  # binary line drawing
    assert len(translate.examples(entries["cyclegan-eyeglasses:AB"])) == 3  # test rows of domain A
    assert len(translate.examples(entries["cyclegan-eyeglasses:BA"])) == 2  # ... and of domain B


# ------------------------------------------------------------------------------- through the server


@pytest.fixture(scope="module")
def client(models):
    with gr.Blocks() as demo:
        translate.build(demo, models)
    with client_of(demo) as (_, client):
        yield client


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Image files, good and bad, as a user could upload them."""
    folder = tmp_path_factory.mktemp("uploads")
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    photo.save(folder / "wide.jpg")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (10, 10, 54, 20))
    rgba.save(folder / "rgba.png")
    Image.fromarray((rng.integers(0, 65536, (48, 48))).astype(np.uint16)).save(folder / "16bit.png")
    Image.new("RGB", (1, 1), "blue").save(folder / "1x1.png")
    Image.new("RGB", (1200, 30), "green").save(folder / "extreme.png")
    Image.new("L", (8000, MAX_PIXELS // 8000 + 1)).save(folder / "huge.png")  # a few KB, too many pixels
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    (folder / "text.jpg").write_bytes(b"this is not an image")
    Image.new("RGBA", (512, 512), (0, 0, 0, 0)).save(folder / "blank-sketch.png")
    sketch = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    sketch.paste((0, 0, 0, 255), (100, 100, 400, 108))
    sketch.save(folder / "sketch.png")
    assert Image.open(folder / "16bit.png").mode.startswith("I") and Image.open(folder / "cmyk.jpg").mode == "CMYK"
    return folder


def _size(path) -> tuple[int, int]:
    return Image.open(path).size


def test_api_lists_the_tab_endpoints(client):
    assert {"/select_model", "/translate", "/translate_sketch"} <= set(
        client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_selecting_a_model_shows_its_examples_and_reconstruction(client):
    gallery, about, reconstruction = client.predict("cyclegan-eyeglasses:BA", api_name="/select_model")
    assert len(gallery) == 2 and _size(gallery[0]["image"]) == (64, 64)
    assert "translates *eyeglasses* into *no_eyeglasses* at 32×32" in about and reconstruction["visible"] is True
    gallery, about, reconstruction = client.predict("pix2pix-sketch2face", api_name="/select_model")
    assert len(gallery) == 4 and reconstruction["visible"] is False


@pytest.mark.parametrize("name, fit, shown", [("wide.jpg", "crop", (32, 32)), ("wide.jpg", "pad", (32, 18)),
                                              ("cmyk.jpg", "crop", (32, 32)), ("rgba.png", "crop", (32, 32)),
                                              ("16bit.png", "pad", (32, 32))])
def test_good_uploads_are_translated(client, inputs, name, fit, shown):
    model_input, output, reconstruction, note = client.predict(
        "cyclegan-eyeglasses:AB", handle_file(inputs / name), fit, api_name="/translate")
    assert _size(model_input) == (32, 32) and _size(output) == _size(reconstruction) == shown
    assert Image.open(output).format == "PNG" and "ms" in note and "resized to 32×32" in note
    _, output, reconstruction, _ = client.predict("pix2pix-sketch2face", handle_file(inputs / name), fit,
                                                  api_name="/translate")
    assert _size(output) == shown and reconstruction is None


def test_rgba_is_flattened_onto_white(client, inputs):
    model_input, *_ = client.predict("pix2pix-sketch2face", handle_file(inputs / "rgba.png"), "crop",
                                     api_name="/translate")
    pixels = np.asarray(Image.open(model_input).convert("RGB"))
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[7, 16].max() < 8  # the opaque bar, at 32 px


@pytest.mark.parametrize("name, message", [
    ("1x1.png", "1×1 pixels; it needs at least 16"),
    ("extreme.png", "aspect ratio beyond 10:1"),
    ("huge.png", "larger than the 50,000,000-pixel limit"),
    ("corrupt.png", "it looks like a PNG file but cannot be decoded: it is damaged, cut short or an unusual variant"),
    ("text.jpg", r"it is not an image file genhub can read \(PNG, JPEG, WebP, BMP, TIFF, GIF\)"),
])
def test_bad_uploads_get_a_clear_error(client, inputs, name, message):
    with pytest.raises(AppError, match=message):
        client.predict("pix2pix-sketch2face", handle_file(inputs / name), "crop", api_name="/translate")


def test_missing_image_and_unknown_model_get_a_clear_error(client, inputs):
    with pytest.raises(AppError, match="Upload, paste or take a picture first"):
        client.predict("pix2pix-sketch2face", None, "crop", api_name="/translate")
    with pytest.raises(AppError, match="nothing:AB is not in the list of choices"):
        client.predict("nothing:AB", handle_file(inputs / "wide.jpg"), "crop", api_name="/translate")
    for endpoint, arguments in (("/translate", (handle_file(inputs / "wide.jpg"), "crop")), ("/select_model", ())):
        with pytest.raises(AppError, match=r"(?s)Model \*\*cyclegan-other\*\* is not available.*train it like so"):
            client.predict("cyclegan-other:AB", *arguments, api_name=endpoint)  # on the menu until it lands
    with pytest.raises(AppError, match="Pick a model first"):
        client.predict(None, handle_file(inputs / "wide.jpg"), "crop", api_name="/translate")


def _drawing(path):
    return {"background": None, "layers": [], "composite": handle_file(path), "id": None}


def test_a_drawing_is_translated_and_an_empty_pad_refused(client, inputs):
    model_input, output, reconstruction, note = client.predict(
        "pix2pix-sketch2face", _drawing(inputs / "sketch.png"), "crop", api_name="/translate_sketch")
    pixels = np.asarray(Image.open(model_input).convert("L"))
    assert _size(output) == (32, 32) and reconstruction is None and "binarised" in note
    assert pixels.min() < 8 and pixels.max() > 247  # a black line on a white (not transparent) ground
    with pytest.raises(AppError, match="sketch pad is empty"):
        client.predict("pix2pix-sketch2face", _drawing(inputs / "blank-sketch.png"), "crop",
                       api_name="/translate_sketch")


def test_missing_models_say_how_to_get_them_and_the_tab_is_whole(models):
    with gr.Blocks() as demo:
        translate.build(demo, {"cyclegan-other": models["cyclegan-other"]})
    assert set(tab("translate").api_names) <= {fn.api_name for fn in demo.fns.values()}  # the API, before the model
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **cyclegan-other** is not available" in text and "train it like so" in text for text in texts)
    dropdown = next(block for block in demo.blocks.values() if isinstance(block, gr.Dropdown))
    assert dropdown.choices == [("cyclegan-other: A → B (cyclegan, not trained yet)", "cyclegan-other:AB"),
                                ("cyclegan-other: B → A (cyclegan, not trained yet)", "cyclegan-other:BA")]


def test_the_tab_opens_with_the_first_models_first_example_translated(models):
    served = {key: models[key] for key in ("pix2pix-sketch2face", "cyclegan-eyeglasses")}
    with gr.Blocks() as demo:
        translate.build(demo, served)
    first = {fn.api_name: fn for fn in demo.fns.values()}["translate_first_example"].fn
    choice, gallery, about, picture, model_input, output, reconstruction, note, _ = first(None)
    assert [value for _, value in choice["choices"]] == [entry.value for entry in directions(served)]
    assert choice["value"] == "pix2pix-sketch2face" and choice["choices"][0][0].endswith("(pix2pix, 32 px)")
    assert len(gallery) == 4 and "translates *sketch* into *face*" in about and reconstruction is None
    assert _size(model_input) == _size(output) == (32, 32) and "ms" in note and _size(picture) == (128, 128)


def test_the_app_has_the_tab(tiny_pix2pix_export, tiny_cyclegan_export):
    import app

    entry = tab("translate")
    assert (entry.module, entry.title, entry.keys) == (translate, "Image-to-image",
                                                       ("pix2pix-sketch2face", "cyclegan-eyeglasses"))
    demo = app.build_demo([f"pix2pix-sketch2face={tiny_pix2pix_export}", f"cyclegan-eyeglasses={tiny_cyclegan_export}"])
    assert any(isinstance(block, gr.Tab) and block.label == entry.title for block in demo.blocks.values())
    dropdown = next(block for block in demo.blocks.values() if isinstance(block, gr.Dropdown))
    assert [value for _, value in dropdown.choices] == ["pix2pix-sketch2face", "cyclegan-eyeglasses:AB",
                                                        "cyclegan-eyeglasses:BA"]


@pytest.mark.parametrize("payload, message", [
    (b"", "the file is empty (0 bytes)"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "it looks like a PNG file but cannot be decoded"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "it is an SVG (vector) drawing"),
])
def test_the_sketch_endpoint_refuses_bad_files_with_our_message(client, tmp_path, payload, message):
    path = tmp_path / "drawing.png"
    path.write_bytes(payload)
    with pytest.raises(AppError) as raised:  # not Gradio's "The upstream Gradio app has raised an exception"
        client.predict("pix2pix-sketch2face", _drawing(path), "crop", api_name="/translate_sketch")
    assert str(raised.value).startswith(f"Cannot use this image: {message}")


def test_uploads_reach_the_sanitiser_undecoded(models):
    from gradio.components.image_editor import EditorData, EditorDataBlobs
    from gradio.data_classes import ImageData

    with gr.Blocks() as demo:
        translate.build(demo, models)
    blocks = demo.blocks.values()
    pad = next(block for block in blocks if isinstance(block, gr.Sketchpad))
    picture = next(block for block in blocks if isinstance(block, gr.Image) and block.label.startswith("Upload"))
    pad.blob_storage["drawing-1"] = EditorDataBlobs(background=None, layers=[b"layer"], composite=b"composite")
    assert pad.preprocess(EditorData(id="drawing-1")) == {"background": None, "layers": [b"layer"],
                                                          "composite": b"composite"}  # the browser's bytes, as sent
    assert pad.blob_storage == {}  # not kept
    assert pad.preprocess(EditorData(id="never-sent"))["composite"] is None and pad.preprocess(None) is None
    assert picture.preprocess(ImageData(path="/uploads/a.png")) == "/uploads/a.png"
    assert picture.preprocess(ImageData(url="data:image/png;base64,aGVsbG8=")) == b"hello"
    with pytest.raises(gr.Error) as raised:
        picture.preprocess(ImageData(url="data:image/png;base64,aGVsbG8"))
    assert raised.value.message == "Cannot use this image: its data: URL is not valid base64. Send the image as a file."


def test_unavailable_held_out_data_is_named_without_a_server_path(tiny_pix2pix_export, tmp_path):
    import json
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(tiny_pix2pix_export, moved)
    info = json.loads((moved / "training_info.json").read_text())
    info["data"]["source"] = info["dataset"] = "/srv/private/secret-sketches"
    (moved / "training_info.json").write_text(json.dumps(info))
    menu = translate.Menu({"pix2pix-sketch2face": load_model("pix2pix-sketch2face", ModelSpec("pix2pix", str(moved)))})
    shown, problem = menu.examples("pix2pix-sketch2face")
    assert shown == ()
    assert problem == ("No held-out examples: the held-out images of `pix2pix-sketch2face`'s training data "
                       "(`secret-sketches`) are not available on this server.")
