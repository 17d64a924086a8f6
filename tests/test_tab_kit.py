"""The tab kit: the input rules (one for seeds, one for whole numbers, one for numbers; every tab uses them) and the
held-out examples a tab shows, or the sentence saying why it has none."""

from types import SimpleNamespace

import pytest

from genhub.app import inputs
from genhub.app.tabs import kit
from genhub.data import DataError


@pytest.mark.parametrize("value, expected", [(3, 3), ("7", 7), (2.0, 2), (" 9 ", 9), (0, 0), (10, 10)])
def test_whole_accepts_whole_numbers_and_text_of_them(value, expected):
    assert inputs.whole(value, "frames", 0, 10) == expected


@pytest.mark.parametrize("value", [None, "", "x", 2.5, "2.5", float("nan"), float("inf"), -1, 11, "1e9", [1]])
def test_whole_refuses_anything_else_by_name_and_range(value):
    with pytest.raises(ValueError, match=r"^frames must be a whole number from 0 to 10, got "):
        inputs.whole(value, "frames", 0, 10)


def test_number_keeps_the_range_and_refuses_nan():
    assert inputs.number("0.5", "ψ", -1, 2) == 0.5 and inputs.number(2, "ψ", -1, 2) == 2.0
    for value in (float("nan"), "a", None, 2.01, -1.5):
        with pytest.raises(ValueError, match=r"^ψ must be a number from -1 to 2, got "):
            inputs.number(value, "ψ", -1, 2)


def test_an_empty_seed_is_drawn_and_anything_else_must_be_in_range():
    drawn = {inputs.seed(empty) for empty in (None, "", "  ") for _ in range(5)}
    assert len(drawn) > 1 and all(0 <= seed < inputs.MAX_SEED for seed in drawn)
    assert inputs.seed("42") == 42 and inputs.seed(inputs.MAX_SEED - 1) == inputs.MAX_SEED - 1
    for value in (-1, inputs.MAX_SEED, 1.5, "seed"):
        with pytest.raises(ValueError, match="seed must be a whole number from 0 to 2147483647"):
            inputs.seed(value)


def test_seed_lists():
    assert inputs.seeds("1, 2 3", 6) == [1, 2, 3]
    for text in ("", "1 2 3 4 5 6 7", "1, -2"):
        with pytest.raises(ValueError):
            inputs.seeds(text, 6)


def test_held_out_examples_or_one_sentence_without_the_servers_path():
    loaded = SimpleNamespace(key="ddpm-faces", info={"data": {"source": "/srv/secret/faces_celeba"}})

    def broken(_):
        raise DataError("/srv/secret/faces_celeba/test-00000.parquet: no such file")

    assert kit.held_out(loaded, lambda _: ["face"]) == (["face"], "")
    assert kit.held_out(loaded, broken, shown=False) == ([], "")
    faces, problem = kit.held_out(loaded, broken)
    assert faces == [] and problem.startswith("No held-out examples: the held-out images of `ddpm-faces`")
    assert "`faces_celeba`" in problem and "/srv" not in problem


def test_a_seed_box_can_be_empty_so_random_stays_random():
    """Gradio's number field shows and sends 0 for an empty value, which made the latent tab's "Random face" draw
    seed 0 every time: the seed box is text, and empty means a fresh random seed."""
    import gradio as gr

    with gr.Blocks():
        empty, zero = kit.seed_box(), kit.seed_box(0)
    assert isinstance(empty, gr.Textbox) and empty.value == "" and zero.value == "0"
    assert empty.label == "seed (empty: random)"
    assert len({inputs.seed(empty.preprocess(empty.value)) for _ in range(4)}) > 1
    assert inputs.seed(empty.preprocess(3)) == 3  # what gradio_client sends for a number
