"""The hub app: cold-start time (``python app.py`` until its page answers: the whole demo built) and, on a server
started with ``python app.py``, the median and p95 latency of each endpoint for 1 client and under 8 and
32 concurrent ``gradio_client`` clients, with the count of failed requests (the target is zero) and the CPU
milliseconds per request of the server process and of the clients (on one machine they share the cores).

    python bench/bench_app.py [--model KEY=LOCATION ...] [--quiz-dataset SOURCE]
    python bench/bench_app.py --tiny        # a tiny DCGAN trained on the spot, 1 and 4 clients
    python bench/bench_app.py --with_training --only '^/new_round$' --clients 8   # and again beside a training

``--with_training`` times every row a second time while a training runs beside the app as the background trainer
runs (:mod:`genhub.app.background`: one process, one torch thread, ``nice 19``): the DDPM starter's recipe on the
shared data (a tiny DCGAN with ``--tiny``), rows labelled "beside training".

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
import urllib.request
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
    """Wall seconds from ``python app.py`` to the app answering its page (imports, model loading, building every
    tab, the server up), each in a fresh process on a free port."""
    times = []
    for _ in range(repeats):
        server, seconds = start_server(env, free_port())
        stop(server)
        times.append(seconds)
    return times


def session(url: str):
    """A gradio_client session of the app at ``url`` (plain http on this machine). ``ssl_verify=False``: there is
    no certificate to check, and with it gradio_client builds a CA-bundle SSL context for every request, which
    py-spy showed to be two thirds of the clients' CPU, taken from the server's two cores."""
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=False)


def start_server(env: dict, port: int, timeout: float = 300) -> tuple[subprocess.Popen, float]:
    """``python app.py --port PORT`` in its own process; returns (process, seconds until its page answered)."""
    log = tempfile.TemporaryFile()
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py", "--no-train", "--port", str(port), "--host", "127.0.0.1"],
                              cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"app.py exited with {server.returncode}:\n{log.read().decode()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return server, time.perf_counter() - start
        except OSError:  # not listening yet
            time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"app.py did not answer on port {port} within {timeout:.0f} s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=60)


def trial(url: str, endpoint: Endpoint) -> str | None:
    """One call of ``endpoint`` (after its setup) from a fresh session: None when it answers, else its error. An
    endpoint the app refuses (its model is missing, or a quiz model does not offer that difficulty) is reported,
    not timed: load() counts failures without raising, so it cannot tell."""
    client = session(url)
    try:
        if endpoint.setup:
            client.predict(api_name=endpoint.setup, **endpoint.setup_inputs)
        client.predict(api_name=endpoint.name, **endpoint.inputs)
    except Exception as error:  # the app's own message says why
        return f"{type(error).__name__}: {error}"[:300]
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, all its threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, endpoint: Endpoint, clients: int, requests: int, server_pid: int) -> dict:
    """``clients`` threads, each with its own gradio_client session, send ``requests`` calls each, all starting
    together, after one untimed call per session (its setup, else the endpoint itself: in a browser the page load
    does it, e.g. the quiz's first round; Gradio builds a session's state on its first event, ~50 ms of server
    CPU for this app's ~400 blocks); latencies of successful calls, the failures, and the CPU time per call of
    the server process (``server_pid``) and of these clients: on a shared machine the two add up, and the
    server's share says what it would serve alone."""
    sessions = [session(url) for _ in range(clients)]
    for client in sessions:
        if endpoint.setup:
            client.predict(api_name=endpoint.setup, **endpoint.setup_inputs)
        else:
            client.predict(api_name=endpoint.name, **endpoint.inputs)
    latencies: list[float] = []
    failures: list[str] = []
    lock, barrier = threading.Lock(), threading.Barrier(clients)

    def play(client) -> None:
        barrier.wait()
        for _ in range(requests):
            start = time.perf_counter()
            try:
                client.predict(api_name=endpoint.name, **endpoint.inputs)
            except Exception as error:  # every failure counts; the first few are reported
                with lock:
                    failures.append(f"{type(error).__name__}: {error}"[:300])
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=play, args=(client,)) for client in sessions]
    start, server_cpu, client_cpu = time.perf_counter(), cpu_seconds(server_pid), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    server_cpu, client_cpu = cpu_seconds(server_pid) - server_cpu, time.process_time() - client_cpu
    calls = clients * requests
    ordered = sorted(latencies)
    return {"endpoint": endpoint.label, "clients": clients, "requests": calls, "failed": len(failures),
            "median_ms": 1000 * statistics.median(ordered) if ordered else None,
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else None,
            "throughput": len(ordered) / elapsed, "server_cpu_ms": 1000 * server_cpu / calls,
            "client_cpu_ms": 1000 * client_cpu / calls, "errors": failures[:3]}


def tiny_model() -> tuple[str, str]:
    """A DCGAN trained for a few steps on a tiny face slice: (--model override, quiz dataset)."""
    data = benchlib.tiny_dataset("faces_celeba") if (benchlib.SHARED_DATA / "faces_celeba").is_dir() else "lfw-subset"
    output = Path(tempfile.mkdtemp(prefix="bench-app-")) / "dcgan"
    subprocess.run([sys.executable, "training/train_dcgan.py", "--dataset", str(data), "--output_dir", str(output),
                    "--resolution", "32", "--ngf", "8", "--ndf", "8", "--latent_dim", "16", "--train_batch_size", "8",
                    "--max_train_steps", "3", "--num_grid_images", "4"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    return f"dcgan-faces={output}", str(data)


def start_training(scratch: str, tiny: bool) -> subprocess.Popen:
    """A training as the background trainer runs one: its own process, one torch thread, the lowest CPU priority."""
    from genhub.app.families import ENTRIES, SHARED_DATA

    key = "dcgan-faces" if tiny or not SHARED_DATA.is_dir() else "ddpm-faces"
    starter = ENTRIES[key].starter
    flags = starter.flags(None if tiny else SHARED_DATA)
    if tiny:
        flags = [*flags[:flags.index("--max_train_steps")], "--max_train_steps", "100000", "--max_train_minutes", "30"]
    return subprocess.Popen([sys.executable, f"training/train_{starter.family}.py", *flags, "--max_train_minutes",
                             "30", "--output_dir", str(Path(scratch) / "training")], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(19))


def time_rows(url: str, endpoints: list, levels: list[int], requests: int, pid: int, label: str = "") -> tuple:
    """Every endpoint at every level: (rows, {label: error} of those refused)."""
    rows, unavailable = [], {}
    for endpoint in endpoints:
        refused = trial(url, endpoint)
        if refused:
            unavailable[endpoint.label] = refused
            continue
        for clients in levels:
            row = load(url, endpoint, clients, requests, pid)
            rows.append({**row, "endpoint": row["endpoint"] + label})
    return rows, unavailable


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), "app.json")
    parser.add_argument("--model", action="append", default=[], metavar="KEY=LOCATION", help="as app.py's --model")
    parser.add_argument("--quiz-dataset", dest="quiz_dataset", default=None)
    parser.add_argument("--clients", nargs="*", type=int, default=None, help="concurrency levels (default 1 8 32)")
    parser.add_argument("--requests", type=int, default=None, help="requests per client (default 10; tiny 2)")
    parser.add_argument("--cold_starts", type=int, default=None, help="timed app starts (default 3; tiny 1)")
    parser.add_argument("--with_training", action="store_true",
                        help="time the rows again beside a training run as the background trainer runs it")
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
        server, _ = start_server(env, port)
        try:
            api = session(f"http://127.0.0.1:{port}/").view_api(print_info=False, return_format="dict")
            endpoints = [endpoint for endpoint in endpoints_of(api, make_picture(Path(scratch)))
                         if args.only is None or re.search(args.only, endpoint.label)]
            url = f"http://127.0.0.1:{port}/"
            rows, unavailable = time_rows(url, endpoints, levels, requests, server.pid)
            if args.with_training:
                training = start_training(scratch, args.tiny)
                try:
                    time.sleep(20)  # past its start-up: the rows time the app beside steady training
                    rows += time_rows(url, endpoints, levels, requests, server.pid, " (beside training)")[0]
                finally:
                    training.terminate()
                    training.wait(120)
        finally:
            stop(server)
    text = (f"Cold start (python app.py until its page answers): median {statistics.median(starts):.1f} s over "
            f"{len(starts)} runs\n\n"
            + benchlib.table(rows, {"endpoint": "endpoint", "clients": "concurrent clients", "requests": "requests",
                                    "failed": "failed", "median_ms": "median ms", "p95_ms": "p95 ms",
                                    "throughput": "requests/s", "server_cpu_ms": "server CPU ms/request",
                                    "client_cpu_ms": "clients' CPU ms/request"}))
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
