"""A fine-tuning job's own process, so that the memory training takes goes back to the system when it ends.

Trained inside the server, every job left the process hundreds of MB larger (the allocator keeps freed
pages; the Trainer, optimizer state and autograd buffers are large), until the server held three times
what serving needs. A child process gives all of it back when it exits. Forking a server full of threads
and loaded models is unsafe and would copy them, so the child is a fresh interpreter; and it is started
as its own command, ``python -m qa_core.train.worker``, rather than by multiprocessing's "spawn", because
a spawned child imports the server's main module again: for ``python app.py`` that is Gradio and the
whole page before training even starts (a tiny model's first progress report came after 6-7 s instead of
under 4), and any work that module does at import would run twice. This way the child imports only
``qa_core.train`` and what training needs.

The child calls the same :func:`qa_core.train.run.run` as the command line. The two talk over the
child's stdin and stdout, one JSON object per line: the parent writes the job (the ``TrainConfig``, the
runner's ``module:function`` name, its log level), the child writes ``{"progress": ...}`` per report and
ends with ``{"result": ...}`` or ``{"failed": {"message", "traceback"}}``; ``{"stop": true}`` from the
parent, or the end of its input (the parent died), stops the run after its step. The child's logs, the
Trainer's printed losses and anything else written to its stdout go to its stderr, which it shares with
the server's log.

:func:`run_in_child` takes and returns what ``run.run`` does (a stop flag, progress callbacks, a
``TrainResult``), so a job need not know about processes. Whatever becomes of the child (an exception,
a crashed interpreter, the out-of-memory killer), it returns or raises: a job always ends.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from qa_core.data.metrics import Scores
from qa_core.files import REPO_ROOT
from qa_core.train.config import StopSignal, TrainConfig, TrainProgress, TrainResult

log = logging.getLogger(__name__)

Runner = Callable[
    ..., TrainResult
]  # run.run or a stand-in with its signature, defined at the top of a module the child can import
# what a job runs unless told otherwise, by name: the parent never imports the training loop, only the child
TRAINING = "qa_core.train.run:run"
MODULE = "qa_core.train.worker"  # the child's command: python -m MODULE
POLL_S = 0.2  # how often the parent looks at the stop flag while it waits for the child's next report
CANCEL_GRACE_S = 120.0  # a cancelled child still running after this (a stuck step) is terminated
EXIT_WAIT_S = 10.0  # a child that has reported, or been told to stop, is killed if it has not exited by then
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s (training process): %(message)s"


class TrainingFailed(RuntimeError):
    """The child ended without a result; the message says why, for the person who started the job."""


class ChildTraceback(Exception):
    """The child's traceback as text: chained under TrainingFailed, it shows in the server log where it failed."""

    def __str__(self) -> str:
        return str(self.args[0])


# --- the parent's side ----------------------------------------------------------------------------------------


def run_in_child(
    config: TrainConfig,
    on_progress: Callable[[TrainProgress], None] | None = None,
    stop: StopSignal | None = None,
    runner: Runner | str = TRAINING,
) -> TrainResult:
    """``runner(config, on_progress, stop)`` in a child process; raises TrainingFailed if it fails.

    The child imports ``runner`` by name, from this repository or PYTHONPATH.
    """
    job = {
        "config": asdict(config),
        "runner": runner_name(runner),
        "log_level": logging.getLogger().getEffectiveLevel(),  # the child logs as verbosely
    }
    process = subprocess.Popen(
        [sys.executable, "-m", MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,  # the reports only; its stderr is the server's
        text=True,
        encoding="utf-8",
        env=child_environment(),
    )
    child = _Child(process, Path(config.out))
    try:
        child.send(job)
        return child.follow(on_progress, stop)
    finally:
        child.reap()


def runner_name(runner: Runner | str) -> str:
    """``module:function``, by which the child imports the runner; a lambda or nested function has none."""
    if isinstance(runner, str):
        return runner
    module, name = runner.__module__, runner.__qualname__
    if module == "__main__" or "<" in name:
        raise ValueError(
            f"The training process cannot import the runner {module}.{name}: "
            "define it at the top of an importable module."
        )
    return f"{module}:{name}"


def child_environment() -> dict[str, str]:
    """The server's environment, with this repository first on the import path wherever the server started."""
    paths = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


class _Child:
    """The parent's side of one child: relays its reports, passes on a cancel, and notices its death."""

    def __init__(self, process: subprocess.Popen[str], out: Path) -> None:
        self.process, self.out = process, out
        self.lines: queue.Queue[str | None] = queue.Queue()  # the child's lines; None once it closed stdout
        self.reader = threading.Thread(
            target=_read_lines, args=(process.stdout, self.lines), name="finetune-reports", daemon=True
        )
        self.reader.start()
        self.started = time.monotonic()
        self.cancelled_at: float | None = None
        self.step = 0

    def send(self, message: dict[str, Any]) -> None:
        """One line to the child; if it is already gone, the end of its reports tells the rest."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()

    def follow(
        self, on_progress: Callable[[TrainProgress], None] | None, stop: StopSignal | None
    ) -> TrainResult:
        """Relay reports until the child sends its result or its failure, or ends without either."""
        while True:
            if stop is not None and stop.is_set():
                self._cancel()
            try:
                line = self.lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if line is None:  # the child is gone and said nothing more
                return self._ended_without_result()
            if (result := self._take(line, on_progress)) is not None:
                return result

    def _take(self, line: str, on_progress: Callable[[TrainProgress], None] | None) -> TrainResult | None:
        """Act on one line of the child: relay a report, return its result, or raise its failure."""
        message = _parse(line)
        if "progress" in message:
            progress = progress_from(message["progress"])
            self.step = progress.step
            if on_progress is not None:
                on_progress(progress)
        elif "result" in message:
            return result_from(message["result"])
        elif "failed" in message:
            failed = message["failed"]
            raise TrainingFailed(failed["message"]) from ChildTraceback(failed["traceback"])
        else:  # the child sends stray output to stderr, so this is a bug worth a line in the log
            log.warning("the training process wrote a line that is not a report: %.200r", line)
        return None

    def _cancel(self) -> None:
        """Ask the child to stop after its step; terminate it if that step never ends."""
        if self.cancelled_at is None:
            self.cancelled_at = time.monotonic()
            self.send({"stop": True})
        elif time.monotonic() - self.cancelled_at > CANCEL_GRACE_S and self.process.poll() is None:
            log.warning(
                "the training process did not stop within %.0f s of a cancel: terminating it", CANCEL_GRACE_S
            )
            self.process.terminate()

    def _ended_without_result(self) -> TrainResult:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=EXIT_WAIT_S)
        self._remove_unfinished_save()
        if self.cancelled_at is not None:
            seconds = time.monotonic() - self.started
            return TrainResult(self.out, self.step, seconds, None, cancelled=True)
        raise TrainingFailed(
            f"The training process ended without a result ({exit_reason(self.process.returncode)}) at step "
            f"{self.step}; nothing was saved and earlier models are unchanged. If the server ran out of "
            "memory, try a smaller batch size or max length."
        )

    def _remove_unfinished_save(self) -> None:
        """A child killed while saving leaves its hidden staging folder (files.write_folder_atomically)."""
        for staging in self.out.parent.glob(f".{self.out.name}.*.tmp"):
            shutil.rmtree(staging, ignore_errors=True)

    def reap(self) -> None:
        """Never leave the child behind, whatever ended the job: end of input stops it, else it is killed."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=EXIT_WAIT_S)


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """The reader thread: every line of the child's stdout into ``lines``, then None when it closes."""
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


def _parse(line: str) -> dict[str, Any]:
    """A line of the child as a message; a line that is not a JSON object is an empty message."""
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return message if isinstance(message, dict) else {}


def exit_reason(exitcode: int | None) -> str:
    """An exit code in words: a negative one is the signal that ended the process."""
    if exitcode is None:
        return "it did not exit"
    if exitcode < 0:
        try:
            return f"stopped by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"stopped by signal {-exitcode}"
    return f"exit code {exitcode}"


# --- the records as JSON --------------------------------------------------------------------------------------


def result_fields(result: TrainResult) -> dict[str, Any]:
    return {**asdict(result), "out": str(result.out)}


def result_from(fields: dict[str, Any]) -> TrainResult:
    return TrainResult(**{**fields, "out": Path(fields["out"]), "final_eval": _scores(fields["final_eval"])})


def progress_from(fields: dict[str, Any]) -> TrainProgress:
    return TrainProgress(**{**fields, "eval": _scores(fields["eval"])})


def _scores(fields: dict[str, Any] | None) -> Scores | None:
    return Scores(**fields) if fields is not None else None


# --- the child's side ----------------------------------------------------------------------------------------


def main() -> None:
    """The child's whole life: read the job, train, and report each step, then the result or why there is none."""
    reports = _claim_stdout()
    job = json.loads(sys.stdin.readline())
    logging.basicConfig(level=job["log_level"], format=LOG_FORMAT)  # on stderr, the server's log
    stop = threading.Event()
    threading.Thread(target=_watch_input, args=(sys.stdin, stop), name="stop-requests", daemon=True).start()
    send = functools.partial(_send, reports, stop)
    try:
        runner = import_runner(job["runner"])
        config = TrainConfig(**job["config"])
        result = runner(config, on_progress=lambda progress: send({"progress": asdict(progress)}), stop=stop)
        send({"result": result_fields(result)})
    except BaseException as error:  # KeyboardInterrupt and SystemExit too: the parent must learn why
        message = str(error) or type(error).__name__
        send({"failed": {"message": message, "traceback": traceback.format_exc()}})


def _claim_stdout() -> IO[str]:
    """Keep stdout for the reports alone: the stream returned is its own copy, and stdout becomes stderr.

    The Trainer prints every logged loss to stdout (``print``, or ``tqdm.write`` beside the progress
    bar), and a library or a subprocess may write to file descriptor 1 itself: in the reports any of it
    would be a broken line, in the server's log it is useful.
    """
    reports = os.fdopen(os.dup(1), "w", encoding="utf-8")  # os.dup's copy is not inherited by subprocesses
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return reports


def _send(reports: IO[str], stop: threading.Event, message: dict[str, Any]) -> None:
    """One report to the parent; if it is gone, nobody will read the result, so the run stops."""
    try:
        reports.write(json.dumps(message) + "\n")
        reports.flush()
    except OSError:
        stop.set()


def _watch_input(lines: Iterable[str], stop: threading.Event) -> None:
    """Set ``stop`` when the parent asks, or when its input ends: the parent closed it, or died."""
    for line in lines:
        if _parse(line).get("stop") is True:
            break
    stop.set()


def import_runner(name: str) -> Runner:
    """The function a ``module:function`` name (``runner_name``) stands for."""
    module, _, qualname = name.partition(":")
    return functools.reduce(getattr, qualname.split("."), importlib.import_module(module))


if __name__ == "__main__":
    main()
