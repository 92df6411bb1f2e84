"""Run app.py as a real server for the end-to-end tests, over tiny random models (see tools/app_process.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tiny_models import make_tiny_bert, make_tiny_unigram_bert

from qa_core.models import checkpoints
from tools.app_process import launched_app

__all__ = ["make_checkpoints_root", "running_app"]


def make_checkpoints_root(root: Path) -> Path:
    """A checkpoints folder holding tiny random models under the shipped names (e5 style is the default)."""
    make_tiny_unigram_bert(root / checkpoints.DEFAULT_NAME)
    make_tiny_bert(root / checkpoints.ENGLISH_NAME)
    return root


@contextmanager
def running_app(log_file: Path, checkpoints_root: Path | None = None, **env: str) -> Iterator[str]:
    """Start ``python app.py`` and yield its URL once it answers; the server log is in ``log_file``."""
    with launched_app(log_file, checkpoints_root, **env) as app:
        yield app.url
