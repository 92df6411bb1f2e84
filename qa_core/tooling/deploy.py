"""Upload the app to a Hugging Face Space: what the Space needs from the working tree, nothing else.

    python -m qa_core.tooling.deploy OWNER/SPACE --dry-run     # list the files, their sizes and the total
    python -m qa_core.tooling.deploy OWNER/SPACE               # create the Space if needed, then upload

The Space gets the files, not this repository's git history: the history holds model weights over 10 MB
committed without Git LFS, which a Space refuses on ``git push``. ``upload_folder`` stores large files
with Xet (or LFS) by itself, and commits only the files listed here, so tests, tools, caches, runs and
the user's own checkpoints (``checkpoints/user/``) never reach the Space.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa_core.files import REPO_ROOT
from qa_core.flags import one_style
from qa_core.models.checkpoints import SHIPPED

# What a Space runs: the app, its page parts, the engine, the words and examples, the shipped models.
APP_PATHS = ("app.py", "ui", "qa_core", "assets", "requirements.txt", "README.md", "pyproject.toml")
SKIPPED_FOLDERS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".log", ".tmp")
HUB_FILE_LIMIT = 50 * 10**9  # the Hub refuses a single file over 50 GB (and recommends under 20 GB)
LARGEST_SHOWN = 5


@dataclass(frozen=True)
class Upload:
    """One file to upload: its path in the Space (relative, with "/") and its size in bytes."""

    path: str
    size: int


def space_paths(shipped: Sequence[str] = SHIPPED) -> tuple[str, ...]:
    """The files and folders a Space needs, relative to the repository root."""
    return (*APP_PATHS, *(f"checkpoints/{name}" for name in shipped))


def wanted(relative: Path) -> bool:
    """Whether a file under one of the space paths belongs in the Space.

    Names starting with "." are caches or writes in progress (``files.write_folder_atomically``);
    ``checkpoint-*`` folders are a training run's resumable states, not a model the app lists.
    """
    for part in relative.parts:
        if part.startswith(".") or part in SKIPPED_FOLDERS or part.startswith("checkpoint-"):
            return False
    return not relative.name.endswith(SKIPPED_SUFFIXES)


def selection(root: Path = REPO_ROOT, shipped: Sequence[str] = SHIPPED) -> list[Upload]:
    """Every file the Space needs from ``root``, in path order, with its size; missing paths are skipped
    (a tree without the ``ui`` package, or before a model is trained)."""
    found: list[Upload] = []
    for name in space_paths(shipped):
        top = root / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            relative = path.relative_to(root)
            if wanted(relative):
                found.append(Upload(relative.as_posix(), path.stat().st_size))
    return sorted(found, key=lambda upload: upload.path)


def shown_size(size: int) -> str:
    """Bytes as a person reads them: 512 B, 12.3 kB, 80.6 MB (powers of 1000, as the Hub shows them)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def listing(space_id: str, uploads: Sequence[Upload]) -> str:
    """The dry run's report: each file with its size, the total, and the largest files."""
    lines = [f"{shown_size(u.size):>9}  {u.path}" for u in uploads]
    total = sum(u.size for u in uploads)
    lines.append(f"{len(uploads)} files, {shown_size(total)} in all, for the Space {space_id}")
    largest = sorted(uploads, key=lambda u: u.size, reverse=True)[:LARGEST_SHOWN]
    lines.append("largest: " + ", ".join(f"{u.path} ({shown_size(u.size)})" for u in largest))
    return "\n".join(lines)


class DeployError(Exception):
    """A reason the upload cannot happen, worded as what to do about it."""


def upload(space_id: str, uploads: Sequence[Upload], root: Path, token: str | None) -> str:
    """Create the Space (Gradio SDK) if it does not exist, then upload exactly ``uploads``; its URL."""
    import huggingface_hub  # only an upload needs it; a dry run works without the Hub's client
    from huggingface_hub.errors import HfHubHTTPError

    token = token or huggingface_hub.get_token()
    if not token:
        raise DeployError(
            "No Hugging Face token: run `hf auth login`, set HF_TOKEN to a token with write access, "
            "or pass --token."
        )
    api = huggingface_hub.HfApi(token=token)
    try:
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", exist_ok=True)
        api.upload_folder(
            repo_id=space_id,
            repo_type="space",
            folder_path=root,
            allow_patterns=[u.path for u in uploads],
            commit_message="Upload the app with python -m qa_core.tooling.deploy",
        )
    except HfHubHTTPError as error:
        raise DeployError(_http_advice(space_id, error)) from None
    except Exception as error:  # the client's network errors differ between its versions and transports
        raise DeployError(
            f"Could not reach the Hugging Face Hub ({type(error).__name__}): check the network and retry."
        ) from None
    return f"https://huggingface.co/spaces/{space_id}"


def _http_advice(space_id: str, error: Exception) -> str:
    """One line for a refused request: a token problem says how to fix the token."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status in (401, 403):
        return (
            f"The Hub refused the token for {space_id} (HTTP {status}): use a token with write access to "
            "that owner (`hf auth login` or HF_TOKEN)."
        )
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"The Hub refused the upload to {space_id}: {first_line}"


def parser() -> argparse.ArgumentParser:
    """The command line: the Space, a dry run, and a token for when none is stored."""
    parser = argparse.ArgumentParser(prog="python -m qa_core.tooling.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("space_id", metavar="SPACE_ID", help="The Space as OWNER/NAME (created if missing).")
    parser.add_argument(
        "--dry-run", action="store_true", help="List the files and sizes and exit, without any network."
    )
    parser.add_argument(
        "--token", help="A Hugging Face token with write access (default: HF_TOKEN or `hf auth login`'s)."
    )
    return one_style(parser)


def main(argv: list[str] | None = None) -> int:
    """List the upload, then (without --dry-run) send it; every failure is one line and a non-zero status."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.space_id.count("/") != 1 or not all(args.space_id.split("/")):
        cli.exit(2, f"error: {args.space_id!r} is not a Space id: write it as OWNER/NAME.\n")
    uploads = selection()
    if not any(u.path == "app.py" for u in uploads):  # an installed copy started outside the checkout
        cli.exit(2, f"error: no app.py in {REPO_ROOT}: run the command from the repository's root.\n")
    print(listing(args.space_id, uploads))
    if args.dry_run:
        return 0
    try:
        url = upload(args.space_id, uploads, REPO_ROOT, args.token)
    except DeployError as error:
        cli.exit(1, f"error: {error}\n")
    print(f"uploaded to {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
