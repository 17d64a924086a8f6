""""Which face is fake?", the tab: one real held-out face beside one fresh fake from any of the face generators;
the player clicks the fake, then sees which model made it, at which difficulty, and how the players' totals rank the
models. The game is :mod:`.game`, the scores and the leaderboard :mod:`.scores`, the fakes made ahead
:mod:`genhub.app.fake_pool`.
"""

from __future__ import annotations

from types import SimpleNamespace

from genhub.app.loading import LoadedModel, unavailable
from genhub.app.serving import handler, zero_gpu
from genhub.app.stats import QuizStats
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


def _intro(game: QuizGame) -> str:
    rows = "\n".join(f"| `{entry.key}` | {type(entry.model).__name__} | {entry.model.resolution}×"
                     f"{entry.model.resolution} | {', '.join(entry.difficulties)} |" for entry in game.models.values())
    legend = " · ".join(f"**{name}**: {note}" for name, note in DIFFICULTY_NOTES.items())
    sources = {entry.real_images.source for entry in game.models.values()}
    about = "".join(f"\n\n{ABOUT[source]}" for source in sorted(sources) if source in ABOUT)
    return ("## Which face is fake?\nOne face is a real photo from the held-out set, the other was just made by a "
            f"model. Pick a model, or *{SURPRISE}* (a random one, revealed with the answer), and a difficulty, then "
            f"click the fake.\n\n| model | family | resolution | difficulties |\n| --- | --- | --- | --- |\n{rows}"
            f"\n\n{legend}{about}")


def build(demo, models: dict[str, LoadedModel], dataset: str | None = None, stats: QuizStats | None = None) -> None:
    """Lay out the tab inside the current ``gr.Tab`` for every model of ``models`` that loaded with its held-out
    faces and does not record a failed floor (the missing are named with what is missing; those below their floor
    sit out, named above the tab by ``Tab.build``) and wire its events (api names: ``new_round(model, difficulty)``,
    both optional, default "Surprise me" and "normal"; ``guess_left``, ``guess_right``, ``everyone``).

    ``dataset`` replaces each export's training dataset as the source of real faces; ``stats`` records every
    finished round (None: not recorded).
    """
    import gradio as gr

    playable, missing = [], []
    for loaded in models.values():
        if loaded.model is None:
            missing.append(loaded.missing_message)
            continue
        if loaded.below_floor:  # its line (LoadedModel.floor_note) is above the tab: players only meet faces
            continue
        try:
            playable.append(quiz_model(loaded, dataset))
        except DataError as error:
            missing.append(f"`{loaded.key}` sits out: the quiz needs held-out real faces, and "
                           f"{unavailable(loaded, error)}.")
    if playable:
        game = QuizGame(playable, stats=stats)
        if not zero_gpu():  # on ZeroGPU a model runs only inside a request's GPU call: the rounds fill the pools
            game.start_pool()
        gr.Markdown(_intro(game))
    for message in missing:
        gr.Markdown(message)
    if playable:
        _wire(demo, game, stats, _layout(game))


def _layout(game: QuizGame) -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace(state=gr.State(QuizState()), guesses=[])  # the state is deep-copied per session
    with gr.Row():
        ui.choice = gr.Radio([SURPRISE, *game.models], value=SURPRISE, label="Model", elem_id="quiz-model",
                             info="Surprise me: a random model, revealed with the answer")
        ui.difficulty = gr.Radio(list(game.difficulties()), value="normal", label="Difficulty",
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


def _wire(demo, game: QuizGame, stats: QuizStats | None, ui: SimpleNamespace) -> None:
    import gradio as gr

    models = list(game.models.values())

    @handler(gpu_seconds=GPU_SECONDS)
    def start(current: QuizState, model: str = SURPRISE, difficulty: str = "normal"):
        left_image, right_image, current = game.new_round(current, model, difficulty)
        return pair_html(left_image, right_image), "", current, gr.update(interactive=True), gr.update(interactive=True)

    @handler(gpu_seconds=None)  # reads the quiz's table of models
    def offered(model: str, difficulty: str):
        choices = list(game.difficulties(model))
        return gr.update(choices=choices, value=difficulty if difficulty in choices else "normal")

    def answer(side: int):
        @handler(gpu_seconds=None)  # reads the session's round: no model runs
        def guess(current: QuizState):
            text, current = game.guess(current, side)
            return (text, summary(current), leaderboard(stats, models), current, gr.update(interactive=False),
                    gr.update(interactive=False))
        return guess

    @handler(gpu_seconds=None)  # reads the shared statistics
    def everyone():
        return leaderboard(stats, models)

    round_inputs = [ui.state, ui.choice, ui.difficulty]
    round_outputs = [ui.pair, ui.verdict, ui.state, *ui.guesses]
    ui.new_round.click(start, round_inputs, round_outputs, api_name="new_round")
    demo.load(start, round_inputs, round_outputs, api_visibility="private")
    demo.load(everyone, None, ui.everyone, api_name="everyone")
    ui.choice.change(offered, [ui.choice, ui.difficulty], ui.difficulty, api_name="quiz_difficulties",
                     api_visibility="private")
    answer_outputs = [ui.verdict, ui.score, ui.everyone, ui.state, *ui.guesses]
    for side, button in enumerate(ui.guesses):
        button.click(answer(side), ui.state, answer_outputs, api_name=f"guess_{SIDES[side]}")
