"""Fine-tuning jobs started from the app: one at a time, in the background, safe to cancel.

A web request must neither block on training nor leave a broken model behind. So a job checks everything
a person can get wrong before it starts (name, base, settings, the data file), then trains in a child
process (:mod:`qa_core.train.worker`, followed by a daemon thread) through the same
:func:`qa_core.train.run.run` as the command line, so the server gets the training's memory back when
the job ends. Only a finished run replaces a
checkpoint, because a run writes a hidden folder and renames it into place; a cancelled or crashed run
leaves every earlier checkpoint as it was. An operator can switch training off with
``QA_ALLOW_TRAINING=0``, for example on a shared demo server.

The jobs report facts (``JobStatus``), not sentences: the app words them for people.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from qa_core.data.metrics import Scores
from qa_core.data.squad import DataError, Example, LoadedData, Repairs, load_data, write_squad
from qa_core.files import REPO_ROOT
from qa_core.models import checkpoints
from qa_core.settings import Bound, problems, setting
from qa_core.tooling.base_models import build as base_models
from qa_core.train.config import TrainConfig, TrainProgress, TrainResult, config_problems
from qa_core.train.worker import TRAINING, Runner, run_in_child

log = logging.getLogger(__name__)

ALLOW_ENV = "QA_ALLOW_TRAINING"
MAX_UPLOAD_BYTES = 20_000_000
MIN_QUESTIONS = 4
MAX_HELD_OUT = 200
SEED = 42
SAMPLE_DATA = REPO_ROOT / "assets" / "sample_qa.json"
WORK_ROOT = REPO_ROOT / "runs" / "finetune"
BASES: dict[str, str] = {
    **{f"{name} (shipped QA model)": str(checkpoints.ROOT / name) for name in checkpoints.SHIPPED},
    **{f"{name} (pretrained encoder, new QA head)": name for name in base_models.BASES},
}
_NEVER = 2**31 - 1  # eval_every: the held-out part is measured once, at the end
# Defaults of a job that differ from the command line's; a request may still set them. float16 weights, as
# the shipped checkpoints have: half the file, and the engine computes in float32 whatever is saved.
JOB_DEFAULTS: dict[str, Any] = {"save_dtype": "float16"}
_OFF_VALUES = {"0", "false", "no"}

JobState = Literal["idle", "running", "cancelling", "finished", "cancelled", "failed"]


def training_allowed() -> bool:
    """False when the server's operator set QA_ALLOW_TRAINING to 0, false or no."""
    return os.environ.get(ALLOW_ENV, "").strip().lower() not in _OFF_VALUES


@dataclass(frozen=True)
class FineTuneRequest:
    """What a person chooses in the Fine-tune tab; ``base`` is a key or a value of the jobs' bases.

    ``settings`` overrides ``TrainConfig`` fields by name; the rest keep TrainConfig's defaults, so the
    app and the command line start from the same run. The files, the schedule of measurements and
    the hardware are the job's own (``training_config``) and cannot be set here.
    """

    name: str
    base: str
    data_file: str
    held_out: float = setting(
        0.1, "Share of the questions held out and scored once training ends.", Bound(0, 0.5, 0.05)
    )
    measurements: int = setting(
        1,
        "Times the held-out questions are scored: 1 at the end only; more draw a learning curve (needs a "
        "step count, which they divide evenly).",
        Bound(1, 10),
    )
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of the current (or last) job, safe to hand to another thread: facts, no wording."""

    state: JobState
    step: int = 0
    max_steps: int = 0  # 0 until the Trainer knows the run's length (a run for some epochs)
    eta_s: float | None = None
    elapsed_s: float = 0.0
    losses: tuple[tuple[int, float], ...] = ()  # (step, training loss)
    scores: Scores | None = None  # EM/F1 on the held-out questions, measured once training has finished
    checkpoint: str | None = None  # display name "user/<name>" of the job's model; saved only once finished
    training_questions: int = 0
    held_out_questions: int = 0
    replacing: bool = False  # a model of that name exists and is replaced when the job finishes
    error: str | None = None  # what made a failed job fail
    data_repairs: Repairs = Repairs()  # answers of the upload moved onto their text or skipped: never silent
    run: int = 1  # which run of a series (an ablation trains several, one after another)
    runs: int = 1
    finished: tuple[str, ...] = ()  # display names of the models the series has saved so far

    @property
    def busy(self) -> bool:
        """A job holds the one slot: running, or stopping after its current step."""
        return self.state in ("running", "cancelling")


IDLE = JobStatus("idle")


@dataclass(frozen=True)
class _Job:
    """A validated request, ready to run."""

    name: str
    folder: Path
    training: tuple[Example, ...]
    held_out: tuple[Example, ...]
    config: TrainConfig
    repairs: Repairs


class FineTuneJobs:
    """The one fine-tuning slot of an app process; every method may be called from any thread.

    ``root`` is the checkpoints folder (user models go to ``root/user/<name>``), ``work_root`` holds each
    job's data split and training scratch files, ``bases`` the base models a request may name, and
    ``runner`` what the job's child process calls (``TRAINING``, by name; the child imports it, so a stand-in
    must be defined at the top of a module it can import).
    """

    def __init__(
        self,
        root: Path = checkpoints.ROOT,
        work_root: Path = WORK_ROOT,
        bases: Mapping[str, str] = BASES,
        runner: Runner | str = TRAINING,
    ) -> None:
        self._root, self._work_root, self._bases = Path(root), Path(work_root), dict(bases)
        self._runner = runner
        self._lock = threading.Lock()
        self._status = IDLE
        self._stop = threading.Event()
        self._started = 0.0

    def start(self, *requests: FineTuneRequest) -> JobStatus:
        """Check the requests and train them in the background, one after another.

        Several requests make a series (an ablation: the same data and steps, one setting changed);
        every request is checked before the first starts. Raises ValueError saying what to fix.
        """
        if not training_allowed():
            raise ValueError(
                f"Fine-tuning is switched off on this server ({ALLOW_ENV}={os.environ[ALLOW_ENV]}). "
                "Run the app on your own machine to fine-tune, or ask the server's operator to allow it."
            )
        with self._lock:
            self._refuse_if_busy()
        series = [self._plan(request) for request in requests]
        with self._lock:
            self._refuse_if_busy()  # another start may have won while the data file was being read
            self._stop = threading.Event()
            self._started = time.monotonic()
            self._status = _opening(series[0], 1, len(series))
            threading.Thread(
                target=self._run_series,
                args=(series, self._stop),
                name=f"finetune-{series[0].name}",
                daemon=True,
            ).start()
            return self._status

    def cancel(self) -> JobStatus:
        """Ask a running job to stop after its current step; nothing is saved and no checkpoint changes."""
        with self._lock:
            if self._status.state == "running":
                self._stop.set()
                self._status = replace(self._status, state="cancelling")
            return self._snapshot()

    def status(self) -> JobStatus:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> JobStatus:
        if not self._status.busy:
            return self._status
        return replace(self._status, elapsed_s=round(time.monotonic() - self._started, 1))

    def _refuse_if_busy(self) -> None:
        status = self._snapshot()
        if status.busy:
            raise ValueError(
                f"A fine-tuning job is already running (step {status.step} of {status.max_steps}): "
                "wait for it to finish or cancel it before starting another."
            )

    def _plan(self, request: FineTuneRequest) -> _Job:
        out = self._checkpoint_path(request.name)
        folder = self._work_root / request.name
        config = training_config(request, self._base(request.base), out, folder)
        check_settings(config, request)
        upload = load_upload(request.data_file)
        training, held_out = split_held_out(upload.examples, request.held_out, SEED)
        return _Job(request.name, folder, tuple(training), tuple(held_out), config, upload.repairs)

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

    def _run_series(self, series: list[_Job], stop: threading.Event) -> None:
        """The job thread: each run in turn until one does not finish; every outcome ends in a final status."""
        finished: tuple[str, ...] = ()
        for number, job in enumerate(series, start=1):
            if number > 1:
                with self._lock:
                    self._status = replace(_opening(job, number, len(series)), finished=finished)
            if self._run(job, stop) != "finished":
                return
            finished = self._status.finished

    def _run(self, job: _Job, stop: threading.Event) -> JobState:
        """One run of the series: every outcome, crashes included, ends in a status; returns its state."""
        try:
            result = self._train(job, stop)
        except Exception as error:  # a crash must end this job, never the app
            log.exception("fine-tuning %s failed", job.name)
            ending: dict[str, Any] = {"state": "failed", "error": str(error) or type(error).__name__}
        else:
            ending = _ending(result)
        with self._lock:
            elapsed = round(time.monotonic() - self._started, 1)
            last = self._status.run == self._status.runs
            if ending["state"] == "finished":
                ending["finished"] = (*self._status.finished, self._status.checkpoint)
                if not last:  # the series goes on: still running as far as anyone asking can tell
                    ending["state"] = "running"
            self._status = replace(self._status, eta_s=None, elapsed_s=elapsed, **ending)
        log.info("fine-tuning %s ended: %s after %d steps", job.name, ending["state"], self._status.step)
        return "finished" if ending["state"] == "running" else ending["state"]

    def _train(self, job: _Job, stop: threading.Event) -> TrainResult:
        shutil.rmtree(job.folder, ignore_errors=True)  # a fresh split; no stale trainer state to resume
        job.folder.mkdir(parents=True)
        write_squad(job.training, job.config.train[0])
        write_squad(job.held_out, job.config.eval)
        return run_in_child(job.config, on_progress=self._on_progress, stop=stop, runner=self._runner)

    def _on_progress(self, progress: TrainProgress) -> None:
        with self._lock:
            status = self._status
            self._status = replace(
                status,
                step=progress.step,
                max_steps=progress.max_steps,
                eta_s=progress.eta_s,
                losses=_with_new_loss(status.losses, progress),
            )


def training_config(request: FineTuneRequest, base: str, out: Path, folder: Path) -> TrainConfig:
    """The run a request asks for: its settings over TrainConfig's defaults, around the job's own files.

    Raises ValueError for a setting that TrainConfig lacks or that the job sets itself.
    """
    steps = request.settings.get("max_steps", 0)
    own = {
        "base": base,
        "train": [str(folder / "train.json")],
        "eval": str(folder / "held_out.json"),
        "out": str(out),
        "work_dir": str(folder / "trainer"),
        "log_every": 1,  # every step's loss, for the live loss curve
        "eval_every": max(1, steps // request.measurements) if request.measurements > 1 else _NEVER,
        "eval_questions": MAX_HELD_OUT,  # all of the held-out file
        "save_every": 0,  # no resumable trainer state piling up on the server
        "seed": SEED,
        "threads": 0,  # torch's default in the job's own process
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),  # a Space with a GPU
    }
    known = {f.name for f in dataclasses.fields(TrainConfig)} - set(own)
    if unknown := sorted(set(request.settings) - known):
        raise ValueError(
            f"Cannot start fine-tuning: {', '.join(map(repr, unknown))} cannot be set here; "
            f"the settings a job takes are {', '.join(sorted(known))}."
        )
    return TrainConfig(**{**own, **JOB_DEFAULTS, **request.settings})


def check_settings(config: TrainConfig, request: FineTuneRequest) -> None:
    """Refuse settings that would fail (or fail late, after all the training), naming every problem at once.

    The ranges and choices are TrainConfig's own (the same checks as the command line), plus the
    request's own: the share of questions held out, and how often they are scored.
    """
    found = config_problems(config) + problems(request)
    if request.measurements > 1 and config.max_steps <= 0:
        found.append("a learning curve needs a step count (max_steps above 0) for its measurements to divide")
    if found:
        raise ValueError("Cannot start fine-tuning: " + "; ".join(found) + ".")


def _opening(job: _Job, run: int = 1, runs: int = 1) -> JobStatus:
    return JobStatus(
        "running",
        run=run,
        runs=runs,
        max_steps=max(job.config.max_steps, 0),
        checkpoint=f"{checkpoints.USER_DIR_NAME}/{job.name}",
        training_questions=len(job.training),
        held_out_questions=len(job.held_out),
        replacing=Path(job.config.out).exists(),
        data_repairs=job.repairs,
    )


def _with_new_loss(
    losses: tuple[tuple[int, float], ...], progress: TrainProgress
) -> tuple[tuple[int, float], ...]:
    """Add the progress report's loss unless it was already recorded (each loss is reported per step too)."""
    step = progress.loss_step
    if step is None or progress.loss is None or (losses and losses[-1][0] >= step):
        return losses
    return (*losses, (step, float(progress.loss)))


def _ending(result: TrainResult) -> dict[str, Any]:
    if result.cancelled:
        return {"state": "cancelled", "step": result.steps}
    return {"state": "finished", "step": result.steps, "scores": result.final_eval}


def load_upload(data_file: str) -> LoadedData:
    """The questions of an uploaded training file, refused whole if it is too big, broken or unanswered.

    Messages name the file as uploaded (its base name), never by the server's temporary path; answers
    not at their offset are moved where close, else skipped, and counted.
    """
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
    upload = load_data(
        path,
        require_answers=True,
        fix_offsets_within=2,
        bad_offsets="skip",
        drop_empty_questions=True,
        max_bytes=MAX_UPLOAD_BYTES,
        name=path.name,
    )
    if len(upload.examples) < MIN_QUESTIONS:
        skipped = upload.repairs.skipped_questions
        left_out = f" ({skipped} more have no answer at its answer_start)" if skipped else ""
        raise DataError(
            f"{path.name} holds {len(upload.examples)} question(s){left_out}; fine-tuning needs at least "
            f"{MIN_QUESTIONS} because some are held out to measure the model. Add questions to the file."
        )
    return upload


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
