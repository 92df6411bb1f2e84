"""Train and measure each run of the plan, resuming where an interrupted set stopped.

Each run's record is kept in ``<work>/<run>/result.json`` once measured, so a rerun of the command
trains only what is missing; the trained models stay in ``<work>`` and are not shipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import date
from pathlib import Path

from qa_core.answering.engine import QAEngine
from qa_core.data.predict import answer_all
from qa_core.data.squad import Example, load_examples
from qa_core.explaining.lessons_records import ExperimentRun, Experiments
from qa_core.models.curve import FILE_NAME as CURVE_FILE
from qa_core.models.curve import CurvePoint, curve_points
from qa_core.models.model_card import machine, train_command
from qa_core.settings import AnswerSettings
from qa_core.tooling.experiments import results
from qa_core.tooling.experiments.measure import (
    answer_positions,
    by_position,
    post_processing_effect,
    run_scores,
)
from qa_core.tooling.experiments.plan import REFERENCE, RUNS, Recipe, Run
from qa_core.train.config import TrainConfig, TrainProgress, defaults
from qa_core.train.run import run as train

log = logging.getLogger(__name__)


def run_all(recipe: Recipe, work: Path, command: str) -> Experiments:
    """Every run of the plan, then the post-processing measurement on the reference model."""
    examples = load_examples(recipe.eval, bad_offsets="keep", drop_empty_questions=True)[
        : recipe.final_questions
    ]
    runs = tuple(train_and_measure(recipe, run, work, examples) for run in RUNS)
    reference = recipe.config(next(r for r in RUNS if r.name == REFERENCE), work)
    engine = QAEngine.load(reference.out)
    effect = post_processing_effect(
        engine, examples, AnswerSettings(windows=reference.eval_windows()), REFERENCE
    )
    return Experiments(
        command=command,
        machine=machine(),
        created=date.today().isoformat(),
        recipe=asdict(recipe),
        runs=runs,
        post_processing=effect,
    )


def train_and_measure(recipe: Recipe, run: Run, work: Path, examples: list[Example]) -> ExperimentRun:
    """Train ``run`` (unless its model is there) and measure it on the final slice (unless it was)."""
    done = work / run.name / "result.json"
    if done.is_file():
        return results.run_from(json.loads(done.read_text(encoding="utf-8")))
    config = recipe.config(run, work)
    losses_file = work / run.name / "losses.json"
    if not losses_file.is_file():
        log.info("training %s: %s", run.name, run.about)
        losses, seconds = _train(config)
        losses_file.write_text(json.dumps({"seconds": seconds, "losses": losses}), encoding="utf-8")
    trained = json.loads(losses_file.read_text(encoding="utf-8"))
    engine = QAEngine.load(config.out)
    settings = AnswerSettings(windows=config.eval_windows())
    answers = answer_all(engine, examples, settings)
    positions = answer_positions(engine.tokenizer, examples, settings.windows)
    record = ExperimentRun(
        name=run.name,
        about=run.about,
        lessons=run.lessons,
        command=train_command(asdict(config), defaults()),
        seconds=trained["seconds"],
        curve=_curve(trained["losses"], Path(config.out) / CURVE_FILE, config.batch_size * config.grad_accum),
        final=run_scores(answers, examples),
        by_position=by_position(answers, examples, positions),
    )
    done.write_text(json.dumps(asdict(record), ensure_ascii=False), encoding="utf-8")
    return record


def _train(config: TrainConfig) -> tuple[dict[str, float], float]:
    """Train one run; the training loss at every logged step, and the run's seconds."""
    losses: dict[str, float] = {}

    def keep_loss(progress: TrainProgress) -> None:
        if progress.loss_step is not None and progress.loss is not None:
            losses[str(progress.loss_step)] = progress.loss

    outcome = train(config, on_progress=keep_loss)
    return losses, round(outcome.seconds)


def _curve(losses: dict[str, float], curve_file: Path, windows_per_step: int) -> tuple[CurvePoint, ...]:
    """Loss at every logged step, with EM/F1 at the steps the slice was measured."""
    measured = {p.step: p for p in curve_points(curve_file)}
    loss = {int(s): value for s, value in losses.items()} | {s: p.loss for s, p in measured.items() if p.loss}
    return tuple(
        CurvePoint(s, s * windows_per_step, loss.get(s), measured[s].scores if s in measured else None)
        for s in sorted(set(loss) | set(measured))
    )
