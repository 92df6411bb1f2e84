"""The learning curve: one JSON line of EM/F1 per measurement, continued across resumed and continued runs.

A model trained further starts its curve where its base's curve ended (``offset``), and a run
resumed from a checkpoint forgets the points measured after it, because it measures those steps again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "learning_curve.jsonl"


@dataclass(frozen=True)
class RunScores:
    """EM and F1 in percent over ``n`` questions (the figures' copy of ``metrics.Scores``)."""

    exact_match: float
    f1: float
    n: int


@dataclass(frozen=True)
class CurvePoint:
    """A point of a learning curve: the training loss and, where it was measured, EM/F1 on the slice."""

    step: int
    windows_seen: int  # training windows seen by then: runs with different batch sizes compare on it
    loss: float | None
    scores: RunScores | None = None


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


@dataclass(frozen=True)
class LearningCurve:
    """The curve file of a run, whose steps and windows count on from the base model's training."""

    path: Path
    offset_steps: int = 0  # steps of the base model's own training
    offset_windows: int = 0  # windows the base model has seen in it

    @classmethod
    def continuing(cls, path: Path, base: str | Path) -> LearningCurve:
        """The curve at ``path``, counted on from where the base model's own curve (if any) ended."""
        lines = read_text(Path(base) / FILE_NAME).splitlines()
        last = json.loads(lines[-1]) if lines else {}
        return cls(path, last.get("step", 0), last.get("windows_seen", 0))

    def append(self, step: int, windows_seen: int, point: dict[str, Any]) -> None:
        """Add a measurement at this run's ``step`` after ``windows_seen`` windows of this run."""
        line = {"step": self.offset_steps + step, "windows_seen": self.offset_windows + windows_seen, **point}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def forget_after(self, step: int) -> None:
        """Drop points measured after this run's ``step``: a run resuming from there measures them again."""
        lines = read_text(self.path).splitlines()
        kept = [line for line in lines if json.loads(line)["step"] <= self.offset_steps + step]
        if len(kept) < len(lines):
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def curve_points(path: Path) -> tuple[CurvePoint, ...]:
    """The measurements of a curve file (a model folder's ``learning_curve.jsonl``) as records to draw."""
    points = [json.loads(line) for line in read_text(path).splitlines() if line.strip()]
    return tuple(
        CurvePoint(
            p["step"],
            p.get("windows_seen", 0),
            p.get("loss"),
            RunScores(round(p["exact_match"], 2), round(p["f1"], 2), p["n"]) if "f1" in p else None,
        )
        for p in points
    )
