"""Publish an export folder to the Hugging Face Hub (``create_repo`` + ``upload_folder`` over HTTP).

Only the export is uploaded (weights, config, card, grids, metadata), never training state
(``checkpoint-*``, logs, intermediate grids). The token comes from ``HF_TOKEN`` or ``hf auth login``.

    python -m genhub.hub.publish checkpoints/dcgan-faces-64 --hub_model_id ORG/NAME [--private]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.constants import ENDPOINT

ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.md", "*.png"]
IGNORE_PATTERNS = ["checkpoint-*", ".partial-*", "samples/*", "logs/*"]


class PublishError(RuntimeError):
    """The upload did not happen; the export folder is untouched and can be pushed again."""


def push_export(folder: str | Path, repo_id: str | None, private: bool = False, token: str | None = None) -> str:
    """Create (if needed) the model repo ``repo_id`` and upload the export in ``folder`` as one commit.

    Returns:
        The URL of the commit.

    Raises:
        PublishError: no repo id, no export in ``folder``, or the Hub refused or could not be reached.
    """
    folder = Path(folder)
    if not repo_id:
        raise PublishError("--push_to_hub needs --hub_model_id ORG/NAME")
    if not (folder / "model.safetensors").is_file():
        raise PublishError(f"{folder} holds no export (model.safetensors); train or export first")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, allow_patterns=list(ALLOW_PATTERNS),
                                   ignore_patterns=list(IGNORE_PATTERNS),  # upload_folder extends the list
                                   commit_message="Upload genhub export")
    except Exception as error:  # network, auth and HTTP errors all mean "not published"
        reason = str(error).rstrip(".")
        raise PublishError(
            f"could not publish {folder} to {repo_id} at {ENDPOINT}: {reason}. The export is intact; retry with "
            f"'python -m genhub.hub.publish {folder} --hub_model_id {repo_id}' once the Hub is reachable."
        ) from error
    print(f"published {folder} to {commit.commit_url}")
    return commit.commit_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--hub_model_id", required=True)
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    try:
        push_export(args.folder, args.hub_model_id, args.private)
    except PublishError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
