"""What a confidence number means: reliability (is "80% sure" right 80% of the time?) and coverage against risk.

Given each question's probability that its answer is right and whether it was, ``reliability`` bins the
probabilities and compares each bin's mean with how often its answers were right; the expected
calibration error is the gap, weighted by how many questions each bin holds. ``coverage_risk`` moves a
threshold from 0 to 1: the share of questions answered falls, and the share of the answered ones that are
right should rise. NumPy only, for the measuring tools and for the app's figures alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RIGHT_F1 = 0.5  # a best span with at least this F1 against the gold answers is "right"; a negative never is


@dataclass(frozen=True)
class ReliabilityBin:
    """Questions whose probability fell in ``[low, high)`` (the last bin includes 1)."""

    low: float
    high: float
    n: int
    confidence: float | None  # the mean probability in the bin; None when it is empty
    accuracy: float | None  # the share of its answers that were right


@dataclass(frozen=True)
class CoveragePoint:
    """Answering only when the probability is at least ``threshold``."""

    threshold: float
    answered: float  # the share of the questions answered
    accuracy: float | None  # the share of the answered that are right; None when none is answered
    n: int  # questions in all


def _checked(probabilities: Sequence[float], right: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    p, r = np.asarray(probabilities, dtype=float), np.asarray(right, dtype=bool)
    if p.shape != r.shape or p.ndim != 1:
        raise ValueError(
            f"give one probability per question and one right/wrong per question, got {p.shape} and {r.shape}."
        )
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("probabilities must lie from 0 to 1.")
    return p, r


def reliability(
    probabilities: Sequence[float], right: Sequence[bool], bins: int = 10
) -> tuple[ReliabilityBin, ...]:
    """Equal-width bins of the probabilities, each with its mean probability and the share right."""
    p, r = _checked(probabilities, right)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        rows.append(
            ReliabilityBin(
                float(edges[b]),
                float(edges[b + 1]),
                n,
                float(p[inside].mean()) if n else None,
                float(r[inside].mean()) if n else None,
            )
        )
    return tuple(rows)


def calibration_error(bins: Sequence[ReliabilityBin]) -> float:
    """Expected calibration error: the mean |confidence - accuracy| over bins, weighted by their questions."""
    total = sum(b.n for b in bins)
    if not total:
        raise ValueError("no questions to measure calibration on.")
    return sum(b.n * abs(b.confidence - b.accuracy) for b in bins if b.n) / total


def coverage_risk(
    probabilities: Sequence[float], right: Sequence[bool], thresholds: Sequence[float] | None = None
) -> tuple[CoveragePoint, ...]:
    """Answered share and accuracy of the answered at each threshold (by default 0, 0.01, ..., 1)."""
    p, r = _checked(probabilities, right)
    steps = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=float)
    points = []
    for threshold in steps:
        answered = p >= threshold
        count = int(answered.sum())
        share = count / p.size if p.size else 0.0
        accuracy = float(r[answered].mean()) if count else None
        points.append(CoveragePoint(float(threshold), share, accuracy, int(p.size)))
    return tuple(points)
