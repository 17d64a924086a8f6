"""A lent GPU's one check: the judge and every starter trained on it with their budgets scaled down to fit, each
starter judged for its floor, then one call of every model endpoint served from it (examples/every_endpoint.py).
Prints img/s, quality and latencies; writes bench/results/gpu-check.json. One command that fits in 10 minutes:

    python bench/gpu_check.py                 # ~9 min where CUDA exists: --minutes 5 of starter training in all
    python bench/gpu_check.py --tiny          # anywhere (the test suite, on CPU): 2 steps per starter, seconds

Without CUDA it says so and runs on the CPU. The starters' budgets are minutes of training (their stop rule), scaled
by --minutes over the sum of their CPU estimates, so the GPU's figures read as "what the same recipe buys in a
fraction of the time"; the floors are the CPU's (genhub/evaluation/floors.py).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import benchlib  # bench/ is on sys.path: these files run as scripts

sys.path[1:1] = [str(benchlib.ROOT), str(benchlib.ROOT / "examples")]  # app.py and examples/: scripts, not a package
import every_endpoint  # noqa: E402 - found through the path set just above


def scaled(flags: tuple[str, ...], factor: float, tiny: bool) -> tuple[str, ...]:
    """A recipe's flags with its ``--max_train_minutes`` multiplied by ``factor`` (and 2 steps when ``tiny``)."""
    flags = list(flags)
    if "--max_train_minutes" in flags:
        at = flags.index("--max_train_minutes") + 1
        flags[at] = f"{float(flags[at]) * factor:.3g}"
    return tuple(flags + (["--max_train_steps", "2"] if tiny else []))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_all(keys: list[str], scratch: Path, minutes: float, tiny: bool) -> tuple[list[dict], Path | None]:
    """The judge (with the shared data), then each starter with its budget scaled; returns a row per starter and
    the judge's folder."""
    from genhub.app import starters
    from genhub.app.registry import DEFAULT_MODELS, ModelSpec
    from genhub.hub.info import read_training_info

    data = starters.shared_data()
    judge = None
    if data is not None:
        judge = scratch / "face-features"
        flags = ("--resolution", "32", "--width", "4", "--max_train_steps", "2") if tiny else ()
        recipe = replace(starters.JUDGE, shared=(*starters.JUDGE.shared, *flags))
        starters.train_starter("face-features", ModelSpec("face-features", str(judge), local=True), data, recipe)
    factor = minutes / sum(starters.STARTERS[key].estimate(data) for key in keys)
    rows = []
    for key in keys:
        starter = starters.STARTERS[key]
        starter = replace(starter, shared=scaled(starter.shared, factor, tiny), shipped=scaled(starter.shipped, factor,
                                                                                               tiny))
        export = starters.train_starter(key, ModelSpec(DEFAULT_MODELS[key].family, str(scratch / key), local=True),
                                        data, starter)
        verdict = starters.judge(export, starter.family, judge, 16 if tiny else None) if judge else None
        info = read_training_info(export)
        metrics = info.get("metrics") or {}
        rows.append({"starter": key, "steps": info["global_step"], "images_per_second": info["images_per_second"],
                     "training_seconds": info["wall_time_seconds"], "floor": verdict or "no floor or no judge",
                     **{name: value for name, value in metrics.items() if name.startswith(("face check", "FID, "))}})
    return rows, judge


def serve_all(keys: list[str], scratch: Path) -> dict[str, float]:
    """Build the hub with the trained starters (the rest missing), launch it, call every endpoint once."""
    import soundfile
    from gradio_client import Client

    import app
    from genhub.app.serving import launch
    from genhub.audio import synthetic_voice
    from genhub.data import DataSpec, load_split
    from genhub.images import to_pil

    demo = app.build_demo([f"{key}={scratch / key}" for key in keys])
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        photo, clip = scratch / "photo.png", scratch / "clip.wav"
        to_pil(load_split(DataSpec("lfw-subset", 64), "test")[0]["pixel_values"]).save(photo)
        soundfile.write(clip, synthetic_voice("hello there", seconds=1.0, sample_rate=16000), 16000)
        return every_endpoint.play(Client(f"http://127.0.0.1:{port}/", verbose=False), str(photo), str(clip))
    finally:
        demo.close()


def main(argv: list[str] | None = None) -> int:
    import torch

    from genhub.app.starters import STARTERS

    parser = benchlib.common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), "gpu-check.json")
    parser.add_argument("--minutes", type=float, default=5.0, help="starter training in all (their budgets scaled)")
    parser.add_argument("--keys", nargs="*", default=list(STARTERS), choices=list(STARTERS))
    parser.add_argument("--scratch", default=None, help="where the exports go (default: a temporary folder)")
    args = parser.parse_args(argv)
    device = f"CUDA: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no CUDA here: the CPU"
    print(f"gpu check on {device}", flush=True)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="gpu-check-"))
    rows, judge = train_all(args.keys, scratch, args.minutes, args.tiny)
    latencies = serve_all(args.keys, scratch)
    text = benchlib.table(rows, {"starter": "starter", "steps": "steps", "images_per_second": "img/s",
                                 "training_seconds": "training s", "floor": "floor"})
    text += "\n\n| endpoint | seconds |\n| --- | --- |\n" + "\n".join(
        f"| /{name} | {seconds:.3f} |" for name, seconds in latencies.items())
    benchlib.report("gpu-check", {"device": device, "tiny": args.tiny, "minutes": args.minutes, "judge": str(judge),
                                  "starters": rows, "latencies": latencies}, text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
