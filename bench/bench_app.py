"""The hub app: cold-start time (``python -c 'import app'``, which builds the whole demo) and, on a server
started with ``python app.py``, the median and p95 latency of each endpoint for 1 client and under 8 and
32 concurrent ``gradio_client`` clients, with the count of failed requests (the target is zero).

    python bench/bench_app.py [--model KEY=LOCATION ...] [--quiz-dataset SOURCE]
    python bench/bench_app.py --tiny        # a tiny DCGAN trained on the spot, 1 and 4 clients

Endpoints (:func:`endpoints_of`, the explicit list): the quiz's ``/new_round`` with its defaults ("Surprise me",
"normal") and with each model at each difficulty (rows ``/new_round KEY DIFFICULTY``; a pair the model does not
support is refused and listed as not timed), every latent explorer's ``/*_edit`` (slider decode; the client first
calls ``/*_random_face`` once) and ``/translate`` (a 128x128 picture), each when the running app has it.
The server runs in its own process so clients and server do not share a GIL. Prints a markdown table, writes
bench/results/app.json; exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import benchlib  # bench/ is on sys.path: these files run as scripts

ROOT = benchlib.ROOT


@dataclass
class Endpoint:
    """One endpoint to time: ``inputs`` are its call's keyword arguments; ``setup`` an endpoint each client
    calls once (with ``setup_inputs``) before timing, e.g. to put a face in its session; ``label`` names its
    row (default: ``name``)."""

    name: str
    inputs: dict = field(default_factory=dict)
    setup: str | None = None
    setup_inputs: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        self.label = self.label or self.name


def make_picture(folder: Path) -> str:
    """A 128x128 synthetic RGB picture (a smooth colour ramp, not a photo) for the translate endpoint."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, 128, dtype=np.float32)
    across, down = ramp[None, :].repeat(128, 0), ramp[:, None].repeat(128, 1)
    image = np.stack([across, down, 255 - across], -1)
    path = folder / "picture.png"
    Image.fromarray(image.astype(np.uint8)).save(path)
    return str(path)


def required_inputs(parameters: list[dict], picture: str) -> dict:
    """Values for the parameters without a default: the test picture for image/file inputs, 0 for numbers
    (seeds); the others keep their defaults, which gradio_client fills in."""
    from gradio_client import handle_file

    values = {}
    for parameter in parameters:
        if parameter.get("parameter_has_default"):
            continue
        kind = parameter.get("component")
        values[parameter["parameter_name"]] = handle_file(picture) if kind in ("Image", "File") else 0
    return values


def quiz_rounds(new_round: dict) -> list[Endpoint]:
    """``/new_round`` for every model choice but "Surprise me" at every difficulty, from the endpoint's API info."""
    choices = {p["parameter_name"]: p["type"]["enum"] for p in new_round["parameters"]}
    return [Endpoint("/new_round", {"model": model, "difficulty": difficulty}, label=f"/new_round {model} {difficulty}")
            for model in choices["model"][1:] for difficulty in choices["difficulty"]]


def endpoints_of(api: dict, picture: str) -> list[Endpoint]:
    """The endpoints of a running app worth timing, with their inputs (see the module docstring)."""
    named = api["named_endpoints"]

    def inputs(name: str) -> dict:
        return required_inputs(named[name]["parameters"], picture)

    found = [Endpoint("/new_round"), *quiz_rounds(named["/new_round"])] if "/new_round" in named else []
    for name in named:
        setup = name[: -len("_edit")] + "_random_face"
        if name.endswith("_edit") and setup in named:
            sliders = [p["parameter_name"] for p in named[name]["parameters"] if p.get("component") == "Slider"]
            moved = {sliders[0]: 1.0} if sliders else {}  # move the first slider so a face is decoded
            found.append(Endpoint(name, {**inputs(name), **moved}, setup, inputs(setup)))
    if "/translate" in named:
        found.append(Endpoint("/translate", inputs("/translate")))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(models: list[str], quiz_dataset: str | None, stats_dir: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GENHUB_STATS_DIR": stats_dir}
    if models:
        env["GENHUB_MODELS"] = ",".join(models)
    if quiz_dataset:
        env["GENHUB_QUIZ_DATASET"] = quiz_dataset
    return env


def cold_starts(env: dict, repeats: int) -> list[float]:
    """Wall seconds of ``python -c 'import app'`` (imports, model loading, building every tab)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def start_server(env: dict, port: int, timeout: float = 300):
    """``python app.py --port PORT`` in its own process; returns (process, connected client) once it answers."""
    from gradio_client import Client

    log = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--host", "127.0.0.1"], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"app.py exited with {server.returncode}:\n{log.read().decode()[-3000:]}")
        try:
            return server, Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:  # not listening yet
            time.sleep(1)
    server.terminate()
    raise RuntimeError(f"app.py did not answer on port {port} within {timeout:.0f} s")


def trial(url: str, endpoint: Endpoint) -> str | None:
    """One call of ``endpoint`` (after its setup) from a fresh session: None when it answers, else its error. An
    endpoint the app refuses (its model is missing, or a quiz model does not offer that difficulty) is reported,
    not timed: load() counts failures without raising, so it cannot tell."""
    from gradio_client import Client

    session = Client(url, verbose=False)
    try:
        if endpoint.setup:
            session.predict(api_name=endpoint.setup, **endpoint.setup_inputs)
        session.predict(api_name=endpoint.name, **endpoint.inputs)
    except Exception as error:  # the app's own message says why
        return f"{type(error).__name__}: {error}"[:300]
    return None


def load(url: str, endpoint: Endpoint, clients: int, requests: int) -> dict:
    """``clients`` threads, each with its own gradio_client session, send ``requests`` calls each, all starting
    together; latencies of successful calls and the failures."""
    from gradio_client import Client

    sessions = [Client(url, verbose=False) for _ in range(clients)]
    for session in sessions:
        if endpoint.setup:
            session.predict(api_name=endpoint.setup, **endpoint.setup_inputs)
    latencies: list[float] = []
    failures: list[str] = []
    lock, barrier = threading.Lock(), threading.Barrier(clients)

    def play(session) -> None:
        barrier.wait()
        for _ in range(requests):
            start = time.perf_counter()
            try:
                session.predict(api_name=endpoint.name, **endpoint.inputs)
            except Exception as error:  # every failure counts; the first few are reported
                with lock:
                    failures.append(f"{type(error).__name__}: {error}"[:300])
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=play, args=(session,)) for session in sessions]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"endpoint": endpoint.label, "clients": clients, "requests": clients * requests, "failed": len(failures),
            "median_ms": 1000 * statistics.median(ordered) if ordered else None,
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else None,
            "throughput": len(ordered) / elapsed, "errors": failures[:3]}


def tiny_model() -> tuple[str, str]:
    """A DCGAN trained for a few steps on a tiny face slice: (--model override, quiz dataset)."""
    data = benchlib.tiny_dataset("faces_celeba") if (benchlib.SHARED_DATA / "faces_celeba").is_dir() else "lfw-subset"
    output = Path(tempfile.mkdtemp(prefix="bench-app-")) / "dcgan"
    subprocess.run([sys.executable, "training/train_dcgan.py", "--dataset", str(data), "--output_dir", str(output),
                    "--resolution", "32", "--ngf", "8", "--ndf", "8", "--latent_dim", "16", "--train_batch_size", "8",
                    "--max_train_steps", "3", "--num_grid_images", "4"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    return f"dcgan-faces={output}", str(data)


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), "app.json")
    parser.add_argument("--model", action="append", default=[], metavar="KEY=LOCATION", help="as app.py's --model")
    parser.add_argument("--quiz-dataset", dest="quiz_dataset", default=None)
    parser.add_argument("--clients", nargs="*", type=int, default=None, help="concurrency levels (default 1 8 32)")
    parser.add_argument("--requests", type=int, default=None, help="requests per client (default 10; tiny 2)")
    parser.add_argument("--cold_starts", type=int, default=None, help="timed 'import app' runs (default 3; tiny 1)")
    parser.add_argument("--only", default=None, metavar="REGEX",
                        help="time only the rows whose label matches, e.g. '^/new_round( dcgan-faces normal)?$'")
    args = parser.parse_args(argv)
    levels = args.clients or ([1, 4] if args.tiny else [1, 8, 32])
    requests = args.requests or (2 if args.tiny else 10)
    models, quiz_dataset = list(args.model), args.quiz_dataset
    if args.tiny and not models:
        model, data = tiny_model()
        models, quiz_dataset = [model], quiz_dataset or data
    with tempfile.TemporaryDirectory(prefix="bench-app-") as scratch:
        env = app_env(models, quiz_dataset, scratch)
        starts = cold_starts(env, args.cold_starts or (1 if args.tiny else 3))
        port = free_port()
        server, client = start_server(env, port)
        try:
            api = client.view_api(print_info=False, return_format="dict")
            endpoints = [endpoint for endpoint in endpoints_of(api, make_picture(Path(scratch)))
                         if args.only is None or re.search(args.only, endpoint.label)]
            rows, unavailable = [], {}
            for endpoint in endpoints:
                refused = trial(f"http://127.0.0.1:{port}/", endpoint)
                if refused:
                    unavailable[endpoint.label] = refused
                    continue
                rows += [load(f"http://127.0.0.1:{port}/", endpoint, clients, requests) for clients in levels]
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = (f"Cold start (python -c 'import app'): median {statistics.median(starts):.1f} s over {len(starts)} runs\n\n"
            + benchlib.table(rows, {"endpoint": "endpoint", "clients": "concurrent clients", "requests": "requests",
                                    "failed": "failed", "median_ms": "median ms", "p95_ms": "p95 ms",
                                    "throughput": "requests/s"}))
    if unavailable:
        errors = "; ".join(f"{name}: {error}" for name, error in unavailable.items())
        text += f"\n\nNot timed (the endpoint answered with an error): {errors}"
    failed = sum(row["failed"] for row in rows)
    benchlib.report("app", {"tiny": args.tiny, "models": models, "cold_start_seconds": starts, "endpoints": rows,
                            "unavailable": unavailable, "failed_requests": failed}, text, args.output)
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
