"""Run ``python app.py`` as a real server on a free loopback port: for the end-to-end tests and the load test.

A subprocess (not a thread) because ``qa_core.models.checkpoints.ROOT`` is read from QA_CHECKPOINTS_DIR when
the package is first imported; a fresh interpreter also proves that ``python app.py`` starts on its own,
and its process id is what the load test reads the server's memory from.
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
from dataclasses import dataclass
from pathlib import Path

from qa_core.files import REPO_ROOT

START_TIMEOUT_S = 180
POLL_S = 0.2  # short, because the load test counts the wait in its cold-start time
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package, driven by Playwright: no browser download
# Without the networking flags Chromium keeps dialling Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class AppProcess:
    url: str
    pid: int
    started_at: float  # time.monotonic() just before the process was started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def launched_app(log_file: Path, checkpoints_root: Path | None = None, **env: str) -> Iterator[AppProcess]:
    """Start ``python app.py`` and yield it once its page answers; the server log is in ``log_file``.

    Analytics are off and the Hugging Face hub is offline, so the server makes no requests of its own.
    """
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
        started_at = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(url, process, log_file)
            yield AppProcess(url, process.pid, started_at)
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
                f"app.py exited with code {process.returncode}:\n{log_file.read_text(encoding='utf-8')[-4000:]}"
            )
        try:
            with _DIRECT.open(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(POLL_S)
    raise RuntimeError(
        f"app.py did not answer at {url} within {START_TIMEOUT_S} s:\n{log_file.read_text(encoding='utf-8')[-4000:]}"
    )
