""""Which face is fake?", the tab: one real held-out face beside one fresh fake from any of the face generators;
the player clicks the fake, then sees which model made it, at which difficulty, and how the players' totals rank the
models. The game is :mod:`.game`, the scores and the leaderboard :mod:`.scores`, the fakes made ahead
:mod:`genhub.app.fake_pool`.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

from genhub.app.loading import LoadedModel, unavailable
from genhub.app.serving import handler, zero_gpu
from genhub.app.stats import QuizStats
from genhub.app.tabs import kit
from genhub.app.tabs.quiz.game import (
    DIFFICULTY_NOTES,
    GPU_SECONDS,
    SIDES,
    SURPRISE,
    QuizGame,
    QuizState,
    pair_html,
    quiz_model,
)
from genhub.app.tabs.quiz.scores import leaderboard, summary
from genhub.data import DataError
from genhub.shipped import ABOUT

INTRO = ("## Which face is fake?\nOne face is a real photo from the held-out set, the other was just made by a model. "
         f"Pick a model, or *{SURPRISE}* (a random one, revealed with the answer), and a difficulty, then click the "
         "fake.")


def _table(game: QuizGame) -> str:
    """Markdown: the models playing now (with their resolutions and difficulties), the difficulties' legend and the
    real faces' terms."""
    if not game.models:
        return ""
    rows = "\n".join(f"| `{entry.key}` | {type(entry.model).__name__} | {entry.model.resolution}×"
                     f"{entry.model.resolution} | {', '.join(entry.difficulties)} |" for entry in game.models.values())
    legend = " · ".join(f"**{name}**: {note}" for name, note in DIFFICULTY_NOTES.items())
    sources = {entry.real_images.source for entry in game.models.values()}
    about = "".join(f"\n\n{ABOUT[source]}" for source in sorted(sources) if source in ABOUT)
    return f"| model | family | resolution | difficulties |\n| --- | --- | --- | --- |\n{rows}\n\n{legend}{about}"


class LiveQuiz:
    """The quiz over the live registry models: :meth:`sync` plays every served one that does not record a failed
    floor and has held-out faces (those below their floor sit out, named in the tab's status line with the reference
    model's command), following the exports as they land or change."""

    def __init__(self, models: dict[str, LoadedModel], dataset: str | None, stats: QuizStats | None):
        self.loaded, self.dataset = list(models.values()), dataset
        self.game = QuizGame([], stats=stats)
        self.notes: list[str] = []  # why a served model sits out
        self.menu = None  # the model radio, given the models playing on the server (Gradio checks requests on it)
        self._playing: tuple = ()
        self._lock = threading.Lock()
        self.sync()
        for loaded in self.loaded:  # a model that lands joins at once, for the API too
            loaded.on_swap(self.sync)

    def sync(self) -> QuizGame:
        """Bring the game up to the served exports (a few attribute reads when nothing changed); returns it."""
        playing = tuple((entry.key, entry.export_id) for entry in self.loaded
                        if entry.model is not None and not entry.below_floor)
        with self._lock:
            if playing != self._playing:
                self._playing = playing
                entries, self.notes = [], []
                for loaded in self.loaded:
                    if loaded.model is None or loaded.below_floor:  # the status line names them (kit.waiting)
                        continue
                    try:
                        entries.append(quiz_model(loaded, self.dataset))
                    except DataError as error:
                        self.notes.append(f"`{loaded.key}` sits out: the quiz needs held-out real faces, and "
                                          f"{unavailable(loaded, error)}.")
                self.game.update(entries)
                if self.menu is not None:
                    self.menu.choices = [(name, name) for name in (SURPRISE, *self.game.models)]
        return self.game

    def about(self) -> str:
        """Markdown under the title: the models playing, and why any sits out."""
        return "\n\n".join(filter(None, [_table(self.game), *self.notes]))


def build(demo, models: dict[str, LoadedModel], dataset: str | None = None, stats: QuizStats | None = None) -> None:
    """Lay out the tab inside the current ``gr.Tab`` and wire its events (api names: ``new_round(model, difficulty)``,
    both optional, default "Surprise me" and "normal"; ``guess_left``, ``guess_right``, ``everyone``), whatever
    ``models`` are served yet: it plays every one that is (:class:`LiveQuiz`), and a model that lands while the app
    runs joins at the next round; until one does, the status line says which is training.

    ``dataset`` replaces each export's training dataset as the source of real faces; ``stats`` records every
    finished round (None: not recorded).
    """
    import gradio as gr

    quiz = LiveQuiz(models, dataset, stats)
    gr.Markdown(INTRO)
    about = gr.Markdown(quiz.about())
    status = gr.Markdown(kit.waiting(models.values()))  # the models still to come, and those below their floor
    if not zero_gpu():  # on ZeroGPU a model runs only inside a request's GPU call: the rounds fill the pools
        quiz.game.start_pool()
    ui = _layout(quiz.game)
    quiz.menu = ui.choice
    _wire(demo, quiz, list(models.values()), stats, ui)
    _follow(demo, quiz, list(models.values()), ui, about, status)


def _follow(demo, quiz: LiveQuiz, loaded: list[LoadedModel], ui: SimpleNamespace, about, status) -> None:
    """Keep the page current while models land: the table of models, the model menu and the status line."""
    import gradio as gr

    @handler(gpu_seconds=None)  # reads the served exports and the trainer's status: no model runs
    def tick(choice: str):
        game = quiz.sync()
        keys = [SURPRISE, *game.models]
        return (quiz.about(), kit.waiting(loaded),
                gr.update(choices=keys, value=choice if choice in keys else SURPRISE))

    timer = gr.Timer(kit.STATUS_SECONDS, active=not zero_gpu())
    for event, name in ((timer.tick, "quiz_status"), (demo.load, "quiz_status_on_open")):  # current on open too
        event(tick, ui.choice, [about, status, ui.choice], api_name=name, api_visibility="private",
              show_progress="hidden")


def _layout(game: QuizGame) -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace(state=gr.State(QuizState()), guesses=[])  # the state is deep-copied per session
    with gr.Row():
        ui.choice = gr.Radio([SURPRISE, *game.models], value=SURPRISE, label="Model", elem_id="quiz-model",
                             info="Surprise me: a random model, revealed with the answer")
        ui.difficulty = gr.Radio(list(DIFFICULTY_NOTES), value="normal", label="Difficulty",
                                 elem_id="quiz-difficulty")
    ui.pair = gr.HTML(elem_id="quiz-pair")  # both faces inline (see pair_html)
    with gr.Row():
        for side in SIDES:
            ui.guesses.append(gr.Button(f"The {side} one is fake", variant="primary"))
    ui.verdict = gr.Markdown()
    ui.score = gr.Markdown(summary(QuizState()))
    ui.new_round = gr.Button("New round")
    ui.everyone = gr.Markdown()
    return ui


def _wire(demo, quiz: LiveQuiz, loaded: list[LoadedModel], stats: QuizStats | None, ui: SimpleNamespace) -> None:
    import gradio as gr

    @handler(gpu_seconds=GPU_SECONDS)
    def start(current: QuizState, model: str = SURPRISE, difficulty: str = "normal"):
        game = quiz.sync()
        if not game.models:
            raise kit.not_served(loaded, "no face generator is ready for the quiz yet.\n\n")
        left_image, right_image, current = game.new_round(current, model, difficulty)
        return pair_html(left_image, right_image), "", current, gr.update(interactive=True), gr.update(interactive=True)

    @handler(gpu_seconds=GPU_SECONDS)
    def first_round(current: QuizState):
        if not quiz.sync().models:  # nothing to play yet: the status line says what is coming, no error pops up
            return gr.skip(), gr.skip(), current, gr.skip(), gr.skip()
        return start(current)

    @handler(gpu_seconds=None)  # reads the quiz's table of models
    def offered(model: str, difficulty: str):
        choices = list(quiz.sync().difficulties(model))
        return gr.update(choices=choices, value=difficulty if difficulty in choices else "normal")

    def answer(side: int):
        @handler(gpu_seconds=None)  # reads the session's round: no model runs
        def guess(current: QuizState):
            text, current = quiz.game.guess(current, side)
            return (text, summary(current), leaderboard(stats, list(quiz.game.models.values())), current,
                    gr.update(interactive=False), gr.update(interactive=False))
        return guess

    @handler(gpu_seconds=None)  # reads the shared statistics
    def everyone():
        return leaderboard(stats, list(quiz.sync().models.values()))

    round_inputs = [ui.state, ui.choice, ui.difficulty]
    round_outputs = [ui.pair, ui.verdict, ui.state, *ui.guesses]
    ui.new_round.click(start, round_inputs, round_outputs, api_name="new_round")
    demo.load(first_round, ui.state, round_outputs, api_visibility="private")
    demo.load(everyone, None, ui.everyone, api_name="everyone")
    ui.choice.change(offered, [ui.choice, ui.difficulty], ui.difficulty, api_name="quiz_difficulties",
                     api_visibility="private")
    answer_outputs = [ui.verdict, ui.score, ui.everyone, ui.state, *ui.guesses]
    for side, button in enumerate(ui.guesses):
        button.click(answer(side), ui.state, answer_outputs, api_name=f"guess_{SIDES[side]}")
