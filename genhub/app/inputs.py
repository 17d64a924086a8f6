"""What a user types into a tab, checked by one rule each: a seed, a whole number in a range, a number in a range.

Every tab's functions check their inputs with these; the ``ValueError`` they raise is shown to the user as it is
(:func:`genhub.app.serving.handler`), and arrives in ``gradio_client`` as ``AppError`` with the same message.
"""

from __future__ import annotations

import math
import random

#: Seeds a user may type: [0, MAX_SEED), the range of ``torch.Generator.manual_seed`` that every tab accepts.
MAX_SEED = 2**31


def whole(value, name: str, low: int, high: int) -> int:
    """``value`` (a number, or text of one) as an int in [``low``, ``high``].

    Raises:
        ValueError: ``"{name} must be a whole number from {low} to {high}, got {value!r}"``: not a number, not whole
            (2.5), or outside the range.
    """
    message = f"{name} must be a whole number from {low} to {high}, got {value!r}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not math.isfinite(number) or number != int(number) or not low <= int(number) <= high:
        raise ValueError(message)
    return int(number)


def number(value, name: str, low: float, high: float) -> float:
    """``value`` (a number, or text of one) as a float in [``low``, ``high``].

    Raises:
        ValueError: ``"{name} must be a number from {low} to {high}, got {value!r}"`` (NaN included).
    """
    message = f"{name} must be a number from {low:g} to {high:g}, got {value!r}"
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not low <= result <= high:  # False for NaN
        raise ValueError(message)
    return result


def seed(value) -> int:
    """A seed: empty (None or blank text) draws one at random, which each tab reports with its result so that the
    result can be made again; anything else must be a whole number in [0, :data:`MAX_SEED`).

    Raises:
        ValueError: as :func:`whole` (a negative seed included).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return random.SystemRandom().randrange(MAX_SEED)
    return whole(value, "seed", 0, MAX_SEED - 1)


def seeds(text, most: int) -> list[int]:
    """"1, 2, 3" (commas or spaces) -> [1, 2, 3]: 1 to ``most`` seeds, each as :func:`seed` requires (none empty).

    Raises:
        ValueError: no seed, more than ``most``, or one that :func:`seed` refuses.
    """
    parts = str(text or "").replace(",", " ").split()
    if not parts or len(parts) > most:
        raise ValueError(f"give 1 to {most} seeds separated by commas, got {len(parts)}")
    return [seed(part) for part in parts]
