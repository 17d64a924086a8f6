"""A small Hugging Face Hub-compatible HTTP server for tests (FastAPI + uvicorn in a background thread).

It speaks just enough of the Hub's HTTP API for huggingface_hub 2.4 to run, unchanged:
``create_repo`` (409 when the repo exists, which ``exist_ok=True`` accepts), ``upload_folder``
(``preupload`` answers ``uploadMode: "regular"`` for every file, so the NDJSON ``commit`` carries
the files base64-encoded and no LFS/Xet storage is involved), ``repo_info``/``model_info``,
``list_repo_tree``, ``hf_hub_download``/``snapshot_download`` (``resolve`` with the ``ETag``,
``X-Repo-Commit`` and ``Content-Length`` headers the client checks) and ``ModelCard.validate``
(``/api/validate-yaml``). Errors carry the ``X-Error-Code`` header the client maps to
``RepositoryNotFoundError``, ``RevisionNotFoundError`` and ``EntryNotFoundError``.

Storage, one folder per repo under ``root/{models,datasets,spaces}/ORG/NAME``: ``blobs/<git blob oid>``
(content-addressed), ``commits/<sha>.json`` (``{"parent", "message", "files": {path: oid}}``) and
``refs/<branch>`` (the head commit). Commits are never rewritten: a second push adds a commit and an
old sha keeps resolving to the old files. Writes need ``Authorization: Bearer <token>``.

How tests reach it: huggingface_hub reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, when it is
imported, and tests/conftest.py sets ``HF_HUB_OFFLINE=1`` for the whole pytest process before
anything imports it. Rather than patch module constants after import (several modules keep their
own copies), everything that talks to the Hub runs in a fresh interpreter whose environment is
:meth:`HubServer.env`: ``HF_ENDPOINT`` = this server, ``HF_HUB_OFFLINE=0``, ``HF_TOKEN`` and its own
``HF_HOME`` (hence its own cache). That is also exactly how a user runs ``python -m genhub.hub.publish``
or a training script. The server itself runs in the pytest process, so tests can read what was
pushed (:meth:`files`, :meth:`history`) and seed repos (:meth:`upload`) directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from huggingface_hub import ModelCard

KINDS = {"model": "models", "dataset": "datasets", "space": "spaces"}


def git_oid(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub reports as a regular file's ``oid`` and ``ETag``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _error(status: int, code: str | None, message: str, commit: str | None = None) -> JSONResponse:
    headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {}),
               **({"X-Repo-Commit": commit} if commit else {})}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _Refused(Exception):
    """Raised inside a route to answer with ``response`` (an ``_error``) instead of going on."""

    def __init__(self, response: JSONResponse):
        super().__init__(response.status_code)
        self.response = response


class Repo:
    """One repo on disk: content-addressed blobs, immutable commits, branch refs."""

    def __init__(self, folder: Path):
        self.folder = folder

    def create(self, private: bool) -> None:
        for sub in ("blobs", "commits", "refs"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        (self.folder / "repo.json").write_text(json.dumps({"private": private}))
        self.commit("main", "initial commit", {})

    def resolve(self, revision: str) -> str | None:
        """Branch name or full commit sha -> commit sha (None if unknown)."""
        ref = self.folder / "refs" / revision
        if "/" not in revision and ref.is_file():
            return ref.read_text()
        return revision if (self.folder / "commits" / f"{revision}.json").is_file() else None

    def get_commit(self, sha: str) -> dict:
        return json.loads((self.folder / "commits" / f"{sha}.json").read_text())

    def read(self, oid: str) -> bytes:
        return (self.folder / "blobs" / oid).read_bytes()

    def commit(self, branch: str, message: str, added: dict[str, bytes], deleted: tuple[str, ...] = ()) -> str:
        """Add a commit on ``branch``: ``added`` files (path -> bytes) replace or join the parent's,
        paths in ``deleted`` (files, or folders ending in ``/``) go. Returns the new sha."""
        parent = self.resolve(branch)
        files = dict(self.get_commit(parent)["files"]) if parent else {}
        for gone in deleted:
            files = {p: oid for p, oid in files.items() if p != gone and not p.startswith(gone)}
        for path, data in added.items():
            oid = git_oid(data)
            (self.folder / "blobs" / oid).write_bytes(data)
            files[path] = oid
        record = {"parent": parent, "message": message, "date": time.time(), "files": dict(sorted(files.items()))}
        sha = hashlib.sha1(json.dumps(record, sort_keys=True).encode()).hexdigest()
        (self.folder / "commits" / f"{sha}.json").write_text(json.dumps(record))
        (self.folder / "refs" / branch).write_text(sha)
        return sha


class HubServer:
    """The server, on a free loopback port. ``start()`` it, ``env(home)`` for clients, ``stop()`` it.

    Args:
        root: where the repos live.
        token: the only token accepted for writes.
    """

    def __init__(self, root: Path, token: str = "genhub-test-token"):
        self.root, self.token = Path(root), token
        self._lock = threading.Lock()
        self._server = uvicorn.Server(uvicorn.Config(self._app(), host="127.0.0.1", port=0, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = ""

    # ------------------------------------------------------------------ lifecycle and test helpers
    def start(self) -> "HubServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test Hub server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """Environment variables for a client process using this server, with its own ``HF_HOME``."""
        return {"HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": self.token, "HF_HOME": str(home),
                "HF_HUB_DISABLE_TELEMETRY": "1", **extra}

    def repo(self, repo_id: str, kind: str = "models") -> Repo | None:
        repo = Repo(self.root / kind / repo_id)
        return repo if (repo.folder / "repo.json").is_file() else None

    def files(self, repo_id: str, revision: str = "main", kind: str = "models") -> dict[str, bytes]:
        """path -> content of every file of ``repo_id`` at ``revision``."""
        repo = self.repo(repo_id, kind)
        return {path: repo.read(oid) for path, oid in repo.get_commit(repo.resolve(revision))["files"].items()}

    def upload(self, repo_id: str, folder: Path | dict[str, bytes], message: str = "seeded by a test",
               kind: str = "models") -> str:
        """Commit the files at the top of ``folder`` (or path -> content, paths may hold folders) to ``main`` of repo
        ``repo_id`` of ``kind`` ("models", "datasets"; created if needed) directly, without a client: for setting a
        test up. Returns the commit sha."""
        files = folder if isinstance(folder, dict) else {
            p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
        with self._lock:
            repo = self.repo(repo_id, kind)
            if repo is None:
                repo = Repo(self.root / kind / repo_id)
                repo.create(private=False)
            return repo.commit("main", message, files)

    def history(self, repo_id: str, branch: str = "main", kind: str = "models") -> list[str]:
        """Commit shas of ``branch``, newest first (the last one is the repo's initial commit)."""
        repo, shas = self.repo(repo_id, kind), []
        sha = repo.resolve(branch)
        while sha:
            shas.append(sha)
            sha = repo.get_commit(sha)["parent"]
        return shas

    # ------------------------------------------------------------------------------- HTTP API
    def _app(self) -> FastAPI:
        app = FastAPI()
        app.add_exception_handler(_Refused, lambda request, refused: refused.response)

        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {self.token}"

        def find(kind: str, namespace: str, name: str) -> Repo:
            repo = self.repo(f"{namespace}/{name}", kind) if kind in KINDS.values() else None
            if repo is None:
                raise _Refused(_error(404, "RepoNotFound", "Repository not found"))
            return repo

        def resolved(repo: Repo, revision: str) -> str:
            sha = repo.resolve(revision)
            if sha is None:
                raise _Refused(_error(404, "RevisionNotFound", f"Invalid rev id: {revision}"))
            return sha

        @app.post("/api/repos/create")
        async def create_repo(request: Request):
            if not authorized(request):
                return _error(401, None, "Invalid credentials in Authorization header")
            body = await request.json()
            kind = KINDS[body.get("type") or "model"]
            repo_id = f"{body.get('organization') or 'user'}/{body['name']}"
            url = f"{self.url}/{repo_id}" if kind == "models" else f"{self.url}/{kind}/{repo_id}"
            with self._lock:
                if self.repo(repo_id, kind):
                    return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
                Repo(self.root / kind / repo_id).create(private=body.get("visibility") == "private")
            return {"url": url, "name": repo_id}

        @app.post("/api/validate-yaml")
        async def validate_yaml(request: Request):
            body = await request.json()
            try:  # the metadata block must parse, and its model-index must hold valid eval results
                ModelCard(body["content"], ignore_metadata_errors=False)
            except Exception as error:
                return PlainTextResponse(f"Invalid metadata: {error}", status_code=400)
            return {"errors": [], "warnings": []}

        @app.post("/api/{kind}/{namespace}/{name}/preupload/{revision:path}")
        async def preupload(kind: str, namespace: str, name: str, revision: str, request: Request):
            repo = find(kind, namespace, name)
            sha = resolved(repo, revision)
            existing = repo.get_commit(sha)["files"]
            files = (await request.json())["files"]
            return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                               "oid": existing.get(f["path"])} for f in files]}

        @app.post("/api/{kind}/{namespace}/{name}/commit/{revision:path}")
        async def commit(kind: str, namespace: str, name: str, revision: str, request: Request):
            if not authorized(request):
                return _error(401, None, "Invalid credentials in Authorization header")
            repo = find(kind, namespace, name)
            if not (repo.folder / "refs" / revision).is_file():
                return _error(400, None, f"can only commit to a branch, not {revision!r}")
            lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            added, deleted = {}, []
            for item in lines:
                value = item["value"]
                if item["key"] == "file":
                    added[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "deletedFile":
                    deleted.append(value["path"])
                elif item["key"] == "deletedFolder":
                    deleted.append(value["path"].rstrip("/") + "/")
                elif item["key"] != "header":  # lfsFile: never offered by preupload
                    return _error(400, None, f"unsupported commit operation {item['key']!r}")
            with self._lock:
                parent = header.get("parentCommit")
                if parent and parent != repo.resolve(revision):
                    return _error(412, None, "A commit has happened since. Please refresh and try again.")
                sha = repo.commit(revision, header["summary"], added, tuple(deleted))
            prefix = "" if kind == "models" else f"/{kind}"
            return {"success": True, "commitOid": sha, "pullRequestUrl": None,
                    "commitUrl": f"{self.url}{prefix}/{namespace}/{name}/commit/{sha}"}

        @app.get("/api/{kind}/{namespace}/{name}")
        @app.get("/api/{kind}/{namespace}/{name}/revision/{revision:path}")
        def info(kind: str, namespace: str, name: str, revision: str = "main"):
            repo = find(kind, namespace, name)
            sha = resolved(repo, revision)
            files = repo.get_commit(sha)["files"]
            return {"id": f"{namespace}/{name}", "sha": sha, "private": json.loads(
                (repo.folder / "repo.json").read_text())["private"], "siblings": [{"rfilename": p} for p in files],
                "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(repo.get_commit(sha)["date"]))}

        @app.get("/api/{kind}/{namespace}/{name}/tree/{spec:path}")
        def tree(kind: str, namespace: str, name: str, spec: str, recursive: bool = False):
            repo = find(kind, namespace, name)
            revision, _, folder = spec.partition("/")
            sha = resolved(repo, revision)
            prefix = f"{folder.rstrip('/')}/" if folder else ""
            entries, folders = [], set()
            for path, oid in repo.get_commit(sha)["files"].items():
                parts = path[len(prefix):].split("/") if path.startswith(prefix) else []
                if len(parts) > 1 and not recursive:
                    folders.add(prefix + parts[0])
                elif parts:
                    folders.update(prefix + "/".join(parts[:i]) for i in range(1, len(parts)))
                    entries.append({"type": "file", "path": path, "oid": oid, "size": len(repo.read(oid))})
            entries += [{"type": "directory", "path": path, "oid": git_oid(path.encode()), "size": 0}
                        for path in sorted(folders)]
            return entries

        def download(repo: Repo, revision: str, path: str) -> Response:
            sha = resolved(repo, revision)
            oid = repo.get_commit(sha)["files"].get(path)
            if oid is None:
                return _error(404, "EntryNotFound", f"{path} does not exist at {revision}", commit=sha)
            # uvicorn sends headers only for HEAD; Content-Length is the file's size either way
            return Response(repo.read(oid), media_type="application/octet-stream",
                            headers={"ETag": f'"{oid}"', "X-Repo-Commit": sha})

        @app.api_route("/{namespace}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
        def resolve_model(namespace: str, name: str, revision: str, path: str):
            return download(find("models", namespace, name), revision, path)

        @app.api_route("/{kind}/{namespace}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
        def resolve_dataset_or_space(kind: str, namespace: str, name: str, revision: str, path: str):
            return download(find(kind if kind in ("datasets", "spaces") else "", namespace, name), revision, path)

        return app
