"""The reference experiments: a shared recipe, and the runs that each change one thing in it.

Every run trains the same encoder on the same questions, windows, seed and number of steps, so the
only difference between two curves is the switch the lesson is about. The recipe is sized for a
2-core CPU: short windows (the lesson on placement needs paragraphs longer than a window) and a
few hundred steps of the small English MiniLM on a sample of SQuAD.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from qa_core.settings import setting
from qa_core.train.config import TrainConfig

Lesson = Literal["placement", "schedule", "pretraining", "post_processing"]
REFERENCE = "reference"  # the run every lesson compares against


@dataclass(frozen=True)
class Run:
    """One training run of the plan: the recipe with ``changes`` applied."""

    name: str
    lessons: tuple[Lesson, ...]  # the lessons this run is one side of
    changes: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields that differ from the recipe
    about: str = ""


RUNS = (
    Run(
        REFERENCE,
        ("placement", "schedule", "pretraining", "post_processing"),
        about="pre-trained encoder, answer at a random place in its window, linear decay",
    ),
    Run("centre", ("placement",), {"placement": "centre"}, "the answer in the middle of its training window"),
    Run("constant", ("schedule",), {"schedule": "constant"}, "a constant learning rate after warm-up"),
    Run("random-init", ("pretraining",), {"init": "random"}, "the same architecture from random weights"),
)


@dataclass(frozen=True)
class Recipe:
    """What every run shares; each field is a command-line option of ``python -m qa_core.tooling.experiments``."""

    base: str = setting("minilm-l6-en", "Base encoder of every run.")
    train: str = setting("../shared/data/squad/train-v1.1.json", "Training file.")
    eval: str = setting("../shared/data/squad/dev-v1.1-no-xquad.json", "Evaluation file (never trained on).")
    max_questions: int = setting(20000, "A seeded sample of this many training questions.")
    steps: int = setting(400, "Optimizer steps of every run: the equal budget.")
    batch_size: int = setting(32, "Windows per step.")
    max_length: int = setting(
        128, "Tokens per window, in training and measuring: short, so most paragraphs need placing."
    )
    doc_stride: int = setting(32, "Paragraph tokens shared by consecutive windows when measuring.")
    learning_rate: float = setting(1.5e-4, "Peak learning rate.")
    curve_points: int = setting(5, "EM/F1 measurements during each run.")
    curve_questions: int = setting(
        300, "First questions of the evaluation file measured at each curve point."
    )
    final_questions: int = setting(1000, "First questions of the evaluation file of the final measurement.")
    seed: int = setting(2026, "Seed of every run: the same sample, placements and initial head.")

    def config(self, run: Run, work: Path) -> TrainConfig:
        """The training config of ``run``: the recipe, then the run's one change."""
        config = TrainConfig(
            base=self.base,
            train=[self.train],
            out=str(work / run.name / "model"),
            eval=self.eval,
            work_dir=str(work / run.name / "trainer"),
            max_length=self.max_length,
            eval_max_length=self.max_length,
            doc_stride=self.doc_stride,
            max_steps=self.steps,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            freeze_embeddings=False,  # a randomly initialised encoder must learn its embeddings too
            max_questions=self.max_questions,
            log_every=10,
            eval_every=max(1, self.steps // self.curve_points),
            eval_questions=self.curve_questions,
            save_every=0,
            seed=self.seed,
        )
        return replace(config, **run.changes)
