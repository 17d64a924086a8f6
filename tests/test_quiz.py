"""Quiz logic, played directly (no Gradio): every face generator, the difficulties, discriminator rejection
sampling, and the deception leaderboard."""

import copy
import io
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import pair_pngs, wide_dcgan_export
from genhub.app.loading import LoadedModel, load_model
from genhub.app.registry import ModelSpec
from genhub.app.stats import QuizStats
from genhub.app.tabs.quiz import game as quiz_game
from genhub.app.tabs.quiz.game import REALS_PER_FAKE, SURPRISE, QuizGame, QuizModel, QuizState, load_game
from genhub.app.tabs.quiz.scores import leaderboard, summary
from genhub.data import DataError, DataSpec, load_split
from genhub.evaluation.intervals import wilson_interval
from genhub.images import center_crop_resize, quantise, to_pil, to_pixel_values
from genhub.models import DCGAN
from genhub.models.rejection_sampling import Rejection, rejection_sample


def test_wilson_interval_known_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(1 - high) and low < 0.5 < high


@pytest.fixture(scope="module")
def exports(tiny_export, tiny_vae_export, tiny_ddpm_export, tmp_path_factory) -> dict[str, tuple[str, str, Path]]:
    """Every face generator the quiz plays, as tiny exports: name -> (registry key, family, folder)."""
    wide = wide_dcgan_export(tiny_export, tmp_path_factory.mktemp("dcgan64"))
    return {"dcgan-32": ("dcgan-faces", "dcgan", tiny_export), "dcgan-64": ("dcgan-faces", "dcgan", wide),
            "vae-32": ("vae-faces", "vae", tiny_vae_export), "ddpm-16": ("ddpm-faces", "ddpm", tiny_ddpm_export)}


def loaded_export(exports, name: str) -> LoadedModel:
    key, family, folder = exports[name]
    loaded = load_model(key, ModelSpec(family, str(folder)))
    assert loaded.error is None
    return loaded


@pytest.fixture(scope="module")
def game(faces_dir):
    torch.manual_seed(0)
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4).eval()
    real = load_split(DataSpec(str(faces_dir), resolution=32), "test")
    return QuizGame([QuizModel("dcgan-faces", model, real)])


@pytest.fixture(scope="module")
def every_model(exports):
    """The game with the DCGAN (32 px), the VAE and the DDPM, as the app loads them."""
    return load_game(*(loaded_export(exports, name) for name in ("dcgan-32", "vae-32", "ddpm-16")))


def test_round_serves_two_identically_shaped_images_and_keeps_the_answer_server_side(game):
    left, right, state = game.new_round(QuizState())
    for image in (left, right):
        assert isinstance(image, Image.Image)
        assert (image.size, image.mode, image.info) == ((32, 32), "RGB", {})  # the browser enlarges them
    assert state.round.fake_side in (0, 1) and state.round.model_key == "dcgan-faces"
    assert (state.round.difficulty, state.round.surprise) == ("normal", True)
    assert all(0.0 <= p <= 1.0 for p in state.round.real_probability)


@pytest.mark.parametrize("name", ["dcgan-32", "dcgan-64", "vae-32", "ddpm-16"])
def test_every_model_serves_the_same_picture_format_at_every_difficulty_it_offers(exports, name):
    """Whatever the model's resolution (16, 32, 64 px) and difficulty: two RGB images at that resolution, no metadata;
    the fake drawn at the model's resolution and the real face brought to it; only a model with a discriminator
    rates the pair."""
    loaded = loaded_export(exports, name)
    game = load_game(loaded)
    entry = game.models[loaded.key]
    resolution = int(name.rsplit("-", 1)[1])
    assert entry.model.resolution == resolution
    expected = {"dcgan": ("normal", "truncated", "hard"), "vae": ("normal", "truncated"), "ddpm": ("normal",)}
    assert entry.difficulties == expected[loaded.spec.family]
    fakes = []
    real_draw = quiz_game.SAMPLERS[loaded.spec.family].draw

    def recording_draw(model, count, generator, psi):
        fakes.append(real_draw(model, count, generator, psi))
        return fakes[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(quiz_game.SAMPLERS, loaded.spec.family, quiz_game.Sampler(recording_draw, quiz_game.SAMPLERS[
            loaded.spec.family].truncates))
        for difficulty in entry.difficulties:
            left, right, state = game.new_round(QuizState(), loaded.key, difficulty)
            assert [(im.size, im.mode, im.info) for im in (left, right)] == [((resolution,) * 2, "RGB", {})] * 2
            assert fakes[-1].shape[-2:] == (resolution, resolution)
            assert (state.round.model_key, state.round.difficulty, state.round.surprise) == (
                loaded.key, difficulty, False)
            assert (state.round.real_probability is None) == (loaded.spec.family != "dcgan")
            text, state = game.guess(state, 0)
            assert f"made by **{loaded.key}**" in text and f"difficulty **{difficulty}**" in text
            assert f"{resolution}×{resolution} px" in text
            assert ("The discriminator rated" in text) == (loaded.spec.family == "dcgan")


def test_held_out_faces_are_prepared_once_with_their_discriminator_logits_and_ahead_by_the_pool(faces_dir):
    torch.manual_seed(0)
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4).eval()
    real = load_split(DataSpec(str(faces_dir), resolution=32), "test")
    game = QuizGame([QuizModel("dcgan-faces", model, real)])
    entry = game.models["dcgan-faces"]
    game.make_fakes("dcgan-faces", "normal", 3)  # a pool batch of 3 prepares 3 * REALS_PER_FAKE held-out faces too
    assert len(game._reals) == 3 * REALS_PER_FAKE < len(real)
    for (_, row), (image, logit) in game._reals.items():
        face = to_pixel_values(center_crop_resize(real.image(row), 32))
        assert np.array_equal(np.asarray(image), np.asarray(to_pil(face).convert("RGB")))  # exactly as shown
        assert logit == pytest.approx(float(model.discriminator(face[None]).detach().flatten()[0]), abs=1e-5)
        assert game._real(entry, row)[0] is image  # prepared once, not again
    game.pool.draw("dcgan-faces", "normal")  # the pool's first batch (and its held-out faces) made now
    with pytest.MonkeyPatch.context() as patch:  # a round shows a prepared face without preparing it again
        patch.setattr(game, "_prepare_reals", lambda *args: pytest.fail("prepared twice"))
        patch.setattr(game.rng, "randrange", lambda n: next(iter(game._reals))[1] if n > 2 else 0)
        left, right, state = game.new_round(QuizState())
    image, logit = game._real(entry, next(iter(game._reals))[1])
    shown = np.asarray(right if state.round.fake_side == 0 else left).astype(int)
    assert np.abs(shown - np.asarray(image).astype(int)).max() <= 1  # the prepared face, freshly dithered
    assert state.round.real_probability[1 - state.round.fake_side] == pytest.approx(1 / (1 + math.exp(-logit)))


def test_the_pair_is_two_inline_pngs_alike_but_for_their_pixels(game):
    left, right, _ = game.new_round(QuizState())
    html = quiz_game.pair_html(left, right)
    pngs = pair_pngs(html)
    assert len(pngs) == 2 and len(pngs[0]) == len(pngs[1])  # uncompressed: the length tells nothing
    for png, image in zip(pngs, (left, right)):
        opened = Image.open(io.BytesIO(png))
        assert (opened.format, opened.size, opened.mode, opened.info) == ("PNG", (32, 32), "RGB", {})
        assert np.array_equal(np.asarray(opened), np.asarray(image))
    tags = re.sub(r'src="[^"]*"', "", html).replace("left face", "SIDE face").replace("right face", "SIDE face")
    first, second = re.findall(r"<img[^>]*>", tags)
    assert first == second and "image-rendering: pixelated" in first and "width: 256px" in first
    assert re.sub(r'<img[^>]*>', "", tags) == '<div style="display: flex; justify-content: center"></div>'


def test_the_fake_side_holds_the_generator_sample(game, monkeypatch):
    # Force a known fake: an all-white "sample" (255, dithered down to 254 or kept); real faces are never white.
    game = QuizGame(list(game.models.values()))  # its own pool, made from the patched sampler
    model = game.models["dcgan-faces"].model
    monkeypatch.setattr(model, "sample", lambda n, generator=None, truncation_psi=1.0: torch.ones(n, 3, 32, 32))
    for _ in range(6):
        left, right, state = game.new_round(QuizState())
        fake = (left, right)[state.round.fake_side]
        real = (left, right)[1 - state.round.fake_side]
        assert fake.getextrema() == ((254, 255),) * 3
        assert min(low for low, _ in real.getextrema()) < 200


def test_each_family_draws_its_fake_as_its_row_says(every_model, monkeypatch):
    """The table of samplers: DCGAN and VAE get truncation_psi (0.7 when truncated, else 1), the DDPM its quiz
    number of DDIM steps and no truncation; each draws one batch of the pool with a seeded generator."""
    every_model = QuizGame(list(every_model.models.values()))  # empty pools: the first round of each makes a batch
    calls = {}
    for key, entry in every_model.models.items():
        original = entry.model.sample

        def recording(num_images, key=key, original=original, **kwargs):
            calls[key] = (num_images, kwargs)
            return original(num_images, **kwargs)

        monkeypatch.setattr(entry.model, "sample", recording)
    for key, difficulty, expected in [("dcgan-faces", "normal", {"truncation_psi": 1.0}),
                                      ("dcgan-faces", "truncated", {"truncation_psi": quiz_game.TRUNCATION_PSI}),
                                      ("vae-faces", "truncated", {"truncation_psi": 0.7}),
                                      ("ddpm-faces", "normal", {"num_inference_steps": 25})]:
        every_model.new_round(QuizState(), key, difficulty)
        count, kwargs = calls.pop(key)
        assert count == quiz_game.POOL_BATCH and isinstance(kwargs.pop("generator"), torch.Generator)
        assert kwargs == expected
    every_model.new_round(QuizState(), "dcgan-faces", "hard")
    count, kwargs = calls.pop("dcgan-faces")
    assert count == quiz_game.HARD_CANDIDATES and kwargs["truncation_psi"] == 1.0  # rejection sampling: plain draws


def test_difficulties_offered_and_refused_with_a_clear_message(every_model):
    assert every_model.difficulties() == ("normal", "truncated", "hard")  # "Surprise me": any model's
    assert [every_model.difficulties(key) for key in every_model.models] == [
        ("normal", "truncated", "hard"), ("normal", "truncated"), ("normal",)]
    refusals = [("vae-faces", "hard", "hard mode needs a GAN with a discriminator: vae-faces has none"),
                ("ddpm-faces", "hard", "hard mode needs a GAN with a discriminator: ddpm-faces has none"),
                ("ddpm-faces", "truncated", "truncated mode needs a latent code to truncate (a GAN or a VAE): "
                                            "ddpm-faces has none"),
                ("dcgan-faces", "impossible", "unknown difficulty 'impossible'; choose one of normal, truncated, hard"),
                ("nope", "normal", "model 'nope' is not in this quiz; choose one of Surprise me, dcgan-faces, "
                                   "vae-faces, ddpm-faces")]
    _, _, state = every_model.new_round(QuizState(), "dcgan-faces")
    open_round = state.round
    for key, difficulty, message in refusals:
        with pytest.raises(ValueError) as refused:
            every_model.new_round(state, key, difficulty)
        assert str(refused.value) == message
        assert state.round is open_round  # a refused choice keeps the round on screen answerable
    with pytest.raises(ValueError, match="model 'nope' is not in this quiz"):
        every_model.difficulties("nope")


def test_surprise_picks_only_models_supporting_the_difficulty(every_model, exports, monkeypatch):
    monkeypatch.setattr(every_model, "rng", random.Random(1))
    picked = {difficulty: {every_model.pick(SURPRISE, difficulty).key for _ in range(60)}
              for difficulty in ("normal", "truncated", "hard")}
    assert picked == {"normal": {"dcgan-faces", "vae-faces", "ddpm-faces"}, "truncated": {"dcgan-faces", "vae-faces"},
                      "hard": {"dcgan-faces"}}
    no_gan = load_game(loaded_export(exports, "vae-32"), loaded_export(exports, "ddpm-16"))
    assert no_gan.difficulties() == ("normal", "truncated")
    with pytest.raises(ValueError, match=r"^hard mode needs a GAN with a discriminator: none of this quiz's models "
                                         r"\(vae-faces, ddpm-faces\) has one$"):
        no_gan.new_round(QuizState(), SURPRISE, "hard")
    _, _, state = no_gan.new_round(QuizState(), SURPRISE, "truncated")
    assert state.round.surprise and state.round.model_key == "vae-faces"
    text, _ = no_gan.guess(state, 1)
    assert "made by **vae-faces** (VAE, 32×32 px, your surprise model) at difficulty **truncated**" in text


def test_both_images_are_dithered_afresh_within_one_level(game, monkeypatch):
    """The same round (same face, same sample, same side) played twice with the dither and once without: every
    pixel of both sides within 1 of the undithered one, about 2/3 of them moved on either side (uniform -1, 0,
    +1), and no two servings the same."""
    game = QuizGame(list(game.models.values()), pool_size=1, pool_batch=1)  # one fake: every round shows it
    game.new_round(QuizState())  # made now, so the rounds below draw the same numbers from their seeded rng

    def play(seed):
        monkeypatch.setattr(game, "rng", random.Random(seed))
        left, right, state = game.new_round(QuizState())
        return [np.asarray(image, dtype=np.int16) for image in (left, right)], state.round.fake_side

    for seed in range(3):
        first, fake_side = play(seed)
        second, _ = play(seed)
        with monkeypatch.context() as undithered:
            undithered.setattr(quiz_game, "dither", lambda image: image)
            clean, clean_fake_side = play(seed)
        assert clean_fake_side == fake_side
        for served, again, exact in zip(first, second, clean):
            assert np.abs(served - exact).max() == 1 and not np.array_equal(served, again)
            inside = (exact > 0) & (exact < 255)  # where clipping cannot hide a step
            assert 0.6 < (served != exact)[inside].mean() < 0.73


def test_dither_is_uniform_and_clipped():
    gray = Image.new("RGB", (100, 100), (0, 128, 255))
    steps = np.asarray(quiz_game.dither(gray), dtype=np.int16) - np.asarray(gray, dtype=np.int16)
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
    assert (state.discriminator_played, state.discriminator_correct) == (4, sum(outcomes))
    assert "3/4 = 75%" in summary(state) and "95% interval 30%–95%" in summary(state)


def test_the_discriminator_is_scored_only_on_rounds_whose_model_has_one(every_model):
    state = QuizState()
    for key in ("vae-faces", "ddpm-faces", "vae-faces"):
        _, _, state = every_model.new_round(state, key)
        _, state = every_model.guess(state, state.round.fake_side)
    assert (state.played, state.discriminator_played) == (3, 0) and "Discriminator" not in summary(state)
    _, _, state = every_model.new_round(state, "dcgan-faces")
    _, state = every_model.guess(state, 0)
    assert state.discriminator_played == 1 and f"**Discriminator:** {state.discriminator_correct}/1 = " in summary(
        state)


def test_a_round_can_be_answered_only_once(game):
    _, _, state = game.new_round(QuizState())
    _, state = game.guess(state, 0)
    with pytest.raises(ValueError, match="No open round"):
        game.guess(state, 1)
    with pytest.raises(ValueError, match="side must be"):
        game.guess(QuizState(), 2)


def test_a_game_refuses_what_it_cannot_play(game, faces_dir):
    entry = game.models["dcgan-faces"]
    with pytest.raises(ValueError, match="no face generator is ready for the quiz yet"):
        QuizGame([]).new_round(QuizState())
    with pytest.raises(ValueError, match="repeated model keys"):
        QuizGame([entry, entry])
    unknown = DCGAN(32, latent_dim=8, ngf=4, ndf=4)
    unknown.family = "progan"  # a family without a row in quiz.game.SAMPLERS
    with pytest.raises(ValueError, match="cannot sample family 'progan': add a row to quiz.game.SAMPLERS"):
        QuizGame([QuizModel("x", unknown, entry.real_images)])
    empty = load_split(DataSpec(str(faces_dir), resolution=32), "test")
    empty.table = empty.table.select([])
    with pytest.raises(DataError, match="dcgan-faces: the quiz needs at least one real image"):
        QuizGame([QuizModel("dcgan-faces", entry.model, empty)])


def test_a_new_export_replaces_its_fakes_and_keeps_its_own_totals(game, tmp_path):
    """A model's export is replaced while the app runs: its rounds come from the new one at once, and the totals of
    the two exports are recorded apart (the leaderboard never mixes versions)."""
    stats = QuizStats(tmp_path / "stats.sqlite")
    entry = game.models["dcgan-faces"]
    old = QuizModel(entry.key, entry.model, entry.real_images, export_id="0ld0ld00")
    live = QuizGame([old], stats=stats, pool_size=2, pool_batch=2)
    _, _, state = live.new_round(QuizState())
    live.guess(state, 0)
    assert live.pool.shown("dcgan-faces@0ld0ld00", "normal")
    new_model = copy.deepcopy(entry.model)
    live.update([QuizModel(entry.key, new_model, entry.real_images, export_id="n3wn3w00")])
    assert live.pool.shown("dcgan-faces@0ld0ld00", "normal") == []  # its fakes are gone
    _, _, state = live.new_round(QuizState())
    assert state.round.played_as == "dcgan-faces@n3wn3w00" and "**dcgan-faces** (DCGAN" in state.round.made_by
    live.guess(state, 1)
    assert set(stats.per_model()) == {"dcgan-faces@0ld0ld00", "dcgan-faces@n3wn3w00"}
    assert all(tally.played == 1 for tally in stats.per_model().values())


# ------------------------------------------------------------------------------------ rejection sampling
def drs_reference(logits: np.ndarray, max_logit: float, epsilon: float, percentile: float) -> np.ndarray:
    """Azadi et al. 2019, eq. 8, written out in numpy: sigmoid(F - gamma)."""
    d = logits - max_logit
    f = d - np.log(1 - np.exp(d - epsilon))
    gamma = np.quantile(f, percentile)
    return 1 / (1 + np.exp(-(f - gamma)))


def test_rejection_sampling_follows_the_paper_and_tracks_the_largest_logit():
    logits = torch.tensor([0.0, -1.0, -2.0, 1.0, 0.5])
    result = rejection_sample(logits, generator=torch.Generator().manual_seed(0), epsilon=1e-3)
    assert result.max_logit == 1.0  # no estimate yet: this batch's largest
    np.testing.assert_allclose(result.probability.numpy(), drs_reference(logits.double().numpy(), 1.0, 1e-3, 0.95))
    order = torch.argsort(logits)
    assert torch.all(result.probability[order].diff() > 0)  # the more "real" the logit, the likelier accepted
    assert rejection_sample(logits, max_logit=3.0).max_logit == 3.0  # a larger earlier estimate is kept
    assert rejection_sample(logits, max_logit=0.2).max_logit == 1.0  # and raised by a larger logit
    kept = rejection_sample(logits, max_logit=3.0, epsilon=1e-3).probability
    np.testing.assert_allclose(kept.numpy(), drs_reference(logits.double().numpy(), 3.0, 1e-3, 0.95))
    strict, lenient = (rejection_sample(logits, gamma_percentile=p).probability for p in (0.99, 0.5))
    assert torch.all(strict < lenient)  # a higher percentile accepts less


def test_rejection_sampling_keeps_what_the_discriminator_rates_most_real_reproducibly():
    # logits spread as a trained discriminator's are (standard deviation 3); sigmoid(F - gamma) selects more
    # softly when they spread less, and more sharply when they spread more
    logits = 3 * torch.randn(2000, generator=torch.Generator().manual_seed(7))
    for seed in range(5):
        result = rejection_sample(logits, generator=torch.Generator().manual_seed(seed))
        again = rejection_sample(logits, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(result.accepted, again.accepted)  # reproducible with a seed
        accepted = logits[result.accepted]
        assert 0 < len(accepted) < 0.15 * len(logits)
        assert accepted.mean() > logits.mean() + 3.0  # a standard deviation above the batch's mean (a coin flip: 0)
    other = rejection_sample(logits, generator=torch.Generator().manual_seed(99))
    assert not torch.equal(other.accepted, result.accepted)
    assert rejection_sample(logits).probability[logits.argmax()] > 0.99  # the candidate at D_M: almost surely


def test_rejection_sampling_refuses_bad_input():
    for bad in (torch.tensor([]), torch.tensor([0.0, math.nan]), torch.tensor([math.inf])):
        with pytest.raises(ValueError, match="at least one finite discriminator logit"):
            rejection_sample(bad)
    with pytest.raises(ValueError, match="gamma_percentile in"):
        rejection_sample(torch.zeros(3), gamma_percentile=1.5)
    with pytest.raises(ValueError, match="epsilon > 0"):
        rejection_sample(torch.zeros(3), epsilon=0.0)


class Brightness(torch.nn.Module):
    """A stand-in discriminator whose logit is the mean pixel value times 200 (logits spread over a few units, as
    a trained discriminator's do): "real" means bright."""

    def forward(self, images):
        return images.mean((1, 2, 3)) * 200


@pytest.fixture
def bright_game(faces_dir):
    """A DCGAN with varied samples (weights far from their tiny initial values) and the Brightness discriminator."""
    torch.manual_seed(0)
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4).eval()
    for weight in model.generator.parameters():
        torch.nn.init.normal_(weight, std=0.5)
    model.discriminator = Brightness()
    real = load_split(DataSpec(str(faces_dir), resolution=32), "test")
    return QuizGame([QuizModel("dcgan-faces", model, real)])


def test_hard_rounds_serve_fakes_the_discriminator_rates_more_real(bright_game, monkeypatch):
    monkeypatch.setattr(bright_game, "rng", random.Random(0))
    entry = bright_game.models["dcgan-faces"]

    def fake_logits(difficulty):
        generators = [torch.Generator().manual_seed(seed) for seed in range(12)]
        fakes = torch.cat([bright_game.fakes(entry, difficulty, 1, generator) for generator in generators])
        return Brightness()(fakes)

    normal, hard = fake_logits("normal"), fake_logits("hard")
    assert hard.mean() > normal.mean() + normal.std()  # well above what plain sampling serves
    candidates = quantise(entry.model.sample(64, generator=torch.Generator().manual_seed(0)))
    assert hard.min() > torch.quantile(Brightness()(candidates), 0.5)  # every hard fake beats the median candidate
    again = bright_game.fakes(entry, "hard", 1, torch.Generator().manual_seed(3))
    assert torch.equal(again, bright_game.fakes(entry, "hard", 1, torch.Generator().manual_seed(3)))  # seeded
    _, _, state = bright_game.new_round(QuizState(), "dcgan-faces", "hard")
    assert state.round.difficulty == "hard" and state.round.real_probability is not None


def test_hard_round_with_nothing_accepted_serves_the_best_candidate(bright_game, monkeypatch):
    entry = bright_game.models["dcgan-faces"]
    monkeypatch.setattr(quiz_game, "rejection_sample", lambda logits, max_logit, generator: Rejection(
        torch.zeros(len(logits), dtype=torch.bool), torch.zeros(len(logits)), float(logits.max())))
    served = bright_game.fakes(entry, "hard", 1, torch.Generator().manual_seed(5))[0]
    generator = torch.Generator().manual_seed(5)  # the same draws, batch after batch
    candidates = torch.cat([quantise(entry.model.sample(quiz_game.HARD_CANDIDATES, generator=generator))
                            for _ in range(quiz_game.HARD_BATCHES)])
    assert torch.equal(served, candidates[Brightness()(candidates).argmax()])


# ------------------------------------------------------------------------------------ loading and the leaderboard
def test_load_game_reads_the_held_out_split_named_by_the_export(tiny_export, faces_dir):
    loaded = load_model("dcgan-faces", ModelSpec("dcgan", str(tiny_export)))
    assert loaded.error is None and loaded.info["dataset"] == str(faces_dir)
    assert tuple(loaded.model.sample(2).shape) == (2, 3, 32, 32) and not loaded.model.training
    real = load_game(loaded).models["dcgan-faces"].real_images
    assert len(real) == 16 and real.resolution == 32
    assert list(real[0]) == ["pixel_values"] and real[0]["pixel_values"].shape == (3, 32, 32)
    lfw = load_game(loaded, dataset="lfw-subset").models["dcgan-faces"].real_images  # its image column found afresh
    assert lfw.source == "lfw-subset" and len(lfw) == 10
    with pytest.raises(DataError, match="dcgan-faces: the export names no training dataset"):
        load_game(LoadedModel(loaded.key, loaded.spec, loaded.model, info={}))
    with pytest.raises(ValueError, match="vae-faces is not loaded: no folder"):
        load_game(load_model("vae-faces", ModelSpec("vae", str(faces_dir / "absent"))))


def test_detectability_and_the_evaluate_command_come_from_the_export(tiny_export):
    loaded = load_model("dcgan-faces", ModelSpec("dcgan", str(tiny_export)))
    assert quiz_game.DETECTABILITY not in loaded.info.get("metrics", {})
    entry = quiz_game.quiz_model(loaded)
    assert entry.detectability is None and entry.evaluate_hint == "`genhub-evaluate EXPORT_FOLDER`"  # no server path
    loaded.info = {**loaded.info, "metrics": {**loaded.info.get("metrics", {}), quiz_game.DETECTABILITY: 0.875}}
    assert quiz_game.quiz_model(loaded).detectability == 0.875
    relative = LoadedModel("vae-faces", ModelSpec("vae", "checkpoints/vae-faces-64", local=True))
    repo = LoadedModel("vae-faces", ModelSpec("vae", "org/vae-faces@abc", local=False))
    assert quiz_game.evaluate_hint(relative) == "`genhub-evaluate checkpoints/vae-faces-64`"
    assert quiz_game.evaluate_hint(repo) == ("`hf download org/vae-faces --local-dir vae-faces` then "
                                        "`genhub-evaluate vae-faces`")


def test_deception_leaderboard_ranks_models_by_how_often_they_fool_players(game, tmp_path):
    stats = QuizStats(tmp_path / "quiz.sqlite")
    model, real = game.models["dcgan-faces"].model, game.models["dcgan-faces"].real_images
    dcgan = QuizModel("dcgan-faces", model, real, evaluate_hint="`genhub-evaluate ckpt/dcgan`")
    vae = QuizModel("vae-faces", model, real, detectability=0.625)
    ddpm = QuizModel("ddpm-faces", model, real, evaluate_hint="`genhub-evaluate ckpt/ddpm`")
    assert "no rounds played yet" in leaderboard(stats, [dcgan, vae, ddpm])
    assert leaderboard(None, [dcgan]) == ""
    # dcgan: fooled 1 of 4 (median 3.0 s); vae: fooled 9 of 10; "old-gan" is in the statistics only.
    for correct, seconds in [(True, 1.0), (True, 2.0), (False, 4.0), (True, 5.0)]:
        stats.record("dcgan-faces", correct, seconds, "hard" if seconds > 3 else "normal")
    for index in range(10):
        stats.record("vae-faces", index == 0, 2.0, "truncated")
    stats.record("old-gan", False, 8.0)
    text = leaderboard(stats, [dcgan, vae, ddpm])
    assert "**Everyone:** 15 rounds played; players spot the fake 27% of the time" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    fooled = wilson_interval(9, 10)
    assert rows[1] == (f"| vae-faces | 10 | 90% | {fooled[0]:.0%}–{fooled[1]:.0%} | 2.0 s | 62% |")
    once = wilson_interval(1, 1)
    assert rows[2] == f"| old-gan | 1 | 100% | {once[0]:.0%}–{once[1]:.0%} | 8.0 s | not played here |"
    quarter = wilson_interval(1, 4)
    assert rows[3] == (f"| dcgan-faces | 4 | 25% | {quarter[0]:.0%}–{quarter[1]:.0%} | 3.0 s | "
                       "not evaluated: `genhub-evaluate ckpt/dcgan` |")
    assert rows[4] == "| ddpm-faces | 0 | – | – | – | not evaluated: `genhub-evaluate ckpt/ddpm` |"  # never played
    by_difficulty = text[text.index("**By difficulty**"):]
    assert "| vae-faces | truncated | 10 | 90% |" in by_difficulty
    assert "| dcgan-faces | normal | 2 | 0% |" in by_difficulty and "| dcgan-faces | hard | 2 | 50% |" in by_difficulty
