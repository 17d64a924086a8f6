"""Quiz logic, played directly (no Gradio)."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from genhub.app.loading import LoadedModel, load_model
from genhub.app.registry import ModelSpec
from genhub.app.tabs import quiz
from genhub.app.tabs.quiz import QuizGame, QuizState, load_game, summary
from genhub.data import DataError, DataSpec, load_split
from genhub.evaluation.intervals import wilson_interval
from genhub.models import DCGAN


def test_wilson_interval_known_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(1 - high) and low < 0.5 < high


@pytest.fixture(scope="module")
def game(faces_dir):
    torch.manual_seed(0)
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4).eval()
    return QuizGame(model, load_split(DataSpec(str(faces_dir), resolution=32), "test"), display_size=96)


def test_round_serves_two_identically_shaped_images_and_keeps_the_answer_server_side(game):
    left, right, state = game.new_round(QuizState())
    for image in (left, right):
        assert isinstance(image, Image.Image)
        assert (image.size, image.mode, image.info) == ((96, 96), "RGB", {})
    assert state.round.fake_side in (0, 1)
    assert all(0.0 <= p <= 1.0 for p in state.round.real_probability)


def test_the_fake_side_holds_the_generator_sample(game, monkeypatch):
    # Force a known fake: an all-white "sample" (255, dithered down to 254 or kept); real faces are never white.
    monkeypatch.setattr(game.model, "sample", lambda n, generator=None: torch.ones(n, 3, 32, 32))
    for _ in range(6):
        left, right, state = game.new_round(QuizState())
        fake = (left, right)[state.round.fake_side]
        real = (left, right)[1 - state.round.fake_side]
        assert fake.getextrema() == ((254, 255),) * 3
        assert min(low for low, _ in real.getextrema()) < 200


def test_both_images_are_dithered_afresh_within_one_level(game, monkeypatch):
    """The same round (same face, same sample, same side) played twice with the dither and once without: every
    pixel of both sides within 1 of the undithered one, about 2/3 of them moved on either side (uniform -1, 0,
    +1), and no two servings the same."""
    def play(seed):
        monkeypatch.setattr(game, "rng", random.Random(seed))
        left, right, state = game.new_round(QuizState())
        return [np.asarray(image, dtype=np.int16) for image in (left, right)], state.round.fake_side

    for seed in range(3):
        first, fake_side = play(seed)
        second, _ = play(seed)
        with monkeypatch.context() as undithered:
            undithered.setattr(quiz, "dither", lambda image: image)
            clean, clean_fake_side = play(seed)
        assert clean_fake_side == fake_side
        for served, again, exact in zip(first, second, clean):
            assert np.abs(served - exact).max() == 1 and not np.array_equal(served, again)
            inside = (exact > 0) & (exact < 255)  # where clipping cannot hide a step
            assert 0.6 < (served != exact)[inside].mean() < 0.73


def test_dither_is_uniform_and_clipped():
    gray = Image.new("RGB", (100, 100), (0, 128, 255))
    steps = np.asarray(quiz.dither(gray), dtype=np.int16) - np.asarray(gray, dtype=np.int16)
    counts = [np.mean(steps[:, :, 1] == step) for step in (-1, 0, 1)]
    assert all(0.3 < count < 0.37 for count in counts), counts  # 10,000 draws: 1/3 +- 5 standard deviations
    assert set(np.unique(steps[:, :, 0])) == {0, 1} and set(np.unique(steps[:, :, 2])) == {-1, 0}


def test_scoring_streak_and_discriminator_tally(game):
    state = QuizState()
    outcomes = []
    for guess_right in (True, True, False, True):
        _, _, state = game.new_round(state)
        fake, probability = state.round.fake_side, state.round.real_probability
        discriminator_right = (0 if probability[0] < probability[1] else 1) == fake
        text, state = game.guess(state, fake if guess_right else 1 - fake)
        outcomes.append(discriminator_right)
        assert ("Right!" in text) == guess_right and ("fake was on the **" + ("left", "right")[fake]) in text
    assert (state.played, state.correct, state.streak, state.best_streak) == (4, 3, 1, 2)
    assert state.discriminator_correct == sum(outcomes)
    assert "3/4 = 75%" in summary(state) and "95% interval 30%–95%" in summary(state)


def test_a_round_can_be_answered_only_once(game):
    _, _, state = game.new_round(QuizState())
    _, state = game.guess(state, 0)
    with pytest.raises(ValueError, match="No open round"):
        game.guess(state, 1)
    with pytest.raises(ValueError, match="side must be"):
        game.guess(QuizState(), 2)


def test_load_game_reads_the_held_out_split_named_by_the_export(tiny_export, faces_dir):
    loaded = load_model("dcgan-faces", ModelSpec("dcgan", str(tiny_export)))
    assert loaded.error is None and loaded.info["dataset"] == str(faces_dir)
    assert tuple(loaded.model.sample(2).shape) == (2, 3, 32, 32) and not loaded.model.training
    game = load_game(loaded)
    assert len(game.real_images) == 16 and game.real_images.resolution == 32
    assert list(game.real_images[0]) == ["pixel_values"] and game.real_images[0]["pixel_values"].shape == (3, 32, 32)
    lfw = load_game(loaded, dataset="lfw-subset")  # another source: its image column found afresh
    assert lfw.real_images.source == "lfw-subset" and len(lfw.real_images) == 10
    with pytest.raises(DataError, match="dcgan-faces: the export names no training dataset"):
        load_game(LoadedModel(loaded.key, loaded.spec, loaded.model, info={}))


def test_missing_model_explains_how_to_get_it(tmp_path):
    loaded = load_model("dcgan-faces", ModelSpec("dcgan", str(tmp_path / "nothing"), "make starter"))
    assert loaded.model is None and "no folder" in loaded.error
    assert "make starter" in loaded.missing_message and "--model dcgan-faces=" in loaded.missing_message
    assert loaded.missing_message.startswith(f"Model **dcgan-faces** is not available (no folder `{tmp_path}")
    assert loaded.info == {}
