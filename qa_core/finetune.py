"""Fine-tuning jobs started from the app: one at a time, in the background, safe to cancel.

A web request must neither block on training nor leave a broken model behind. So a job checks everything
a person can get wrong before it starts (name, base, settings, the data file), then trains in a daemon
thread through the same :func:`qa_core.train.run` as the command line. Only a finished run replaces a
checkpoint, because ``train.run`` writes a hidden folder and renames it into place; a cancelled or crashed
run leaves every earlier checkpoint as it was. An operator can switch training off with
``QA_ALLOW_TRAINING=0``, for example on a shared demo server.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from . import base_models, checkpoints, train
from .data import DataError, Example, load_examples, write_squad
from .metrics import Scores

log = logging.getLogger(__name__)

ALLOW_ENV = "QA_ALLOW_TRAINING"
MAX_UPLOAD_BYTES = 20_000_000
MIN_QUESTIONS = 4
MAX_HELD_OUT = 200
SEED = 42
SAMPLE_DATA = base_models.REPO_ROOT / "assets" / "sample_qa.json"
WORK_ROOT = base_models.REPO_ROOT / "runs" / "finetune"
BASES: dict[str, str] = {
    **{f"{name} (shipped QA model)": str(checkpoints.ROOT / name) for name in checkpoints.SHIPPED},
    **{f"{name} (pretrained encoder, new QA head)": name for name in base_models.BASES},
}
_NEVER = 2**31 - 1  # eval_every: the held-out part is measured once, at the end
_OFF_VALUES = {"0", "false", "no"}


def training_allowed() -> bool:
    """False when the server's operator set QA_ALLOW_TRAINING to 0, false or no."""
    return os.environ.get(ALLOW_ENV, "").strip().lower() not in _OFF_VALUES


@dataclass(frozen=True)
class FineTuneRequest:
    """What a person chooses in the Fine-tune tab; ``base`` is a key or a value of the jobs' bases."""

    name: str
    base: str
    data_file: str
    max_steps: int = 60
    epochs: float = 0  # 0: train for max_steps
    learning_rate: float = 1e-4
    batch_size: int = 8
    max_length: int = 256
    doc_stride: int = 128
    placement: str = "random"
    schedule: str = "linear"
    held_out: float = 0.1


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of the current (or last) job, safe to hand to another thread."""

    state: str  # "idle" | "running" | "finished" | "cancelled" | "failed"
    step: int
    max_steps: int
    eta_s: float | None
    elapsed_s: float
    losses: tuple[tuple[int, float], ...]
    message: str
    scores: Scores | None  # EM/F1 on the held-out questions, measured once training has finished
    checkpoint: str | None  # display name "user/<name>" once saved


IDLE = JobStatus("idle", 0, 0, None, 0.0, (), "No fine-tuning job has run yet.", None, None)


@dataclass(frozen=True)
class _Job:
    """A validated request, ready to run."""

    name: str
    folder: Path
    training: tuple[Example, ...]
    held_out: tuple[Example, ...]
    config: train.TrainConfig


class FineTuneJobs:
    """The one fine-tuning slot of an app process; every method may be called from any thread.

    ``root`` is the checkpoints folder (user models go to ``root/user/<name>``), ``work_root`` holds each
    job's data split and training scratch files, ``bases`` the base models a request may name.
    """

    def __init__(
        self,
        root: Path = checkpoints.ROOT,
        work_root: Path = WORK_ROOT,
        bases: Mapping[str, str] = BASES,
    ) -> None:
        self._root, self._work_root, self._bases = Path(root), Path(work_root), dict(bases)
        self._lock = threading.Lock()
        self._status = IDLE
        self._stop = threading.Event()
        self._started = 0.0

    def start(self, request: FineTuneRequest) -> JobStatus:
        """Check the request and start training it in the background; raises ValueError saying what to fix."""
        if not training_allowed():
            raise ValueError(
                f"Fine-tuning is switched off on this server ({ALLOW_ENV}={os.environ[ALLOW_ENV]}). "
                "Run the app on your own machine to fine-tune, or ask the server's operator to allow it."
            )
        with self._lock:
            self._refuse_if_busy()
        job = self._plan(request)
        with self._lock:
            self._refuse_if_busy()  # another start may have won while the data file was being read
            self._stop = threading.Event()
            self._started = time.monotonic()
            max_steps = job.config.max_steps if job.config.max_steps > 0 else 0
            self._status = replace(IDLE, state="running", max_steps=max_steps, message=self._opening(job))
            threading.Thread(
                target=self._run, args=(job, self._stop), name=f"finetune-{job.name}", daemon=True
            ).start()
            return self._status

    def cancel(self) -> JobStatus:
        """Ask a running job to stop after its current step; nothing is saved and no checkpoint changes."""
        with self._lock:
            if self._status.state == "running":
                self._stop.set()
                self._status = replace(self._status, message="Cancelling: stopping after the current step...")
            return self._snapshot()

    def status(self) -> JobStatus:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> JobStatus:
        if self._status.state != "running":
            return self._status
        return replace(self._status, elapsed_s=round(time.monotonic() - self._started, 1))

    def _refuse_if_busy(self) -> None:
        status = self._snapshot()
        if status.state == "running":
            raise ValueError(
                f"A fine-tuning job is already running (step {status.step} of {status.max_steps}): "
                "wait for it to finish or cancel it before starting another."
            )

    def _plan(self, request: FineTuneRequest) -> _Job:
        out = self._checkpoint_path(request.name)
        base = self._base(request.base)
        check_settings(request)
        training, held_out = split_held_out(load_upload(request.data_file), request.held_out, SEED)
        folder = self._work_root / request.name
        steps = (
            {"epochs": request.epochs, "max_steps": -1}
            if request.epochs
            else {"max_steps": request.max_steps}
        )
        config = train.TrainConfig(
            base=base,
            train=[str(folder / "train.json")],
            eval=str(folder / "held_out.json"),
            out=str(out),
            work_dir=str(folder / "trainer"),
            max_length=request.max_length,
            doc_stride=request.doc_stride,
            max_question_length=min(64, request.max_length // 2),
            learning_rate=request.learning_rate,
            batch_size=request.batch_size,
            placement=request.placement,
            schedule=request.schedule,
            log_every=1,
            eval_every=_NEVER,
            eval_questions=len(held_out),
            save_every=0,
            seed=SEED,
            bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),  # a Space with a GPU
            **steps,
        )
        return _Job(request.name, folder, tuple(training), tuple(held_out), config)

    def _checkpoint_path(self, name: str) -> Path:
        if name in checkpoints.SHIPPED:
            raise ValueError(
                f"{name!r} is the name of a shipped model; choose another name for your checkpoint."
            )
        return checkpoints.user_checkpoint_path(name, self._root)

    def _base(self, base: str) -> str:
        """The folder or base-encoder name behind a base the request names by display name or value."""
        path = self._bases.get(base, base)
        if path not in self._bases.values():
            raise ValueError(f"Unknown base model {base!r}; choose one of: {', '.join(self._bases)}.")
        if path not in base_models.BASES and not checkpoints.is_model_dir(Path(path)):
            raise ValueError(
                f"The base model {base!r} is not installed on this server (no model in {path}); "
                "choose another base model."
            )
        return path

    def _opening(self, job: _Job) -> str:
        user_name = f"{checkpoints.USER_DIR_NAME}/{job.name}"
        replacing = (
            f"; it will replace the existing {user_name} when it finishes"
            if Path(job.config.out).exists()
            else ""
        )
        return (
            f"Starting {user_name}: loading the base model, {len(job.training)} training and "
            f"{len(job.held_out)} held-out questions{replacing}."
        )

    def _run(self, job: _Job, stop: threading.Event) -> None:
        """The job thread: every outcome, crashes included, ends in a final status."""
        try:
            result = self._train(job, stop)
        except Exception as error:  # a crash must end this job, never the app
            log.exception("fine-tuning %s failed", job.name)
            ending = {"state": "failed", "message": str(error) or type(error).__name__}
        else:
            ending = _ending(job, result)
        with self._lock:
            elapsed = round(time.monotonic() - self._started, 1)
            self._status = replace(self._status, eta_s=None, elapsed_s=elapsed, **ending)
        log.info("fine-tuning %s: %s", job.name, self._status.message)

    def _train(self, job: _Job, stop: threading.Event) -> train.TrainResult:
        shutil.rmtree(job.folder, ignore_errors=True)  # a fresh split; no stale trainer state to resume
        job.folder.mkdir(parents=True)
        write_squad(job.training, job.config.train[0])
        write_squad(job.held_out, job.config.eval)
        return train.run(job.config, on_progress=self._on_progress, stop=stop)

    def _on_progress(self, progress: train.TrainProgress) -> None:
        with self._lock:
            status = self._status
            losses = _with_new_loss(status.losses, progress)
            message = status.message if self._stop.is_set() else _progress_line(progress)
            self._status = replace(
                status,
                step=progress.step,
                max_steps=progress.max_steps,
                eta_s=progress.eta_s,
                losses=losses,
                message=message,
            )


def _with_new_loss(
    losses: tuple[tuple[int, float], ...], progress: train.TrainProgress
) -> tuple[tuple[int, float], ...]:
    """Add the progress report's loss unless it was already recorded (each loss is reported per step too)."""
    step = progress.loss_step
    if step is None or progress.loss is None or (losses and losses[-1][0] >= step):
        return losses
    return (*losses, (step, float(progress.loss)))


def format_duration(seconds: float) -> str:
    """'4 min 05 s' rather than '245 s': how people read time left."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _progress_line(progress: train.TrainProgress) -> str:
    left = f", about {format_duration(progress.eta_s)} left" if progress.eta_s is not None else ""
    return f"Training: step {progress.step} of {progress.max_steps}{left}."


def _ending(job: _Job, result: train.TrainResult) -> dict:
    if result.cancelled:
        return {
            "state": "cancelled",
            "step": result.steps,
            "message": f"Cancelled after {result.steps} steps; nothing was saved and earlier checkpoints are "
            "unchanged.",
        }
    user_name = f"{checkpoints.USER_DIR_NAME}/{job.name}"
    scores = result.final_eval
    measured = (
        f" Held-out questions: EM {scores.exact_match:.1f}, F1 {scores.f1:.1f} on {scores.n}."
        if scores
        else ""
    )
    return {
        "state": "finished",
        "step": result.steps,
        "scores": scores,
        "checkpoint": user_name,
        "message": f"Saved {user_name} after {result.steps} steps in {result.seconds:.0f} s.{measured}",
    }


def check_settings(request: FineTuneRequest) -> None:
    """Refuse settings that would fail (or fail late, after all the training) with a message saying why."""
    problems = [
        (request.epochs < 0, f"epochs must be 0 (train for max_steps) or more, got {request.epochs}"),
        (
            not request.epochs and request.max_steps < 1,
            f"max_steps must be at least 1 when epochs is 0, got {request.max_steps}",
        ),
        (
            not 0 < request.learning_rate < 1,
            f"learning_rate must be between 0 and 1, got {request.learning_rate}",
        ),
        (not 1 <= request.batch_size <= 64, f"batch_size must be 1 to 64 windows, got {request.batch_size}"),
        (
            not 32 <= request.max_length <= 512,
            f"max_length must be 32 to 512 tokens, got {request.max_length}",
        ),
        (
            not 0 <= request.doc_stride <= request.max_length // 2,
            f"doc_stride must be 0 to half of max_length ({request.max_length // 2} tokens), "
            f"got {request.doc_stride}",
        ),
        (
            request.placement not in ("random", "centre"),
            f"placement must be random or centre, got {request.placement!r}",
        ),
        (
            request.schedule not in ("linear", "constant"),
            f"schedule must be linear or constant, got {request.schedule!r}",
        ),
        (
            not 0 <= request.held_out <= 0.5,
            f"held_out must be a fraction from 0 to 0.5, got {request.held_out}",
        ),
    ]
    found = [text for wrong, text in problems if wrong]
    if found:
        raise ValueError("Cannot start fine-tuning: " + "; ".join(found) + ".")


def load_upload(data_file: str) -> list[Example]:
    """The questions of an uploaded training file, refused whole if it is too big, broken or unanswered."""
    if not data_file:
        raise DataError(
            "No data file given: upload a SQuAD v1.1 or homework (HW7) JSON file, or use the sample data."
        )
    path = Path(data_file)
    size = path.stat().st_size if path.is_file() else 0
    if size > MAX_UPLOAD_BYTES:
        raise DataError(
            f"{path.name} is {size / 1e6:.1f} MB, over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB upload limit"
            "; upload fewer questions or fine-tune with `python -m qa_core.train`."
        )
    examples = load_examples(
        path,
        require_answers=True,
        fix_offsets_within=2,
        drop_empty_questions=True,
        max_bytes=MAX_UPLOAD_BYTES,
    )
    if len(examples) < MIN_QUESTIONS:
        raise DataError(
            f"{path.name} holds {len(examples)} question(s); fine-tuning needs at least {MIN_QUESTIONS} "
            "because some are held out to measure the model. Add questions to the file."
        )
    return examples


def split_held_out(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Hold out a seeded random share of the questions (1 to MAX_HELD_OUT) to score the model on at the end.

    Both parts keep file order, so questions about one paragraph stay together in the files written.
    """
    n_held = min(MAX_HELD_OUT, max(1, round(fraction * len(examples))))
    held = set(random.Random(seed).sample(range(len(examples)), n_held))
    return (
        [e for i, e in enumerate(examples) if i not in held],
        [e for i, e in enumerate(examples) if i in held],
    )
