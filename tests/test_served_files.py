"""What the app serves and what it never serves, on the real entry points: quiz files that tell nothing across
rounds, output files that expire, no route to the training data, the statistics, checkpoints, the source or
system files, and uploads over the stated size refused while they stream in."""

import contextlib
import hashlib
import io
import json
import os
import re
import runpy
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from conftest import ROOT, SHARED_DATA, pair_pngs, serving, start_app, wide_dcgan_export
from genhub.app.registry import DEFAULT_MODELS
from genhub.app.serving import DELETE_CACHE, MAX_UPLOAD_BYTES, expire_cache_under_load
from genhub.app.tabs.quiz.game import KEYS as QUIZ_KEYS
from genhub.app.tabs.quiz.game import SURPRISE, pair_html
from genhub.hub.space_bundle import SPACES

#: Quiz rounds played from fresh sessions: more than the 16 held-out faces (``faces_dir``'s test split), so
#: at least one real face is served twice.
ROUNDS = 24


#: (model choice, difficulty) of quiz rounds: a surprise at each difficulty and every model at each it offers.
QUIZ_CHOICES = [(SURPRISE, "normal"), (SURPRISE, "truncated"), (SURPRISE, "hard"), ("dcgan-faces", "normal"),
                ("dcgan-faces", "truncated"), ("dcgan-faces", "hard"), ("vae-faces", "normal"),
                ("vae-faces", "truncated"), ("ddpm-faces", "normal")]


def quiz_file_bytes(side: int) -> int:
    """Bytes of a quiz file of a model of ``side`` px: an RGB PNG of that size stored uncompressed (the browser
    enlarges it), whatever the pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, format="PNG", compress_level=0)
    return len(buffer.getvalue())



@pytest.fixture(scope="module")
def served_app(tiny_export, tiny_vae_export, tiny_ddpm_export, tmp_path_factory):
    """``python app.py`` with the tiny DCGAN (32 px), VAE (32 px, also an endpoint taking an image) and DDPM (16 px),
    the quiz's three face generators; its statistics and Gradio's cache in its own working folder."""
    workdir = tmp_path_factory.mktemp("app")
    server, url = start_app(workdir, f"dcgan-faces={tiny_export}", f"vae-faces={tiny_vae_export}",
                            f"ddpm-faces={tiny_ddpm_export}")
    yield SimpleNamespace(url=url, workdir=workdir, pid=server.pid)
    server.terminate()
    server.wait(timeout=60)


def template(html: str) -> str:
    """A round's HTML with its inline images taken out."""
    return re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', 'src=""', html)


def test_quiz_images_tell_nothing_across_rounds(served_app):
    """Inline in the round's HTML, never a file: over many rounds (a real face shown twice included) no image is
    ever sent twice, both of a round have one length, and the HTML around them is always the same."""
    seen, lengths, templates = set(), set(), set()
    for index in range(ROUNDS):
        client = Client(served_app.url, verbose=False, download_files=False)  # a fresh session
        html = client.predict(*QUIZ_CHOICES[index % len(QUIZ_CHOICES)], api_name="/new_round")[0]
        pngs = pair_pngs(html)
        for png in pngs:
            digest = hashlib.sha256(png).digest()
            assert digest not in seen  # no image is ever sent twice
            seen.add(digest)
        assert len(pngs) == 2 and len(pngs[0]) == len(pngs[1])  # the fake's is never the larger (or smaller) one
        lengths.update(len(png) for png in pngs)
        templates.add(template(html))
        client.predict(api_name="/guess_left")
    # uncompressed at the model's resolution: one length per resolution (DCGAN, VAE 32 px; DDPM 16 px)
    assert lengths <= {quiz_file_bytes(32), quiz_file_bytes(16)} and len(templates) == 1


class RawSession:
    """One browser-like session speaking Gradio's queue protocol (sse_v3) directly, keeping every byte the
    server sends, so a test sees all that reaches the client, not what gradio_client picks out of it."""

    def __init__(self, url: str):
        self.url, self.session = url, uuid.uuid4().hex
        self.config = httpx.get(url + "config", timeout=60).json()
        self.prefix = url + self.config["api_prefix"].lstrip("/") + "/"

    def call(self, api_name: str, *values) -> tuple[str, list]:
        """Run the event ``api_name`` with ``values`` for its inputs after the session's state; returns (the raw
        event stream as text, the output data)."""
        dependency = next(d for d in self.config["dependencies"] if d.get("api_name") == api_name)
        joined = httpx.post(self.prefix + "queue/join", timeout=60, json={
            "data": [None, *values], "fn_index": dependency["id"], "session_hash": self.session,
            "event_data": None, "trigger_id": None})
        joined.raise_for_status()
        event, lines = joined.json()["event_id"], []
        with httpx.stream("GET", self.prefix + "queue/data", params={"session_hash": self.session},
                          timeout=120) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed" and message.get("event_id") == event:
                    assert message["success"], message
                    return "\n".join(lines), message["output"]["data"]
        raise AssertionError(f"the stream ended before {api_name} completed")


@pytest.fixture(scope="module", params=["dcgan-32, vae-32, ddpm-16", "dcgan-64"])
def quiz_server(request, tiny_export, tiny_vae_export, tiny_ddpm_export, tmp_path_factory):
    """A launched app whose quiz plays the tiny DCGAN, VAE and DDPM, or a 64 px DCGAN alone; yields (url, keys)."""
    if request.param == "dcgan-64":
        absent = tmp_path_factory.mktemp("absent")
        wide = wide_dcgan_export(tiny_export, tmp_path_factory.mktemp("dcgan64"))
        overrides, keys = [f"dcgan-faces={wide}", f"vae-faces={absent / 'vae'}", f"ddpm-faces={absent / 'ddpm'}"], [
            "dcgan-faces"]
    else:
        overrides = [f"dcgan-faces={tiny_export}", f"vae-faces={tiny_vae_export}", f"ddpm-faces={tiny_ddpm_export}"]
        keys = ["dcgan-faces", "vae-faces", "ddpm-faces"]
    absent = tmp_path_factory.mktemp("absent")  # the other quiz models, whatever checkpoints/ holds
    demo = app.build_demo([*overrides, *(f"{key}={absent / key}" for key in QUIZ_KEYS if key not in keys)])
    with serving(demo) as url:
        yield url, keys


def test_nothing_of_the_answer_reaches_the_client_before_the_guess_for_every_model(quiz_server):
    """Everything the server sends for a round, read off the wire: the pair's HTML (always the same around its two
    inline images), an empty verdict, no state and the guess buttons enabled; no model key, family, rating or
    side, for a surprise round either. The two images have one length and mode whatever the model. The guess then
    reveals."""
    url, keys = quiz_server
    names = {*keys, "dcgan", "vae", "ddpm", "DCGAN", "VAE", "DDPM", "discriminator", "real", "fake", "%", "left",
             "right", "px"}
    choices = [(choice, difficulty) for choice, difficulty in QUIZ_CHOICES if choice in (SURPRISE, *keys)]
    for choice, difficulty in choices:
        session = RawSession(url)
        raw, data = session.call("new_round", choice, difficulty)
        html, rest = data[0], data[1:]
        assert rest == ["", None, {"interactive": True, "__type__": "update"}, {"interactive": True,
                                                                               "__type__": "update"}]
        blank = Image.new("RGB", (1, 1))
        assert template(html) == template(pair_html(blank, blank))  # nothing but the two images varies
        assert json.dumps(html)[1:-1] in raw
        text = raw.replace(json.dumps(html)[1:-1], "")
        for name in names:
            assert name not in text, (choice, difficulty, name)
        contents = pair_pngs(html)
        opened = [Image.open(io.BytesIO(content)) for content in contents]
        side = opened[0].width
        assert side in (16, 32, 64) and [len(content) for content in contents] == [quiz_file_bytes(side)] * 2
        assert [(image.size, image.mode) for image in opened] == [((side, side), "RGB")] * 2
        _, (verdict, *_) = session.call("guess_left")
        assert "The fake was on the **" in verdict and f"difficulty **{difficulty}**" in verdict
        assert any(f"made by **{key}**" in verdict for key in keys)
        assert ("your surprise model" in verdict) == (choice == SURPRISE)


def folder_bytes(folder: Path) -> int:
    """Bytes in the files under ``folder``, which the server is deleting from as we count."""
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def test_served_files_expire_so_the_disk_stays_bounded(tiny_export, tmp_path, monkeypatch):
    """Gradio's cache, which holds every output (:func:`serving.served_png` writes there), with ``delete_cache``
    shortened to seconds: while one player draws face after face in the latent explorer, it holds only what the
    last few seconds served. (Unguarded, Gradio's deleting task died at its first collision with a request.)"""
    age, frequency = 2, 1
    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    # only the tiny DCGAN, whatever checkpoints/ holds (another model's build-time files would share the cache)
    absent = [f"{key}={tmp_path / 'absent'}" for key in DEFAULT_MODELS if key != "dcgan-faces"]
    demo = app.build_demo([f"dcgan-faces={tiny_export}", *absent])
    assert demo.delete_cache == DELETE_CACHE
    demo.delete_cache = (frequency, age)
    with serving(demo) as url:
        client = Client(url, verbose=False, download_files=False)
        window = age + frequency + 3  # the longest a file may live, with slack for a busy machine
        finished, samples = [], []
        start = time.monotonic()
        while time.monotonic() - start < 5 * window:
            client.predict(len(finished), api_name="/dcgan_faces_random_face")
            finished.append(time.monotonic())
            samples.append((finished[-1], folder_bytes(cache), len(list(cache.iterdir()))))
    per_round = quiz_file_bytes(32) + 1024  # one 32x32 PNG (the tiny DCGAN's face; compressed: no larger), one folder
    for moment, kept, folders in samples:
        recent = sum(done > moment - window for done in finished)  # calls whose files may still be there
        assert kept <= per_round * recent and folders <= recent, (moment - start, kept, folders, recent)
    assert per_round * len(finished) > 3 * max(kept for _, kept, _ in samples)  # far more served than kept


def test_cache_expiry_survives_files_added_while_it_runs(tmp_path, monkeypatch):
    """Gradio's own pass fails when a request adds a cached file while it runs (still so in Gradio 6.31: the
    scheduled task then dies for good); guarded, the pass completes, deletes what it had seen, removes the
    emptied folders and keeps what was added meanwhile."""
    from gradio import route_utils

    def cached() -> set[str]:
        for index in range(4):
            (tmp_path / f"old{index}").mkdir(exist_ok=True)
            (tmp_path / f"old{index}" / "image.png").write_bytes(b"x")
        return {str(tmp_path / f"old{index}" / "image.png") for index in range(4)}

    added, real_lstat = tmp_path / "added.png", Path.lstat
    added.write_bytes(b"y")

    def lstat_while_a_request_adds(path):
        live.add(str(added))
        return real_lstat(path)

    monkeypatch.setattr(Path, "lstat", lstat_while_a_request_adds)
    expire_cache_under_load()
    live = cached()
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        route_utils.delete_files_created_by_app.__wrapped__(SimpleNamespace(blocks={}, temp_file_sets=[live]), 0)
    live = cached()
    route_utils.delete_files_created_by_app(SimpleNamespace(blocks={}, temp_file_sets=[live]), 0)  # all > 0 s old
    assert live == {str(added)} and added.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["added.png"]


# ------------------------------------------------------------------------------------ files never to be served
FORBIDDEN = ("shared training data", "the quiz's held-out faces", "statistics database", "checkpoint training state",
             "app.py", "genhub/app/serving.py", "/etc/passwd")


@pytest.fixture(scope="module")
def forbidden(served_app, tiny_export) -> dict[str, Path | None]:
    """Each of :data:`FORBIDDEN` -> a file of that kind the served app could reach (None: none here)."""
    shared = sorted(SHARED_DATA.glob("*/*.parquet"))
    held_out = Path(json.loads((tiny_export / "training_info.json").read_text())["dataset"])
    return {"shared training data": shared[0] if shared else None,
            "the quiz's held-out faces": next(held_out.glob("test-*.parquet")),
            "statistics database": served_app.workdir / "stats" / "quiz.sqlite",
            "checkpoint training state": next(tiny_export.glob("checkpoint-*/random_states_0.pkl")),
            "app.py": ROOT / "app.py",
            "genhub/app/serving.py": ROOT / "genhub" / "app" / "serving.py",
            "/etc/passwd": Path("/etc/passwd")}


def file_routes(target: Path, workdir: Path) -> list[str]:
    """Gradio's file routes naming ``target``: by its absolute path, URL-encoded, relative to the server's
    working folder, and climbing out of Gradio's cache folder (encoded dots, which clients do not normalise)."""
    absolute = str(target)
    paths = [absolute, quote(absolute, safe=""), os.path.relpath(target, workdir),
             f"{workdir / 'gradio'}/{'%2E%2E/' * 12}{absolute.lstrip('/')}"]
    return [f"gradio_api/{route}{path}" for route in ("file=", "file/") for path in paths]


def other_routes(target: Path) -> list[str]:
    """The route older Gradio versions served files on, and the static routes climbing out of Gradio's files."""
    climb = f"{'%2E%2E/' * 12}{str(target).lstrip('/')}"
    return [f"file={target}", f"static/{climb}", f"assets/{climb}"]


def test_the_file_routes_do_serve_the_apps_own_outputs(served_app):
    """The routes below are real: they serve a latent explorer face (so their refusals below are refusals)."""
    client = Client(served_app.url, verbose=False, download_files=False)
    image = client.predict(1, api_name="/dcgan_faces_random_face")[0]
    content = Path(image["path"]).read_bytes()
    with httpx.Client(base_url=served_app.url, timeout=60) as http:
        for route in file_routes(Path(image["path"]), served_app.workdir):
            response = http.get(route)
            assert (response.status_code, response.content) == (200, content), route


@pytest.mark.parametrize("name", FORBIDDEN)
def test_files_the_app_must_never_serve(name, served_app, forbidden):
    target = forbidden[name]
    if target is None:
        pytest.skip("no ../shared/data here")
    content = target.read_bytes()
    assert content  # the file is there, readable by the server
    with httpx.Client(base_url=served_app.url, timeout=60) as http:
        for route in file_routes(target, served_app.workdir) + other_routes(target):
            response = http.get(route)
            assert response.status_code in (403, 404), (route, response.status_code)
            assert content[:64] not in response.content, route


# ------------------------------------------------------------------------------------------------ upload limit
def peak_memory(pid: int) -> int:
    """The process's peak resident memory in bytes (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024


def test_uploads_over_the_stated_size_are_refused_while_they_stream_in(served_app, tmp_path):
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    small.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))
    with big.open("wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n")
        file.truncate(MAX_UPLOAD_BYTES + 1)
    config = httpx.get(served_app.url + "config", timeout=60).json()
    assert config["max_file_size"] == MAX_UPLOAD_BYTES  # browsers and gradio_client refuse bigger files unsent
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {MAX_UPLOAD_BYTES} bytes"):
        Client(served_app.url, verbose=False).predict(handle_file(str(big)), api_name="/vae_faces_encode")
    with httpx.Client(base_url=served_app.url, timeout=120) as http:
        with small.open("rb") as file:
            assert http.post("gradio_api/upload", files={"files": file}).status_code == 200
        Path(f"/proc/{served_app.pid}/clear_refs").write_text("5")  # peak memory := current memory
        before = peak_memory(served_app.pid)
        with big.open("rb") as file:
            response = http.post("gradio_api/upload", files={"files": file})
    assert response.status_code == 413
    assert response.text == f"File size exceeded maximum allowed size of {MAX_UPLOAD_BYTES} bytes."
    assert peak_memory(served_app.pid) - before < MAX_UPLOAD_BYTES // 4  # never held in memory
    kept = [path for path in (served_app.workdir / "gradio").rglob("*") if path.is_file()]
    assert all(path.stat().st_size < MAX_UPLOAD_BYTES for path in kept)  # nothing of it left on disk either


@pytest.mark.parametrize("name", sorted(SPACES))
def test_every_entry_point_launches_with_the_upload_limit_and_expiring_files(name, tiny_export, monkeypatch):
    launches = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launches.append(kwargs))
    monkeypatch.setattr(sys, "argv", ["app.py"])
    monkeypatch.setenv("GENHUB_MODELS", f"dcgan-faces={tiny_export}")
    module = runpy.run_path(str(SPACES[name] / "app.py"), run_name="__main__")
    assert [kwargs["max_file_size"] for kwargs in launches] == [MAX_UPLOAD_BYTES]
    assert module["demo"].delete_cache == DELETE_CACHE
