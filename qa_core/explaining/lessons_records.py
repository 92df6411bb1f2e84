"""The records of the Lessons tab: the reference experiments and where training windows place the answer.

NumPy only, so the figures that draw them need no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa_core.models.curve import CurvePoint, RunScores


@dataclass(frozen=True)
class PositionBin:
    """EM/F1 of the questions whose answer starts in one part of its inference window.

    ``low`` and ``high`` are shares of the window's paragraph tokens: 0 is its first, 1 its last.
    """

    low: float
    high: float
    scores: RunScores


@dataclass(frozen=True)
class ExperimentRun:
    """One training run of the reference experiments, as it was measured."""

    name: str
    about: str
    lessons: tuple[str, ...]
    command: str  # the training command that reproduces it
    seconds: float
    curve: tuple[CurvePoint, ...]
    final: RunScores
    by_position: tuple[PositionBin, ...]


@dataclass(frozen=True)
class RunCurve:
    """A learning curve to compare: a reference run or a model fine-tuned in the app."""

    name: str
    points: tuple[CurvePoint, ...]
    reference: bool = True


@dataclass(frozen=True)
class PostProcessingEffect:
    """One model answering the same questions with the homework's post-processing rules on and off."""

    run: str
    on: RunScores
    off: RunScores
    reversed: int  # answers whose best start came after their best end: empty text without the rules
    too_long: int  # answers longer than max_answer_length tokens without the rules
    changed: int  # answers whose text differs between the two


@dataclass(frozen=True)
class Experiments:
    """The reference experiments: how they were run and what they measured."""

    command: str
    machine: str
    created: str
    recipe: dict[str, object]
    runs: tuple[ExperimentRun, ...]
    post_processing: PostProcessingEffect | None

    def run(self, name: str) -> ExperimentRun | None:
        return next((r for r in self.runs if r.name == name), None)

    def runs_of(self, lesson: str) -> tuple[ExperimentRun, ...]:
        """The runs that are the sides of one lesson, in the plan's order."""
        return tuple(r for r in self.runs if lesson in r.lessons)


@dataclass(frozen=True)
class PlacedWindow:
    """One training window cut around an answer: paragraph tokens [first, end) and the characters they cover."""

    placement: str
    draw: int  # 0 for the centred window; 1, 2, ... for the random draws
    first: int
    end: int  # exclusive
    start_char: int
    end_char: int  # exclusive


@dataclass(frozen=True)
class PlacementDraws:
    """The windows training cuts for one question under each placement (the training code's own windows)."""

    question: str
    context: str
    answer_tokens: tuple[int, int]  # first and last paragraph token of the answer
    answer_chars: tuple[int, int]  # its characters, end exclusive
    paragraph_tokens: int
    room: int  # paragraph tokens a window holds beside this question
    windows: tuple[PlacedWindow, ...]


@dataclass(frozen=True)
class PlacementHistogram:
    """Where the answer starts inside its training window, over a whole file, for each placement.

    Positions are shares of the window's paragraph tokens (0: its first token, 1: its last);
    ``fits_one_window`` counts the questions whose paragraph is no longer than a window, where
    placement has nothing to choose.
    """

    max_length: int
    positions: dict[str, np.ndarray]  # placement -> (n,) positions
    fits_one_window: int
    questions: int
