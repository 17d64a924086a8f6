"""--mixed_precision auto: the decision table, with the device's capabilities as inputs (no hardware needed)."""

import pytest

from genhub.train.precision import choose_precision


@pytest.mark.parametrize("requested, cuda, cuda_bf16, cpu_bf16, expected", [
    ("auto", False, False, False, "no"),  # a CPU without AVX512_BF16/AMX: emulated bf16 is slower than fp32
    ("auto", False, False, True, "bf16"),  # AVX512_BF16 or AMX
    ("auto", True, True, False, "bf16"),
    ("auto", True, False, True, "fp16"),  # an older GPU; the CPU's bf16 does not matter on CUDA
    ("bf16", False, False, False, "bf16"),  # explicit values win
    ("no", True, True, True, "no"),
    ("fp16", False, False, False, "fp16"),
])
def test_auto_picks_the_native_precision_and_explicit_values_win(requested, cuda, cuda_bf16, cpu_bf16, expected):
    choice = choose_precision(requested, cuda, cuda_bf16, cpu_bf16)
    assert choice.mixed_precision == expected
    assert ("auto" in choice.reason) == (requested == "auto")


def test_the_reason_says_why():
    assert "no native bf16" in choose_precision("auto", False, False, False).reason
    assert "natively" in choose_precision("auto", False, False, True).reason


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        choose_precision("fp8", False, False, False)


def test_a_run_records_the_choice_and_the_hardware(tiny_export):
    import json

    info = json.loads((tiny_export / "training_info.json").read_text())
    assert info["mixed_precision"] in ("no", "bf16") and info["precision_reason"].startswith("auto: ")
    assert "bf16" in info["hardware"] and info["hardware"].startswith(("CPU: ", "1x", "2x", "4x", "8x"))
    card = (tiny_export / "README.md").read_text()
    assert info["precision_reason"] in card and info["hardware"] in card
