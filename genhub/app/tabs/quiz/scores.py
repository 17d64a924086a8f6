"""The quiz's scores: a player's summary and everyone's totals with the deception leaderboard (markdown)."""

from __future__ import annotations

from typing import Sequence

from genhub.app.stats import QuizStats, Tally
from genhub.app.tabs.quiz.game import QuizModel, QuizState
from genhub.evaluation.intervals import wilson_interval


# ------------------------------------------------------------------------------------ scores and the leaderboard
def summary(state: QuizState) -> str:
    """Score, streak and accuracy with a 95% interval, player vs discriminator (over the rounds whose model has
    one), as markdown."""
    if state.played == 0:
        return "No rounds yet. Click the face you think a model made."
    low, high = wilson_interval(state.correct, state.played)
    text = (f"**You:** {state.correct}/{state.played} = {state.correct / state.played:.0%} "
            f"(95% interval {low:.0%}–{high:.0%}) · streak {state.streak} · best {state.best_streak}\n\n")
    if state.discriminator_played:
        d_low, d_high = wilson_interval(state.discriminator_correct, state.discriminator_played)
        text += (f"**Discriminator:** {state.discriminator_correct}/{state.discriminator_played} = "
                 f"{state.discriminator_correct / state.discriminator_played:.0%} (95% interval "
                 f"{d_low:.0%}–{d_high:.0%}), on the rounds whose model has one\n\n")
    return text + "50% is chance: an interval that contains 50% means the fakes fool you as often as not."


def _percent_range(interval: tuple[float, float]) -> str:
    return f"{interval[0]:.0%}–{interval[1]:.0%}"


def _seconds(tally: Tally) -> str:
    return "–" if tally.median_seconds is None else f"{tally.median_seconds:.1f} s"


def _detectability(entry: QuizModel | None) -> str:
    if entry is None:
        return "not played here"
    if entry.detectability is None:
        return f"not evaluated: {entry.evaluate_hint}"
    return f"{entry.detectability:.0%}"


def _ranked(table: dict, models: dict[str, QuizModel]) -> list[tuple[str, Tally]]:
    """Every model of the table or the quiz, most deceptive first: by the lower end of the fooled interval (a few
    lucky rounds do not top the board), then by rounds played."""
    rows = {**{key: Tally(0, 0) for key in models}, **table}
    return sorted(rows.items(), key=lambda row: (-row[1].fooled_interval[0], -row[1].played, row[0]))


def leaderboard(stats: QuizStats | None, models: Sequence[QuizModel] = ()) -> str:
    """Everyone's totals and the deception leaderboard, as markdown: per model, the rounds, how often its fakes
    fooled players (1 - spotted) with a 95% Wilson interval, the median response time and its own
    ``genhub-evaluate`` detectability; then the same split by difficulty. Every model of ``models`` is listed,
    played or not, and every model the statistics hold. "" when ``stats`` is None."""
    if stats is None:
        return ""
    by_key = {entry.played_as: entry for entry in models}  # the totals are kept per export
    total = stats.totals()
    if total.played == 0:
        text = "**Everyone:** no rounds played yet."
    else:
        text = (f"**Everyone:** {total.played} round{'s' * (total.played != 1)} played; players spot the fake "
                f"{total.rate:.0%} of the time (95% interval {_percent_range(total.interval)}).")
    rows = "\n".join(f"| {key} | {tally.played} | {f'{tally.fooled:.0%}' if tally.played else '–'} | "
                     f"{_percent_range(tally.fooled_interval) if tally.played else '–'} | {_seconds(tally)} | "
                     f"{_detectability(by_key.get(key))} |" for key, tally in _ranked(stats.per_model(), by_key))
    text += ("\n\n### Deception leaderboard\nHow often each model's fakes fooled the players, most deceptive first "
             "(by the lower end of the 95% interval). Detectability: the accuracy of a small CNN trained to tell the "
             "model's fakes from real faces (`genhub-evaluate`; 50% = it cannot).\n\n"
             f"| model | rounds | players fooled | 95% interval | median response | detectability |\n"
             f"| --- | --- | --- | --- | --- | --- |\n{rows}")
    split = stats.per_model_and_difficulty()
    if split:
        rows = "\n".join(f"| {key} | {difficulty} | {tally.played} | {tally.fooled:.0%} | "
                         f"{_percent_range(tally.fooled_interval)} | {_seconds(tally)} |"
                         for (key, difficulty), tally in split.items())
        text += ("\n\n**By difficulty**\n\n| model | difficulty | rounds | players fooled | 95% interval | "
                 f"median response |\n| --- | --- | --- | --- | --- | --- |\n{rows}")
    return text
