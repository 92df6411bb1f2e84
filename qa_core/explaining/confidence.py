"""What a confidence number means: a file's questions answered by a model with an answer check, kept with the
check's probability that each best span is right and whether it was.

The figures then move the threshold without running the model again: how many questions would be answered,
and how many of those would be right (coverage against risk), and whether "80% sure" is right 80% of the time
(reliability). Questions the paragraph cannot answer are made from the file itself (its answer sentence
removed, or another paragraph of the same article: ``qa_core.data.negatives``), so a file of answerable
questions also shows what the check does when the answer is not there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qa_core.data.calibration import (
    RIGHT_F1,
    CoveragePoint,
    ReliabilityBin,
    calibration_error,
    coverage_risk,
    reliability,
)
from qa_core.data.metrics import f1, is_chinese
from qa_core.data.negatives import DEFAULT_KINDS, make_negatives
from qa_core.data.squad import Example

if TYPE_CHECKING:  # the figures read the record without torch
    from qa_core.answering.engine import QAEngine

SEED = 2026  # which questions become unanswerable: the same file gives the same record


@dataclass(frozen=True)
class ConfidenceRecord:
    """Per question: whether it was made unanswerable, the check's probability, and whether the span is right."""

    unanswerable: np.ndarray  # (n,) bool
    probabilities: np.ndarray  # (n,) the answer check's probability that the best span is right
    right: np.ndarray  # (n,) bool: F1 >= RIGHT_F1 against the gold answers; never for an unanswerable one
    threshold: float  # the model's stored default

    def coverage(self) -> list[CoveragePoint]:
        return coverage_risk(self.probabilities, self.right)

    def reliability(self) -> tuple[list[ReliabilityBin], float]:
        """The reliability bins and their expected calibration error."""
        bins = reliability(self.probabilities, self.right)
        return bins, calibration_error(bins)

    def flagged(self, threshold: float) -> tuple[float, float]:
        """Shares (0-1) of the unanswerable and of the answerable questions that ``threshold`` leaves unanswered."""
        below = self.probabilities < threshold
        return _share(below[self.unanswerable]), _share(below[~self.unanswerable])


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else float("nan")


def with_negatives(examples: Sequence[Example], questions: int, share: float) -> list[Example]:
    """The first ``questions`` answerable questions and the file's own unanswerable ones (SQuAD 2.0), and about
    ``share`` × as many made unanswerable from the answerable ones."""
    answerable = [e for e in examples if e.answers and not e.impossible][:questions]
    own = [e for e in examples if e.impossible][:questions]
    made = make_negatives(answerable, share, DEFAULT_KINDS, SEED)
    return answerable + own + [negative for kind in DEFAULT_KINDS for negative in made[kind]]


def answer_file(engine: QAEngine, examples: Sequence[Example]) -> ConfidenceRecord:
    """Answer every example once and keep what the figures need; refused for a model without an answer check."""
    if engine.check is None:
        raise ValueError(
            "This model has no answer check (answer_check.json), so it gives no probability that an answer is "
            "right: pick a model that has one, such as e5-small-zh-en-qa-null."
        )
    if not examples:
        raise ValueError("The file has no question with an answer to measure against.")
    answers = engine.answer_many([(e.question, e.context) for e in examples])
    chinese = sum(is_chinese(e.context) for e in examples) * 2 > len(examples)
    right = [
        not e.impossible and f1(a.text, [g.text for g in e.answers], chinese=chinese) >= RIGHT_F1
        for e, a in zip(examples, answers, strict=True)
    ]
    return ConfidenceRecord(
        unanswerable=np.array([e.impossible for e in examples]),
        probabilities=np.array([a.p_correct or 0.0 for a in answers]),
        right=np.array(right),
        threshold=engine.check.threshold,
    )
