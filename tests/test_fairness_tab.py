"""The Fairness tab: its pure functions on a tiny DB-VAE and a tiny CNN baseline (trained on the faces-vs-patches
data scikit-image ships), then every event through gradio_client on a launched server, hostile uploads included."""

import math

import gradio as gr
import pytest
import torch
from gradio_client import handle_file

from conftest import (
    assert_hostile_files_answered_clearly,
    client_of,
    image_endpoints,
    tiny_dbvae_args,
    train_tiny,
)
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.app.serving import GPU_MARKER
from genhub.app.tabs import fairness, tab
from genhub.images import ImageError

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module

FLAGS = ("--max_train_steps", "4", "--max_train_samples", "16")


@pytest.fixture(scope="module")
def models(faces_and_nonfaces, tmp_path_factory):
    root = tmp_path_factory.mktemp("fairness")
    cnn = train_tiny("dbvae", tiny_dbvae_args(faces_and_nonfaces, root / "cnn", "--baseline", *FLAGS))
    dbvae = train_tiny("dbvae", tiny_dbvae_args(faces_and_nonfaces, root / "dbvae", "--alpha", "0.1", *FLAGS))
    return {"face-cnn": load_model("face-cnn", ModelSpec("dbvae", str(cnn))),
            "dbvae-faces-alpha-0.1": load_model("dbvae-faces-alpha-0.1", ModelSpec("dbvae", str(dbvae)))}


def _report(rates, variance=None):
    groups = [{"name": name, "n": n, "hits": hits, "rate": hits / n, "low": 0.1, "high": 0.9}
              for name, n, hits in rates]
    return {"groups": groups, "false_positive": {"name": "fp", "n": 10, "hits": 1, "rate": 0.1, "low": 0.02,
                                                 "high": 0.4}, "bias_variance": variance}


def test_table_has_a_row_per_group_with_n_a_cell_per_model_and_the_bias_row():
    headers, rows = fairness.table({"cnn": _report([("all", 4, 3), ("bald", 2, 1)], 0.0025),
                                    "dbvae": _report([("all", 4, 4)])})
    assert headers == ["group (N)", "cnn", "dbvae"]
    assert rows[0] == ["all (N=4)", "0.750 [0.100, 0.900]", "1.000 [0.100, 0.900]"]
    assert rows[1] == ["bald (N=2)", "0.500 [0.100, 0.900]", "n/a"]
    assert rows[2][0] == "false positives: non-faces called faces (N=10)" and rows[2][1] == "0.100 [0.020, 0.400]"
    assert rows[3] == ["recall variance across sex x Pale_Skin (bias)", "2.50e-03", "n/a"]


def test_extremes_are_the_largest_and_smallest_weights_from_the_edge_inward():
    up, down = fairness.extremes(torch.tensor([0.1, 0.5, 0.05, 0.3, 0.05 + 1e-3]), count=2)
    assert up == [1, 3] and down == [2, 4]


def test_an_upload_gets_every_models_probability_and_the_dbvaes_weight_percentile(models, faces_and_nonfaces):
    face = models["face-cnn"].model  # any image will do: the first training face
    image = fairness.training_faces(models["dbvae-faces-alpha-0.1"]).image(0)
    rows = fairness.score_upload(models, image)
    assert [row[0] for row in rows] == list(models)
    assert all(0.0 <= float(row[1]) <= 1.0 and row[2] in ("yes", "no") for row in rows)
    assert rows[0][3] == "n/a (no resampling)"
    percentile, of = rows[1][3].split("%")
    assert 0.0 <= float(percentile) <= 100.0 and of.startswith(" of ") and of.endswith("training faces")
    assert fairness.weight_percentile(face, fairness.prepare(face, image)) is None
    with pytest.raises(ValueError, match="Upload a photo"):
        fairness.score_upload(models, None)
    with pytest.raises(ImageError):
        fairness.score_upload(models, b"not an image")


def test_the_percentile_of_the_most_up_weighted_training_face_is_100(models):
    loaded = models["dbvae-faces-alpha-0.1"]
    density = loaded.model.resampling
    top = int(density.weights.argmax())
    image = fairness.training_faces(loaded)[top]["pixel_values"][None]
    # the export's weights were measured on these very codes, so the top face sits at the top
    assert fairness.weight_percentile(loaded.model, image) == pytest.approx(100.0)


def test_galleries_show_the_extreme_training_faces_with_their_weights(models):
    most, least = fairness.galleries(models["dbvae-faces-alpha-0.1"])
    assert len(most) == len(least) == fairness.GALLERY_SIZE
    weights = [float(caption.split(": ")[1].split("x")[0]) for _, caption in most + least]
    assert weights[0] == max(weights) and weights[len(most)] == min(weights) and weights[0] > weights[-1]
    assert most[0][0].size == (fairness.THUMBNAIL, fairness.THUMBNAIL)
    with pytest.raises(ValueError, match="no resampling weights"):
        fairness.galleries(models["face-cnn"])


def test_the_audit_covers_every_model_once_with_n(models):
    reports = fairness.Audits(models).reports()
    assert list(reports) == list(models) and fairness.Audits(models).reports().keys() == reports.keys()
    for report in reports.values():
        assert report["groups"][0]["n"] > 0 and report["false_positive"]["n"] > 0
        assert not math.isnan(report["groups"][0]["rate"])


# ------------------------------------------------------------------------------------------- the built tab
def _demo(models) -> gr.Blocks:
    with gr.Blocks() as demo:
        fairness.build(demo, models)
    return demo


def _events(demo) -> dict:
    return {fn.api_name: fn for fn in demo.fns.values()}


def _absent(key, tmp_path):
    return load_model(key, ModelSpec("dbvae", str(tmp_path / "absent")))


def test_the_tab_has_the_tables_api_names_and_every_event_is_marked(models):
    events = _events(_demo(models))
    assert {name for name, fn in events.items() if fn.api_visibility == "public"} == set(tab("fairness").api_names)
    assert "fairness_first_table" in events  # the table it opens with
    assert getattr(events["fairness_galleries"].fn, GPU_MARKER) is None  # reads weights and data, runs no model
    assert getattr(events["fairness_score"].fn, GPU_MARKER) == 10


def test_with_every_model_missing_the_tab_is_whole_and_says_why(tmp_path):
    missing = {key: _absent(key, tmp_path) for key in ("face-cnn", "dbvae-faces-alpha-0.01")}
    demo = _demo(missing)
    events = _events(demo)
    assert set(tab("fairness").api_names) <= set(events)  # the API, before the models land
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **dbvae-faces-alpha-0.01** is not available" in text for text in texts)
    assert any("Model **face-cnn** is not available" in text for text in texts)
    refusal = r"(?s)Not served yet: no model to compare yet.*face-cnn.*dbvae-faces-alpha-0.01"
    with pytest.raises(gr.Error, match=refusal):
        events["fairness_table"].fn()
    with pytest.raises(gr.Error, match=r"Model \*\*dbvae-faces-alpha-0.01\*\* is not available"):
        events["fairness_galleries"].fn("dbvae-faces-alpha-0.01")  # on the menu (its flag has weights) until it lands


def test_a_missing_model_is_left_out_of_what_a_request_compares(models, tmp_path):
    demo = _demo({**models, "dbvae-faces-alpha-0.01": _absent("dbvae-faces-alpha-0.01", tmp_path)})
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **dbvae-faces-alpha-0.01** is not available" in text for text in texts)
    events = _events(demo)
    photo = fairness.training_faces(models["dbvae-faces-alpha-0.1"]).image(0)
    assert [row[0] for row in events["fairness_score"].fn(photo)] == list(models)
    table, menu, shown = events["fairness_first_table"].fn(None)  # the page opens with the ones there
    assert table["headers"] == ["group (N)", *models] and "dbvae-faces-alpha-0.01" not in menu["choices"]
    assert shown[-1] is None


@pytest.fixture(scope="module")
def served(models):
    demo = _demo(models)
    with client_of(demo) as both:
        yield both


def test_the_tab_opens_with_the_table_computed_once(models):
    first = _events(_demo(models))["fairness_first_table"].fn
    shown, which, _ = first(None)
    rows = shown["data"]
    assert shown["headers"] == ["group (N)", *models] and which["choices"] == ["dbvae-faces-alpha-0.1"]
    assert rows[0][0].startswith("all held-out faces (N=") and rows[-1][0].startswith("recall variance")
    assert first(None)[0] is shown  # kept for every later visitor


def test_every_event_through_gradio_client(served, models, tmp_path):
    _, client = served
    table = client.predict(api_name="/fairness_table")
    assert table["headers"] == ["group (N)", *models] and table["data"][0][0].startswith("all held-out faces (N=")
    assert table["data"][-1][0].startswith("recall variance")
    photo = tmp_path / "face.png"
    fairness.training_faces(models["dbvae-faces-alpha-0.1"]).image(0).save(photo)
    scores = client.predict(handle_file(str(photo)), api_name="/fairness_score")
    assert [row[0] for row in scores["data"]] == list(models)
    most, least, note = client.predict("dbvae-faces-alpha-0.1", api_name="/fairness_galleries")
    assert len(most) == len(least) == fairness.GALLERY_SIZE and "x uniform" in most[0]["caption"]
    assert "training faces" in note and "effective sample size" in note


def test_the_upload_answers_hostile_files_clearly(served, tmp_path):
    demo, client = served
    endpoints = image_endpoints(demo)
    assert {fn.api_name for fn in endpoints} == {"fairness_score"}
    assert_hostile_files_answered_clearly(client, endpoints, tmp_path)
