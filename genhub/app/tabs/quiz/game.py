"""The game of "Which face is fake?": how each family draws a fake (:data:`SAMPLERS`), the models it plays
(:class:`QuizModel`), a player's state and rounds, and :class:`QuizGame`, which makes a round and scores a guess.

The answer (the fake's side), the model of a "Surprise me" round and the discriminator's ratings stay in
server-side session state until the guess. Both images go through the same path whatever the model (the model's
resolution -> uint8 -> RGB -> fresh +-1 dither -> uncompressed PNG with no metadata, inline in the round's HTML;
the browser enlarges both to the same box with the same style), so nothing but the pixels tells them apart: both
images of a round have the same length and mode, and no image is ever sent twice, so a client that remembers what
it was sent cannot recognise a real face coming back. No file is written (nothing to fetch, nothing to expire).
What the pixels themselves show is the model's resolution (a 16 px model looks coarser than a 64 px one). Fakes
come from a :class:`~genhub.app.fake_pool.FakePool` made ahead in batches, so a round's response time does not
depend on the model's sampling cost.

A family joins the quiz with one row of :data:`SAMPLERS`: its registry keys (:data:`KEYS`) follow.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from genhub.app.fake_pool import FakePool
from genhub.app.families import ENTRIES
from genhub.app.loading import LoadedModel, held_out
from genhub.app.serving import DISPLAY_SIZE, inline_png
from genhub.app.stats import QuizStats
from genhub.data import DataError, ImageDataset
from genhub.images import center_crop_resize, quantise, to_pil, to_pixel_values
from genhub.models import GenhubModel
from genhub.models.rejection_sampling import discriminator_logits, has_discriminator, rejection_sample

SIDES = ("left", "right")
#: Fakes kept ready per (model, difficulty), and made per batch (see :class:`~genhub.app.fake_pool.FakePool`).
POOL_SIZE = 64
POOL_BATCH = 8
#: Held-out faces prepared per fake the pool makes, until every face is prepared: a fresh server's rounds then
#: seldom decode and score one themselves (at one per fake they did: 19% of the server's samples under 32 players).
REALS_PER_FAKE = 4
#: ZeroGPU seconds a round may hold a GPU (a DDPM's denoising steps, or hard mode's candidates and their scores).
GPU_SECONDS = 20
#: The model choice that plays a random model (among those supporting the difficulty), revealed with the answer.
SURPRISE = "Surprise me"
DIFFICULTIES = ("normal", "truncated", "hard")
#: ψ of "truncated" rounds: z' = ψ z (see :meth:`genhub.models.DCGAN.sample`).
TRUNCATION_PSI = 0.7
#: DDIM steps of a DDPM fake (its ``sample`` default is 50; 25 keeps a round near a second on one CPU thread).
DDPM_QUIZ_STEPS = 25
#: "hard" rounds: candidates drawn per batch of discriminator rejection sampling, and batches before giving up.
HARD_CANDIDATES = 32
HARD_BATCHES = 4
#: The metric of ``training_info.json`` the leaderboard shows beside each model (written by ``genhub-evaluate``).
DETECTABILITY = "detectability (pixel CNN)"


# ------------------------------------------------------------------------------------ how each family draws
def _sample_latent(model: GenhubModel, count: int, generator: torch.Generator, truncation_psi: float) -> torch.Tensor:
    return model.sample(count, generator=generator, truncation_psi=truncation_psi)


def _sample_ddpm(model: GenhubModel, count: int, generator: torch.Generator, truncation_psi: float) -> torch.Tensor:
    return model.sample(count, generator=generator, num_inference_steps=DDPM_QUIZ_STEPS)  # no latent to truncate


@dataclass(frozen=True)
class Sampler:
    """How the quiz draws fakes from one family.

    Parameters:
        draw: ``(model, count, generator, truncation_psi) -> (count, C, H, W)`` in [-1, 1], at the model's resolution.
        truncates: whether ``draw`` honours ``truncation_psi`` (the family samples a latent code that can be
            truncated), i.e. whether "truncated" rounds are offered for it.
    """

    draw: Callable[[GenhubModel, int, torch.Generator, float], torch.Tensor]
    truncates: bool


#: family -> how it draws a fake. A new unconditional face family adds one row.
SAMPLERS: dict[str, Sampler] = {
    "dcgan": Sampler(_sample_latent, truncates=True),
    "vae": Sampler(_sample_latent, truncates=True),
    "stylegan": Sampler(_sample_latent, truncates=True),  # truncation in w: w_avg + psi (w - w_avg)
    "ddpm": Sampler(_sample_ddpm, truncates=False),
}
#: Every face generator the quiz plays: the registry keys of a family with a :data:`SAMPLERS` row.
KEYS = tuple(key for key, entry in ENTRIES.items() if entry.spec.family in SAMPLERS)
#: difficulty -> what a model needs for it, for the refusal message.
NEEDS = {"truncated": "a latent code to truncate (a GAN or a VAE)", "hard": "a GAN with a discriminator"}
#: difficulty -> what it means, for the page and the verdict.
DIFFICULTY_NOTES = {
    "normal": "a plain sample",
    "truncated": f"the truncation trick, latent code scaled by ψ = {TRUNCATION_PSI} towards the mode: a more "
                 "typical face",
    "hard": "discriminator rejection sampling (Azadi et al. 2019): a candidate the discriminator accepted as real",
}


def supports(model: GenhubModel, difficulty: str) -> bool:
    """Whether the quiz can play ``model`` at ``difficulty`` (one of :data:`DIFFICULTIES`).

    Raises:
        ValueError: an unknown difficulty, or a family without a :data:`SAMPLERS` row.
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; choose one of {', '.join(DIFFICULTIES)}")
    if model.family not in SAMPLERS:
        raise ValueError(f"the quiz cannot sample family {model.family!r}: add a row to quiz.game.SAMPLERS")
    return {"normal": True, "truncated": SAMPLERS[model.family].truncates,
            "hard": has_discriminator(model)}[difficulty]



# ------------------------------------------------------------------------------------ the game
@dataclass(frozen=True)
class QuizModel:
    """One face generator in the quiz.

    Parameters:
        key: its registry key (recorded with each round).
        model: the generator (its family has a :data:`SAMPLERS` row; ``model.resolution`` is its side in pixels).
        real_images: the held-out real faces shown beside its fakes (cropped and resized to its resolution).
        detectability: its ``genhub-evaluate`` pixel-CNN detectability in [0, 1] (None: not evaluated).
        evaluate_hint: markdown telling how to evaluate it, shown when ``detectability`` is None.
        export_id: which export of ``key`` this is (:attr:`genhub.app.loading.LoadedModel.export_id`; "": one
            that never changes): rounds, fakes and totals are kept per export (:attr:`played_as`).
    """

    key: str
    model: GenhubModel
    real_images: ImageDataset
    detectability: float | None = None
    evaluate_hint: str = ""
    export_id: str = ""

    @property
    def played_as(self) -> str:
        """The name its rounds are recorded and its fakes pooled under: ``key@export_id`` (``key`` without an id), so
        the totals of two exports of one key are never mixed."""
        return f"{self.key}@{self.export_id}" if self.export_id else self.key

    @property
    def difficulties(self) -> tuple[str, ...]:
        """The difficulties it can be played at, in :data:`DIFFICULTIES` order."""
        return tuple(difficulty for difficulty in DIFFICULTIES if supports(self.model, difficulty))


@dataclass
class Round:
    """One pair on screen. Nothing of it leaves the server before the guess."""

    fake_side: int
    model_key: str
    played_as: str  # the export that made the fake (QuizModel.played_as): recorded with the guess
    made_by: str  # markdown naming the model, its family and resolution, for the reveal
    difficulty: str
    surprise: bool  # the player chose "Surprise me"
    real_probability: tuple[float, float] | None  # the discriminator's P(real) for (left, right); None: it has none
    started: float


@dataclass
class QuizState:
    """One player's session: the open round (if any) and the running score."""

    round: Round | None = None
    played: int = 0
    correct: int = 0
    streak: int = 0
    best_streak: int = 0
    discriminator_played: int = 0  # rounds whose model has a discriminator
    discriminator_correct: int = 0


class QuizGame:
    """The game for a set of face generators, each with its held-out real faces.

    Parameters:
        models: the generators, in the order they are offered (keys unique; none yet is allowed: rounds are then
            refused until :meth:`update` brings one).
        stats: where finished rounds are recorded for everyone's totals (None: not recorded).
        pool_size, pool_batch: fakes kept ready per (model, difficulty) and made per batch. The pool is filled by
            the rounds themselves until :meth:`start_pool` runs its worker.

    Raises:
        ValueError: a repeated key, or a family without a :data:`SAMPLERS` row.
        DataError: a model without real images.
    """

    def __init__(self, models: Sequence[QuizModel], stats: QuizStats | None = None, pool_size: int = POOL_SIZE,
                 pool_batch: int = POOL_BATCH):
        self.stats = stats
        self.rng = random.SystemRandom()
        # per export (QuizModel.played_as): D̃_M shared by every player (rejection sampling); (export, held-out row) ->
        # the face as shown (RGB at the model's resolution) and D̃ of it (None: no D); rows the pool prepares next
        self._max_logits: dict[str, float] = {}
        self._reals: dict[tuple[str, int], tuple[Image.Image, float | None]] = {}
        self._unprepared: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self.pool = FakePool(self.make_fakes, pool_size, min(pool_batch, pool_size))
        self._pool_started = False
        self.models: dict[str, QuizModel] = {}
        self._playing: dict[str, QuizModel] = {}
        self.update(models)

    def update(self, models: Sequence[QuizModel]) -> None:
        """Play ``models`` from now on (the models whose exports were replaced, added or dropped while the app runs):
        a replaced export's fakes, faces and statistics are forgotten, a new one's pools are made ahead. A round open
        with a replaced export is still scored as it was played.

        Raises:
            ValueError, DataError: as the constructor; the quiz is then left as it was.
        """
        playing = {entry.played_as: entry for entry in models}
        if len({entry.key for entry in models}) != len(models):
            raise ValueError(f"repeated model keys: {[entry.key for entry in models]}")
        for entry in models:
            supports(entry.model, "normal")  # refuses a family without a sampler now, not in the first round
            if len(entry.real_images) == 0:
                raise DataError(f"{entry.key}: the quiz needs at least one real image")
        with self._lock:
            for gone in set(self._playing) - set(playing):
                self.pool.forget(gone)
                self._max_logits.pop(gone, None)
                self._unprepared.pop(gone, None)
                self._reals = {place: face for place, face in self._reals.items() if place[0] != gone}
            for name, entry in playing.items():
                self._unprepared.setdefault(name, self.rng.sample(range(len(entry.real_images)),
                                                                  len(entry.real_images)))
            self.models, self._playing = {entry.key: entry for entry in models}, playing
        if self._pool_started:
            self._prepare_pools()

    def start_pool(self) -> None:
        """Fill every (model, difficulty) pool and keep refreshing the shown fakes in a background thread."""
        self._pool_started = True
        self._prepare_pools()
        self.pool.start()

    def _prepare_pools(self) -> None:
        self.pool.prepare([(name, difficulty) for name, entry in self._playing.items()
                           for difficulty in entry.difficulties])

    def difficulties(self, choice: str = SURPRISE) -> tuple[str, ...]:
        """The difficulties offered for ``choice`` (a model key or :data:`SURPRISE`: those of any model).

        Raises:
            ValueError: ``choice`` is not in the quiz.
        """
        if choice == SURPRISE:
            return tuple(d for d in DIFFICULTIES if any(d in entry.difficulties for entry in self.models.values()))
        return self._entry(choice).difficulties

    def _entry(self, key: str) -> QuizModel:
        if key not in self.models:
            raise ValueError(f"model {key!r} is not in this quiz; choose one of {', '.join([SURPRISE, *self.models])}")
        return self.models[key]

    def pick(self, choice: str, difficulty: str) -> QuizModel:
        """The model of a round: ``choice`` itself, or for :data:`SURPRISE` a random one supporting ``difficulty``.

        Raises:
            ValueError: an unknown difficulty or model, or a difficulty the model (every model, for a surprise)
                does not support, e.g. "hard mode needs a GAN with a discriminator: vae-faces has none".
        """
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"unknown difficulty {difficulty!r}; choose one of {', '.join(DIFFICULTIES)}")
        if not self.models:
            raise ValueError("no face generator is ready for the quiz yet")
        if choice != SURPRISE:
            entry = self._entry(choice)
            if difficulty not in entry.difficulties:
                raise ValueError(f"{difficulty} mode needs {NEEDS[difficulty]}: {entry.key} has none")
            return entry
        candidates = [entry for entry in self.models.values() if difficulty in entry.difficulties]
        if not candidates:
            raise ValueError(f"{difficulty} mode needs {NEEDS[difficulty]}: none of this quiz's models "
                             f"({', '.join(self.models)}) has one")
        return self.rng.choice(candidates)

    def new_round(self, state: QuizState, choice: str = SURPRISE, difficulty: str = "normal"
                  ) -> tuple[Image.Image, Image.Image, QuizState]:
        """Start a round with the model ``choice`` (a key of :attr:`models`, or :data:`SURPRISE`) at ``difficulty``;
        returns (left image, right image, state), both RGB at the model's resolution. Any unanswered round is
        dropped; a refused choice (see :meth:`pick`) leaves the state as it was.

        The fake comes from the model's pool (:meth:`make_fakes`) and the real face is cropped and resized to the
        model's resolution; both are quantised to 8 bits and then :func:`dither`-ed afresh, so a face shown again
        never comes back as the same pixels (each within 1 of the undithered picture: the game is unchanged).
        """
        entry = self.pick(choice, difficulty)
        real, real_logit = self._real(entry, self.rng.randrange(len(entry.real_images)))
        fake, fake_logit = self.pool.draw(entry.played_as, difficulty)
        fake_side = self.rng.randrange(2)
        pair = [real, real]
        pair[fake_side] = to_pil(fake).convert("RGB")  # RGB whatever the channels: one mode, one length
        probability = None
        if fake_logit is not None:
            logits = [real_logit, real_logit]
            logits[fake_side] = fake_logit
            probability = tuple(torch.sigmoid(torch.tensor(logits)).tolist())
        side = entry.model.resolution
        made_by = f"**{entry.key}** ({type(entry.model).__name__}, {side}×{side} px"
        state.round = Round(fake_side, entry.key, entry.played_as, made_by, difficulty, choice == SURPRISE, probability,
                            time.monotonic())
        return dither(pair[0]), dither(pair[1]), state

    def _real(self, entry: QuizModel, row: int) -> tuple[Image.Image, float | None]:
        """Held-out face ``row`` as shown: RGB at the model's resolution, and the discriminator's logit of it
        (None: the model has none). Prepared once per model and face."""
        if (entry.played_as, row) not in self._reals:
            self._prepare_reals(entry, [row])
        return self._reals[(entry.played_as, row)]

    def _prepare_reals(self, entry: QuizModel, rows: list[int]) -> None:
        """Crop and resize held-out faces ``rows`` to the model's resolution and score them in one batch."""
        reals = torch.stack([to_pixel_values(center_crop_resize(entry.real_images.image(row), entry.model.resolution))
                             for row in rows])
        logits = discriminator_logits(entry.model, reals).tolist() if has_discriminator(entry.model) else None
        for index, row in enumerate(rows):
            self._reals[(entry.played_as, row)] = (to_pil(reals[index]).convert("RGB"),
                                             None if logits is None else logits[index])

    def make_fakes(self, played_as: str, difficulty: str, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``count`` fresh fakes of the export ``played_as`` (:attr:`QuizModel.played_as`; a registry key when its
        export has no id) at ``difficulty`` (see :meth:`fakes`), from OS entropy, with the
        discriminator's logits when the model has one: (float (count, C, H, W), float32 (count,) or None).
        :data:`REALS_PER_FAKE` held-out faces not yet prepared per fake are prepared on the way (:meth:`_real`), so
        rounds rarely wait for one."""
        # a round that picked an export just replaced draws from the key's new one (no round fails at a swap)
        entry = self._playing.get(played_as) or self._entry(played_as.partition("@")[0])
        generator = torch.Generator().manual_seed(self.rng.randrange(2**63))
        fakes = self.fakes(entry, difficulty, count, generator)
        with self._lock:  # and held-out faces, prepared ahead of the rounds that show them
            left = self._unprepared.get(entry.played_as, [])
            rows = [left.pop() for _ in range(min(REALS_PER_FAKE * count, len(left)))]
        rows = [row for row in rows if (entry.played_as, row) not in self._reals]
        if rows:
            self._prepare_reals(entry, rows)
        return fakes, discriminator_logits(entry.model, fakes) if has_discriminator(entry.model) else None

    def fakes(self, entry: QuizModel, difficulty: str, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` fakes of ``entry`` at ``difficulty``, quantised to 8 bits as the real faces are: float
        (count, C, H, W) in [-1, 1] at the model's resolution. "hard": the candidates :func:`rejection_sample`
        accepts, in order, from batches of :data:`HARD_CANDIDATES` (at most :data:`HARD_BATCHES` batches per fake);
        if too few are, the rest are the rejected candidates with the largest logits."""
        draw = SAMPLERS[entry.model.family].draw
        if difficulty != "hard":
            psi = TRUNCATION_PSI if difficulty == "truncated" else 1.0
            return quantise(draw(entry.model, count, generator, psi))
        accepted, rejected, rejected_logits = [], [], []
        for _ in range(HARD_BATCHES * count):
            candidates = quantise(draw(entry.model, HARD_CANDIDATES, generator, 1.0))  # judged as they are shown
            logits = discriminator_logits(entry.model, candidates)
            with self._lock:
                result = rejection_sample(logits, self._max_logits.get(entry.played_as), generator)
                self._max_logits[entry.played_as] = result.max_logit
            accepted += list(candidates[result.accepted])
            rejected.append(candidates[~result.accepted])
            rejected_logits.append(logits[~result.accepted])
            if len(accepted) >= count:
                return torch.stack(accepted[:count])
        best = torch.cat(rejected_logits).argsort(descending=True)[: count - len(accepted)]
        return torch.stack([*accepted, *torch.cat(rejected)[best]])

    def guess(self, state: QuizState, side: int) -> tuple[str, QuizState]:
        """Score a guess (0 = left, 1 = right) and reveal the round: the fake's side, its model and difficulty, and
        the discriminator's ratings when the model has one; returns (markdown verdict, state).

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
        state.played += 1
        state.correct += right
        state.streak = state.streak + 1 if right else 0
        state.best_streak = max(state.best_streak, state.streak)
        seconds = time.monotonic() - current.started
        if self.stats is not None:
            self.stats.record(current.played_as, right, seconds, current.difficulty)
        text = (f"### {'Right!' if right else 'Fooled!'} The fake was on the **{SIDES[current.fake_side]}**.\n\n"
                f"It was made by {current.made_by}"
                f"{', your surprise model' if current.surprise else ''}) at difficulty **{current.difficulty}**: "
                f"{DIFFICULTY_NOTES[current.difficulty]}. You answered in {seconds:.1f} s.")
        if current.real_probability is not None:  # only a model with a discriminator has an opinion
            left, right_one = current.real_probability
            discriminator_side = 0 if left < right_one else 1
            discriminator_right = discriminator_side == current.fake_side
            state.discriminator_played += 1
            state.discriminator_correct += discriminator_right
            text += (f"\n\nThe discriminator rated the left image {left:.0%} real and the right one {right_one:.0%} "
                     f"real, so it would have picked the **{SIDES[discriminator_side]}** "
                     f"({'right' if discriminator_right else 'wrong'}).")
        return text, state


def pair_html(left: Image.Image, right: Image.Image) -> str:
    """The round's two faces as one HTML block: each an ``<img>`` whose PNG is inline (:func:`~genhub.app.serving.
    inline_png`: uncompressed, so both have the same length; no file, no second request), enlarged by the browser
    to :data:`~genhub.app.serving.DISPLAY_SIZE` px with nearest neighbour, both alike. Nothing else differs
    between the two tags."""
    style = f"width: {DISPLAY_SIZE}px; height: {DISPLAY_SIZE}px; image-rendering: pixelated; margin: 0 8px"
    faces = "".join(f'<img alt="{side} face" style="{style}" src="{inline_png(image)}">'
                    for side, image in zip(SIDES, (left, right)))
    return f'<div style="display: flex; justify-content: center">{faces}</div>'


def dither(image: Image.Image) -> Image.Image:
    """``image`` (8-bit) with independent, uniformly random -1, 0 or +1 added to every channel of every pixel
    (clipped to 0-255), from fresh OS entropy: invisible, but no two results are ever the same bytes."""
    pixels = np.asarray(image, dtype=np.int16)
    noise = np.random.default_rng().integers(-1, 2, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


# ------------------------------------------------------------------------------------ loading
def evaluate_hint(loaded: LoadedModel) -> str:
    """Markdown: the ``genhub-evaluate`` command that measures ``loaded``'s detectability (a local export's own
    folder when it is relative; never an absolute server path)."""
    location = loaded.spec.location
    if not loaded.spec.local:
        name = location.partition("@")[0].rsplit("/", 1)[-1]
        return f"`hf download {location.partition('@')[0]} --local-dir {name}` then `genhub-evaluate {name}`"
    folder = location if not location.startswith(("/", "~")) else "EXPORT_FOLDER"
    return f"`genhub-evaluate {folder}`"


def quiz_model(loaded: LoadedModel, dataset: str | None = None) -> QuizModel:
    """The quiz's view of a loaded generator: its real faces from the ``test`` split of ``dataset`` (default: the
    dataset named in the export's ``training_info.json``) and its detectability from the same file.

    Raises:
        ValueError: the model is missing (``loaded.model`` is None).
        DataError: no dataset is known, or it cannot be loaded.
    """
    if loaded.model is None:
        raise ValueError(f"{loaded.key} is not loaded: {loaded.error}")
    value = (loaded.info.get("metrics") or {}).get(DETECTABILITY)
    detectability = float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
    return QuizModel(loaded.key, loaded.model, held_out(loaded, source=dataset), detectability, evaluate_hint(loaded),
                     loaded.export_id if loaded.stamp is not None else "")


def load_game(*loaded: LoadedModel, dataset: str | None = None, stats: QuizStats | None = None) -> QuizGame:
    """The game for loaded generators (see :func:`quiz_model`), offered in the order given.

    Raises:
        ValueError: none given, or one is missing.
        DataError: a model's held-out data cannot be loaded.
    """
    return QuizGame([quiz_model(entry, dataset) for entry in loaded], stats=stats)
