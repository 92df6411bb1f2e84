"""Run app.py as a real server for the end-to-end tests: a subprocess on a free port.

A subprocess (not a thread) because ``qa_core.checkpoints.ROOT`` is read from QA_CHECKPOINTS_DIR when
the package is first imported; a fresh interpreter also proves that ``python app.py`` starts on its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tiny_models import make_tiny_bert, make_tiny_unigram_bert

from qa_core import checkpoints

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180


def make_checkpoints_root(root: Path) -> Path:
    """A checkpoints folder holding tiny random models under the shipped names (e5 style is the default)."""
    make_tiny_unigram_bert(root / checkpoints.DEFAULT_NAME)
    make_tiny_bert(root / checkpoints.ENGLISH_NAME)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(log_file: Path, checkpoints_root: Path | None = None, **env: str) -> Iterator[str]:
    """Start ``python app.py`` and yield its URL once it answers; the server log is in ``log_file``."""
    port = free_port()
    environment = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    if checkpoints_root is not None:
        environment["QA_CHECKPOINTS_DIR"] = str(checkpoints_root)
    url = f"http://127.0.0.1:{port}/"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(url, process, log_file)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"app.py exited with code {process.returncode}:\n{log_file.read_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"app.py did not answer at {url} within {START_TIMEOUT_S} s:\n{log_file.read_text()[-4000:]}"
    )
