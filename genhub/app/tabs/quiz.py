""""Which face is fake?": one real held-out face beside one fresh GAN sample; the player clicks the fake.

The answer, and the discriminator's opinion, stay in server-side session state until the
guess: both images go through the same path (model resolution -> uint8 -> same upscale -> fresh
+-1 dither -> uncompressed PNG with no metadata, in a folder with a random name), so nothing but
the pixels tells them apart: every file's length is the same, and no file is ever served twice,
so a client that remembers what it was sent cannot recognise a real face coming back.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from genhub.app.loading import LoadedModel, held_out, unavailable
from genhub.app.serving import handler, served_png
from genhub.app.stats import QuizStats
from genhub.data import DataError, ImageDataset
from genhub.evaluation.intervals import wilson_interval
from genhub.images import center_crop_resize, to_pil, to_pixel_values
from genhub.models import DCGAN
from genhub.shipped import ABOUT

SIDES = ("left", "right")
DISPLAY_SIZE = 256
#: ZeroGPU seconds a round may hold a GPU (one sample and two discriminator scores).
GPU_SECONDS = 20


@dataclass
class Round:
    """One pair on screen. ``fake_side`` and ``real_probability`` never leave the server before the guess."""

    fake_side: int
    real_probability: tuple[float, float]  # the discriminator's P(real) for (left, right)
    started: float


@dataclass
class QuizState:
    """One player's session: the open round (if any) and the running score."""

    round: Round | None = None
    played: int = 0
    correct: int = 0
    streak: int = 0
    best_streak: int = 0
    discriminator_correct: int = 0


class QuizGame:
    """The game for one GAN and one set of held-out real faces.

    Parameters:
        model: the DCGAN (generator + discriminator).
        real_images: held-out real faces; cropped and resized to the GAN's resolution.
        display_size: side in pixels of the images shown (both upscaled identically, Lanczos).
        stats: where finished rounds are recorded for everyone's totals (None: not recorded).
        model_key: the registry key recorded with each round.
    """

    def __init__(self, model: DCGAN, real_images: ImageDataset, display_size: int = DISPLAY_SIZE,
                 stats: QuizStats | None = None, model_key: str = "dcgan-faces"):
        if len(real_images) == 0:
            raise DataError("the quiz needs at least one real image")
        self.model, self.real_images, self.display_size = model, real_images, display_size
        self.stats, self.model_key = stats, model_key
        self.rng = random.SystemRandom()

    def _display(self, pixel_values: torch.Tensor) -> Image.Image:
        return dither(to_pil(pixel_values).resize((self.display_size, self.display_size), Image.Resampling.LANCZOS))

    def new_round(self, state: QuizState) -> tuple[Image.Image, Image.Image, QuizState]:
        """Start a round: returns (left image, right image, state). Any unanswered round is dropped.

        Both images are upscaled identically and then :func:`dither`-ed afresh, so a real face shown again
        never comes back as the same pixels (each within 1 of the undithered picture: the game is unchanged).
        """
        row = self.rng.randrange(len(self.real_images))
        real_image = center_crop_resize(self.real_images.image(row), self.model.resolution)
        real = to_pixel_values(real_image)
        seed = self.rng.randrange(2**63)
        fake = self.model.sample(1, generator=torch.Generator().manual_seed(seed))[0].cpu()
        fake = to_pixel_values(to_pil(fake))  # quantise to 8 bits exactly as the real one was
        fake_side = self.rng.randrange(2)
        pair = [real, real]
        pair[fake_side] = fake
        probability = self.model.real_probability(torch.stack(pair)).tolist()
        state.round = Round(fake_side, (probability[0], probability[1]), time.monotonic())
        return self._display(pair[0]), self._display(pair[1]), state

    def guess(self, state: QuizState, side: int) -> tuple[str, QuizState]:
        """Score a guess (0 = left, 1 = right) and reveal the round; returns (markdown verdict, state).

        Raises:
            ValueError: no open round (already answered, or none started) or a side other than 0/1.
        """
        if side not in (0, 1):
            raise ValueError(f"side must be 0 (left) or 1 (right), got {side}")
        current = state.round
        if current is None:
            raise ValueError("No open round: press 'New round' first.")
        state.round = None
        right = side == current.fake_side
        discriminator_side = 0 if current.real_probability[0] < current.real_probability[1] else 1
        discriminator_right = discriminator_side == current.fake_side
        state.played += 1
        state.correct += right
        state.discriminator_correct += discriminator_right
        state.streak = state.streak + 1 if right else 0
        state.best_streak = max(state.best_streak, state.streak)
        seconds = time.monotonic() - current.started
        if self.stats is not None:
            self.stats.record(self.model_key, right, seconds)
        verdict = "Right!" if right else "Fooled!"
        return (
            f"### {verdict} The fake was on the **{SIDES[current.fake_side]}**.\n\n"
            f"You answered in {seconds:.1f} s. The discriminator rated the left image "
            f"{current.real_probability[0]:.0%} real and the right one {current.real_probability[1]:.0%} real, "
            f"so it would have picked the **{SIDES[discriminator_side]}** "
            f"({'right' if discriminator_right else 'wrong'}).",
            state,
        )


def dither(image: Image.Image) -> Image.Image:
    """``image`` (8-bit) with independent, uniformly random -1, 0 or +1 added to every channel of every pixel
    (clipped to 0-255), from fresh OS entropy: invisible, but no two results are ever the same bytes."""
    pixels = np.asarray(image, dtype=np.int16)
    noise = np.random.default_rng().integers(-1, 2, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def summary(state: QuizState) -> str:
    """Score, streak and accuracy with a 95% interval, player vs discriminator, as markdown."""
    if state.played == 0:
        return "No rounds yet. Click the face you think the GAN made."
    low, high = wilson_interval(state.correct, state.played)
    d_low, d_high = wilson_interval(state.discriminator_correct, state.played)
    return (
        f"**You:** {state.correct}/{state.played} = {state.correct / state.played:.0%} "
        f"(95% interval {low:.0%}–{high:.0%}) · streak {state.streak} · best {state.best_streak}\n\n"
        f"**Discriminator:** {state.discriminator_correct}/{state.played} = "
        f"{state.discriminator_correct / state.played:.0%} (95% interval {d_low:.0%}–{d_high:.0%})\n\n"
        f"50% is chance: an interval that contains 50% means the fakes fool you as often as not."
    )


def everyone_summary(stats: QuizStats | None) -> str:
    """Totals across all players and a per-model table, as markdown."""
    if stats is None:
        return ""
    total = stats.totals()
    if total.played == 0:
        return "**Everyone:** no rounds played yet."
    low, high = total.interval
    rows = "\n".join(f"| {model} | {tally.played} | {tally.rate:.0%} | "
                     f"{tally.interval[0]:.0%}–{tally.interval[1]:.0%} |" for model, tally in stats.per_model().items())
    return (f"**Everyone:** {total.played} round{'s' * (total.played != 1)} played; players spot the fake "
            f"{total.rate:.0%} of the time (95% interval {low:.0%}–{high:.0%}).\n\n"
            "| model | rounds | spotted | 95% interval |\n"
            f"| --- | --- | --- | --- |\n{rows}")


def load_game(loaded: LoadedModel, dataset: str | None = None, stats: QuizStats | None = None) -> QuizGame:
    """The game for a loaded GAN, with real faces from the ``test`` split of ``dataset``
    (default: the dataset named in the export's ``training_info.json``).

    Raises:
        DataError: no dataset is known, or it cannot be loaded.
    """
    return QuizGame(loaded.model, held_out(loaded, source=dataset), stats=stats, model_key=loaded.key)


def build(demo, models: dict[str, LoadedModel], dataset: str | None = None, stats: QuizStats | None = None) -> None:
    """Lay out the tab inside the current ``gr.Tab`` for the first model of ``models`` (a DCGAN) and wire its
    events (api names: ``new_round``, ``guess_left``, ``guess_right``, ``everyone``).

    ``dataset`` replaces the export's training dataset as the source of real faces; ``stats`` records every
    finished round (None: not recorded).
    """
    import gradio as gr

    loaded = next(iter(models.values()))
    if loaded.model is None:
        gr.Markdown(loaded.missing_message)
        return
    try:
        game = load_game(loaded, dataset, stats)
    except DataError as error:
        gr.Markdown(f"The quiz needs held-out real faces: {unavailable(loaded, error)}.")
        return
    gr.Markdown("## Which face is fake?\nOne face is a real photo from the held-out set, the other was "
                f"just made by the GAN (`{loaded.key}`, {loaded.model.resolution}×{loaded.model.resolution}). "
                "Click the fake." + (f"\n\n{ABOUT[loaded.info['dataset']]}" if loaded.info.get("dataset") in ABOUT
                                     else ""))
    _wire(demo, game, stats, _layout())


def _layout() -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace(state=gr.State(QuizState()), images=[], guesses=[])  # the state is deep-copied per session
    with gr.Row():
        for side in SIDES:
            with gr.Column():
                ui.images.append(gr.Image(label=side, format="png", interactive=False, buttons=[],
                                          height=DISPLAY_SIZE))
                ui.guesses.append(gr.Button(f"The {side} one is fake", variant="primary"))
    ui.verdict = gr.Markdown()
    ui.score = gr.Markdown(summary(QuizState()))
    ui.new_round = gr.Button("New round")
    ui.everyone = gr.Markdown()
    return ui


def _wire(demo, game: QuizGame, stats: QuizStats | None, ui: SimpleNamespace) -> None:
    import gradio as gr

    @handler(gpu_seconds=GPU_SECONDS)
    def start(current: QuizState):
        left_image, right_image, current = game.new_round(current)
        return (served_png(left_image, fixed_length=True), served_png(right_image, fixed_length=True), "", current,
                gr.update(interactive=True), gr.update(interactive=True))

    def answer(side: int):
        @handler(gpu_seconds=None)  # reads the session's round: no model runs
        def guess(current: QuizState):
            text, current = game.guess(current, side)
            return (text, summary(current), everyone_summary(stats), current, gr.update(interactive=False),
                    gr.update(interactive=False))
        return guess

    @handler(gpu_seconds=None)  # reads the shared statistics
    def everyone():
        return everyone_summary(stats)

    round_outputs = [*ui.images, ui.verdict, ui.state, *ui.guesses]
    ui.new_round.click(start, ui.state, round_outputs, api_name="new_round")
    demo.load(start, ui.state, round_outputs, api_visibility="private")
    demo.load(everyone, None, ui.everyone, api_name="everyone")
    answer_outputs = [ui.verdict, ui.score, ui.everyone, ui.state, *ui.guesses]
    for side, button in enumerate(ui.guesses):
        button.click(answer(side), ui.state, answer_outputs, api_name=f"guess_{SIDES[side]}")
