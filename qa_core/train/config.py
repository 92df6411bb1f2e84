"""Every setting of a fine-tuning run, defined once for the command line, the app and the saved record.

Each field carries its help text and its range (``Bound``) or its choice set (a ``Literal``), so
the command-line options, the app's controls and the validation below are all derived from
``TrainConfig``. Nothing here imports torch: the app reads these records without the model stack.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from qa_core.data.metrics import Scores
from qa_core.data.negatives import DEFAULT_KINDS, NegativeKind
from qa_core.settings import (
    Bound,
    Init,
    Placement,
    Schedule,
    WindowSettings,
    bound_of,
    choices,
    default_of,
    problems,
    setting,
)

SaveDtype = Literal["float32", "float16"]  # precision of the saved weights
SPECIAL_TOKENS = 4  # the most special tokens a pair takes: <s> question </s></s> paragraph </s> (XLM-R)


def _each_of(kind: Any, help: str, default: tuple[str, ...] | None = None) -> Any:
    """A list setting whose items come from a choice set (a ``Literal``); all of them unless ``default``.

    ``setting`` cannot carry a list (a dataclass refuses a mutable default), and HfArgumentParser offers
    no choices for a list of ``Literal``: the choices are named in the help and checked by config_problems.
    """
    return field(
        default_factory=lambda: list(choices(kind) if default is None else default),
        metadata={"help": f"{help} Choices: {', '.join(choices(kind))}.", "items": kind},
    )


def _answering(name: str, help: str) -> Any:
    """A field with the answering default and range of a window setting: evaluation reads windows alike."""
    return setting(default_of(WindowSettings, name), help, bound_of(WindowSettings, name))


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as training_config.json beside the model."""

    base: str = setting(
        MISSING, "Base encoder: a known base name (see base_models list), a folder or a hub id."
    )
    train: list[str] = setting(
        MISSING, "Training files (SQuAD JSON or the homework's JSON, .json or .json.gz)."
    )
    out: str = setting(MISSING, "Folder for the finished model (written atomically).")
    init: Init = setting(
        "pretrained",
        "Start from the base's pre-trained weights, or from random weights of the same architecture "
        "(to see what pre-training is worth).",
        kind=Init,
    )
    eval: str | None = setting(None, "File for periodic EM/F1 during training.")
    work_dir: str | None = setting(None, "Trainer checkpoints for resuming (default: runs/<name of --out>).")
    max_length: int = setting(
        256, "Tokens per training window (question + paragraph).", Bound(32, 512, 16, "tokens")
    )
    doc_stride: int = _answering("doc_stride", "Tokens shared by consecutive windows when evaluating.")
    max_question_length: int = _answering("max_question_length", "Question tokens kept; longer ones are cut.")
    eval_max_length: int = _answering(
        "max_length",
        "Tokens per window when measuring EM/F1: the answering default, or this run's --max-length to "
        "measure on windows like the training ones.",
    )
    epochs: float = setting(1.0, "Passes over the training questions.", Bound(0, None, 0.1, "epochs"))
    max_steps: int = setting(
        0,
        "Optimizer steps; 0 (or -1, as older saved configs say) trains for --epochs instead.",
        Bound(-1, None, 1, "steps"),
    )
    learning_rate: float = setting(1e-4, "Peak learning rate of AdamW.", Bound(0, 1, 1e-5, low_open=True))
    batch_size: int = setting(16, "Windows per step on each device.", Bound(1, 64, 1, "windows"))
    grad_accum: int = setting(1, "Steps whose gradients are summed before an update.", Bound(1, None))
    warmup: float = setting(
        0.1, "Warm-up: a fraction of all steps (< 1) or a step count.", Bound(0, None, 0.01)
    )
    schedule: Schedule = setting("linear", "Learning-rate schedule after warm-up.", kind=Schedule)
    placement: Placement = setting(
        "random",
        "Where the answer sits in its training window: anywhere (random) or the middle (centre, as in the "
        "homework's sample code).",
        kind=Placement,
    )
    answerless_rate: float = setting(
        0.3,
        "Extra windows of long paragraphs that miss the answer, as a share of the answerable questions; "
        "labelled at the first token ([CLS] / <s>), the same way as --negatives.",
        Bound(0, 1, 0.05),
    )
    negatives: float = setting(
        0.0,
        "Unanswerable questions made from the training files, as a share of the answerable questions, "
        "labelled at the first token ([CLS] / <s>) as BERT does for SQuAD 2.0: they teach the model to "
        "tell when the paragraph does not hold the answer. Impossible questions of a SQuAD 2.0 file are "
        "used either way (0: none made).",
        Bound(0, 1, 0.05),
    )
    # list[str] rather than list[NegativeKind]: HfArgumentParser would call the Literal to parse a value
    negative_kinds: list[str] = _each_of(
        NegativeKind,
        "How --negatives are made, taking turns: the paragraph without the sentence holding the answer "
        "(answer_removed), or another paragraph of the same article without the answer (other_paragraph); "
        "or the hard kinds: the question's key number or name swapped for one the paragraph never writes "
        "(entity_swapped), the answer's sentence replaced by an on-topic one (sentence_replaced).",
        DEFAULT_KINDS,
    )
    freeze_embeddings: bool = setting(
        True, "Keep the word embeddings fixed (default; --no-freeze-embeddings trains them)."
    )
    freeze_layers: int = setting(
        0, "Keep the embeddings and this many lowest layers fixed.", Bound(0, None, 1, "layers")
    )
    max_questions: int = setting(
        0, "Use at most this many random questions per file (0: all).", Bound(0, None, 1, "questions")
    )
    log_every: int = setting(10, "Steps between training-loss reports.", Bound(1, None, 1, "steps"))
    eval_every: int = setting(200, "Steps between EM/F1 measurements.", Bound(1, None, 1, "steps"))
    eval_questions: int = setting(
        200, "Questions of --eval used for each measurement.", Bound(1, None, 1, "questions")
    )
    save_every: int = setting(
        200, "Steps between resumable checkpoints (0: none).", Bound(0, None, 1, "steps")
    )
    seed: int = setting(42, "Seed for sampling, window placement and initialisation.", Bound(0, None))
    threads: int = setting(0, "CPU threads for torch (0: torch's default).", Bound(0, None))
    bf16: bool = setting(
        False, "Mixed precision in bfloat16 on a GPU that has it: several times faster there."
    )
    max_minutes: float = setting(
        0.0,
        "Fit the run into this many minutes: the learning-rate decay is refitted to end when time is up, "
        "and the model reached is saved (0: no limit).",
        Bound(0, None, 1, "minutes"),
    )
    save_dtype: SaveDtype = setting(
        "float32", "Precision of the saved weights (float16 halves the file).", kind=SaveDtype
    )

    def eval_windows(self) -> WindowSettings:
        """The windows EM/F1 is measured on: this run's evaluation length, stride and question limit."""
        return WindowSettings(
            max_length=self.eval_max_length,
            doc_stride=self.doc_stride,
            max_question_length=self.max_question_length,
        )

    def trainer_max_steps(self) -> int:
        """The Trainer's max_steps: -1 (train for the epochs) for any value up to 0."""
        return self.max_steps if self.max_steps > 0 else -1


class StopSignal(Protocol):
    """What a run polls to end early: a threading.Event (in a job's process, set when the server asks)."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class TrainProgress:
    """What a UI shows while training runs.

    ``loss`` is the latest logged training loss and ``loss_step`` the step it was logged at: it is
    logged every ``log_every`` steps, so a loss curve needs both to place its points.
    """

    step: int
    max_steps: int
    loss: float | None
    learning_rate: float | None
    elapsed_s: float
    eta_s: float | None
    eval: Scores | None = None
    loss_step: int | None = None


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: a cancelled run saved nothing and has no final scores."""

    out: Path
    steps: int
    seconds: float
    final_eval: Scores | None
    cancelled: bool


def defaults() -> dict[str, Any]:
    """The options' defaults, which the recorded command leaves out."""
    return {
        f.name: f.default_factory() if f.default is MISSING else f.default
        for f in dataclasses.fields(TrainConfig)
        if f.default is not MISSING or f.default_factory is not MISSING
    }


def config_problems(config: TrainConfig) -> list[str]:
    """Every setting out of its range or choices, then every pair of settings that cannot go together."""
    found = problems(config) + _list_problems(config)
    if config.max_steps <= 0 and config.epochs <= 0:
        found.append(
            f"epochs must be above 0 when max_steps is 0 (train for --epochs), got {config.epochs:g}"
        )
    if config.doc_stride > config.max_length // 2:
        found.append(
            f"doc_stride must be at most half of max_length ({config.max_length // 2} tokens), "
            f"got {config.doc_stride}"
        )
    if config.eval and any(Path(f).resolve() == Path(config.eval).resolve() for f in config.train):
        found.append(f"{config.eval} is both a training and the evaluation file: keep evaluation data unseen")
    if config.eval and not found:  # the windows below exist only for settings within their ranges
        found += _evaluation_window_problems(config)
    return found


def _list_problems(config: TrainConfig) -> list[str]:
    """Every list setting with an item outside its choices, an item given twice, or no item at all."""
    found = []
    for f in dataclasses.fields(TrainConfig):
        if (kind := f.metadata.get("items")) is None:
            continue
        values, allowed = getattr(config, f.name), choices(kind)
        if wrong := [v for v in values if v not in allowed]:
            found.append(f"{f.name} may hold only {', '.join(allowed)}, got {', '.join(map(repr, wrong))}")
        if not values:
            found.append(f"{f.name} must name at least one of {', '.join(allowed)}")
        if twice := sorted({v for v in values if values.count(v) > 1}):
            found.append(f"{f.name} names {', '.join(twice)} more than once: name each once")
    return found


def _evaluation_window_problems(config: TrainConfig) -> list[str]:
    """Refuse before training what would only fail at the first measurement, many steps later."""
    windows = config.eval_windows()
    room = windows.max_length - windows.question_limit - SPECIAL_TOKENS
    if config.doc_stride < room:
        return []
    return [
        f"doc_stride must be below the {room} paragraph tokens of a {windows.max_length}-token evaluation "
        f"window next to a {windows.question_limit}-token question, got {config.doc_stride}"
    ]


def check_config(config: TrainConfig) -> None:
    """Raise one ValueError listing every problem of a config, so a person fixes them all at once."""
    if found := config_problems(config):
        raise ValueError("; ".join(found) + ".")
