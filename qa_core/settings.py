"""Every setting of answering, defined once: its default, its allowed range and its choices.

The command-line options, the validation and the app's sliders and radios are all derived from the
fields below (``bound``, ``choices``), so a knob is added or changed in one place. Nothing here
imports torch or transformers: the figures and the app read these records without the model stack.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Placement = Literal["random", "centre"]  # where the answer sits inside a training window
Schedule = Literal["linear", "constant"]  # the learning rate after warm-up
WindowScores = Literal["logits", "softmax"]  # how spans of different windows are compared
AttributionMethod = Literal["gradient x input", "integrated gradients"]  # how a span is explained
Init = Literal["pretrained", "random"]  # the encoder's weights before fine-tuning


def choices(kind: Any) -> tuple[str, ...]:
    """The values of a choice set (a ``Literal``), for CLI choices, validation and radio buttons."""
    return get_args(kind)


@dataclass(frozen=True)
class Bound:
    """The allowed range of a number setting, and the step a slider moves in."""

    low: float
    high: float | None = None
    step: float = 1
    unit: str = ""
    low_open: bool = False  # True: the value must be above ``low``, not equal to it

    def problem(self, name: str, value: float) -> str | None:
        """What is wrong with ``value``, in words a person can act on, or None."""
        unit = f" {self.unit}" if self.unit else ""
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or (self.high is not None and value > self.high):
            lowest = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
            highest = f" and at most {self.high:g}" if self.high is not None else ""
            return f"{name} must be {lowest}{highest}{unit}, got {value:g}"
        return None


def setting(default: Any, help: str, bound: Bound | None = None, kind: Any = None) -> Any:
    """A dataclass field that carries its help text, its range or its choice set."""
    return field(default=default, metadata={"help": help, "bound": bound, "kind": kind})


def bound_of(record: type, name: str) -> Bound:
    """The range of one number setting of a settings class (for a slider or a CLI check)."""
    bound = _field(record, name).metadata.get("bound")
    if bound is None:
        raise KeyError(f"{record.__name__}.{name} has no range")
    return bound


def default_of(record: type, name: str) -> Any:
    return _field(record, name).default


def help_of(record: type, name: str) -> str:
    return _field(record, name).metadata.get("help", "")


def _field(record: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(record) if f.name == name)


def problems(record: Any) -> list[str]:
    """Every setting of a settings object that is out of range or not one of its choices."""
    found = []
    for f in dataclasses.fields(record):
        value, bound, kind = getattr(record, f.name), f.metadata.get("bound"), f.metadata.get("kind")
        if bound is not None and value is not None and (problem := bound.problem(f.name, value)):
            found.append(problem)
        if kind is not None and value not in choices(kind):
            found.append(f"{f.name} must be one of {', '.join(choices(kind))}, got {value!r}")
    return found


def check(record: Any) -> None:
    """Raise one ValueError listing every problem, so a person fixes them all at once."""
    if found := problems(record):
        raise ValueError("; ".join(found) + ".")


def described(value: Any) -> str:
    """A value of the wrong type as a message names it: 'a number (12345)', 'nothing (None)'.

    API clients send JSON, so the kinds are JSON's, in words; the value itself is shown shortened.
    """
    kinds = ((bool, "true/false"), ((int, float), "a number"), (str, "text"), (type(None), "nothing"))
    kinds += (((list, tuple), "a list"), (dict, "an object"))
    kind = next((words for types, words in kinds if isinstance(value, types)), type(value).__name__)
    shown = repr(value)
    return f"{kind} ({shown if len(shown) <= 40 else shown[:37] + '...'})"


def require_number(name: str, value: Any) -> float:
    """``value`` if it is a number; an API client may send anything, and int("abc") says nothing useful."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {described(value)}.")
    return value


def require_bool(name: str, value: Any) -> bool:
    """``value`` if it is true or false: bool("false") is True, so nothing else may stand in for one."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {described(value)}.")
    return value


def require_text(name: str, value: Any) -> str:
    """``value`` if it is text: a number or a list where text belongs would fail later with a useless error."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {described(value)}.")
    return value


@dataclass(frozen=True)
class WindowSettings:
    """How a (question, paragraph) pair is cut into windows.

    ``doc_stride`` is the number of paragraph tokens that two consecutive windows *share* (the
    meaning of ``stride`` in Hugging Face tokenizers). The homework's sample code used the same word
    for the step between window starts; here that step is ``context tokens per window - doc_stride``.
    """

    max_length: int = setting(384, "Tokens per window (question + paragraph).", Bound(16, 512, 16, "tokens"))
    doc_stride: int = setting(
        128, "Paragraph tokens shared by consecutive windows.", Bound(0, 256, 8, "tokens")
    )
    max_question_length: int = setting(
        64, "Question tokens kept; longer questions are cut.", Bound(1, 256, 1, "tokens")
    )

    def __post_init__(self) -> None:
        check(self)

    @property
    def question_limit(self) -> int:
        """Question tokens kept: never more than half the window, so the paragraph always has room."""
        return min(self.max_question_length, self.max_length // 2)


@dataclass(frozen=True)
class SpanRules:
    """Which spans may be an answer, how spans of different windows compare, and how many to keep."""

    max_answer_length: int = setting(30, "Longest answer, in tokens.", Bound(1, 100, 1, "tokens"))
    top_k: int = setting(20, "Best starts x best ends examined per window.", Bound(1, 512))
    n_best: int = setting(10, "Answers listed over all windows.", Bound(1, 50))
    use_max_context: bool = setting(
        True, "A start counts only in the window where it has the most context (BERT's run_squad)."
    )
    window_scores: WindowScores = setting(
        "logits",
        "How spans of different windows compare: raw start + end scores (BERT's run_squad) or "
        "per-window probabilities (the transformers pipeline).",
        kind=WindowScores,
    )
    null_threshold: float | None = setting(
        None,
        'How far the null score ([CLS] as start and end) must beat the best span to answer "not in the '
        "paragraph\"; empty: the checkpoint's own, tuned when it was trained with unanswerable questions.",
        Bound(-30, 30, 0.1),
    )
    answer_threshold: float | None = setting(
        None,
        "The answer check's probability that the best span is right must be at least this to answer; below it "
        'the answer is "not in the paragraph". Only for a checkpoint with an answer check (answer_check.json), '
        "which then decides instead of the null threshold; empty: the check's own default.",
        Bound(0, 1, 0.01),
    )
    post_processing: bool = setting(
        True,
        "Reject spans that end before they start or run over max_answer_length (the homework's "
        "post-processing); off, the best start and the best end are taken as they are, and a reversed "
        "pair answers with empty text, as the homework's sample code did.",
    )

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class AnswerSettings:
    """Every knob of one answer: how the pair is cut into windows and which spans may win."""

    windows: WindowSettings = WindowSettings()
    spans: SpanRules = SpanRules()


@dataclass(frozen=True)
class AttributionSettings:
    """How a span's score is attributed to the input tokens (the "why this span" view)."""

    method: AttributionMethod = setting(
        "gradient x input",
        "Gradient x input (one backward pass) or integrated gradients (batched steps from a baseline).",
        kind=AttributionMethod,
    )
    steps: int = setting(16, "Integration steps of integrated gradients.", Bound(2, 64, 2, "steps"))

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class RequestLimits:
    """A server's policy on request size, passed to the engine by the app; batch tools pass none.

    A paragraph over ``max_chars`` or needing more than ``max_windows`` windows is refused with a
    message rather than stalling a shared server for minutes.
    """

    max_chars: int
    max_windows: int


@dataclass(frozen=True)
class ContextSettings:
    """The layer the "same character, different contexts" view shows; every layer is computed at once."""

    layer: int = setting(
        0, "Layer shown: 0 is the input embeddings, i the output of layer i.", Bound(0, 48, 1, "layers")
    )

    def __post_init__(self) -> None:
        check(self)
