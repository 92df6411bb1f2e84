"""Trainer callbacks, one concern each: measuring EM/F1, reporting progress, stopping on request, keeping to time.

The Trainer calls them in the order given, so ``run`` lists the evaluation first: a progress
report of a measured step then carries its scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, TrainerCallback, TrainerControl, TrainerState

from qa_core.answering.engine import QAEngine
from qa_core.data.evaluate import evaluate_answers
from qa_core.data.metrics import Scores
from qa_core.data.squad import Example
from qa_core.models.curve import LearningCurve
from qa_core.settings import AnswerSettings, WindowSettings
from qa_core.train.config import StopSignal, TrainProgress

log = logging.getLogger(__name__)


class Evaluation(TrainerCallback):
    """EM/F1 on the evaluation slice every ``every`` steps, each measurement appended to the learning curve."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        examples: list[Example],
        *,
        windows: WindowSettings,
        every: int,
        windows_per_step: int,
        curve: LearningCurve,
    ) -> None:
        self.tokenizer, self.examples, self.every = tokenizer, examples, every
        self.settings = AnswerSettings(windows=windows)
        self.windows_per_step, self.curve = windows_per_step, curve
        self.model: torch.nn.Module | None = None
        self.started = time.time()
        self.loss: float | None = None  # the latest logged training loss, recorded beside each measurement
        self.measured: tuple[int, Scores] | None = None  # the latest measurement and its step

    def on_train_begin(
        self, args, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        self.model, self.started = model, time.time()
        self.curve.forget_after(state.global_step)

    def on_log(self, args, state: TrainerState, control: TrainerControl, logs=None, **kwargs) -> None:
        self.loss = (logs or {}).get("loss", self.loss)

    def on_step_end(self, args, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if state.global_step % self.every == 0:
            self.measure(state.global_step)

    def scores_at(self, step: int) -> Scores | None:
        """The measurement taken at ``step``, if one was."""
        return self.measured[1] if self.measured is not None and self.measured[0] == step else None

    def measure(self, step: int) -> Scores:
        """EM/F1 on the evaluation slice, appended to the learning curve (once per step)."""
        if (already := self.scores_at(step)) is not None:  # the last step is also an eval step
            return already
        engine = QAEngine(self.model, self.tokenizer)
        answers = engine.answer_many([(e.question, e.context) for e in self.examples], self.settings)
        self.model.train()
        result = evaluate_answers(self.examples, answers).overall  # SQuAD 2.0 rules for a file with them
        point = {"loss": self.loss, **asdict(result), "elapsed_s": round(time.time() - self.started, 1)}
        self.curve.append(step, step * self.windows_per_step, point)
        log.info("step %d: EM %.1f F1 %.1f on %d questions", step, result.exact_match, result.f1, result.n)
        self.measured = (step, result)
        return result


class ProgressReport(TrainerCallback):
    """Hands a ``TrainProgress`` to a UI after every step and every logged loss."""

    def __init__(self, on_progress: Callable[[TrainProgress], None], evaluation: Evaluation | None = None):
        self.on_progress, self.evaluation = on_progress, evaluation
        self.started, self.first_step = time.time(), 0
        self.loss: float | None = None
        self.loss_step: int | None = None
        self.learning_rate: float | None = None

    def on_train_begin(self, args, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.started, self.first_step = time.time(), state.global_step

    def on_log(self, args, state: TrainerState, control: TrainerControl, logs=None, **kwargs) -> None:
        logs = logs or {}
        self.learning_rate = logs.get("learning_rate", self.learning_rate)
        if "loss" in logs:  # logged after on_step_end, so report it now rather than a step late
            self.loss, self.loss_step = logs["loss"], state.global_step
            self._report(state, None)

    def on_step_end(self, args, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self._report(state, self.evaluation.scores_at(state.global_step) if self.evaluation else None)

    def _report(self, state: TrainerState, measured: Scores | None) -> None:
        step, elapsed = state.global_step, time.time() - self.started
        done = step - self.first_step
        eta = elapsed / done * (state.max_steps - step) if done else None
        self.on_progress(
            TrainProgress(
                step, state.max_steps, self.loss, self.learning_rate, elapsed, eta, measured, self.loss_step
            )
        )


class Cancellation(TrainerCallback):
    """Ends the run after the current step once ``stop`` is set, saving nothing on the way out."""

    def __init__(self, stop: StopSignal):
        self.stop = stop
        self.cancelled = False

    def on_step_end(self, args, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if self.stop.is_set():
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = False


class TimeBudget(TrainerCallback):
    """Ends the run when ``minutes`` are up, with the learning rate decayed by then, not cut off mid-way.

    The Trainer fixes the schedule's length before anyone knows how fast a step is on this machine,
    so the end step is re-estimated from the pace so far and the schedule refitted to it.
    """

    def __init__(self, minutes: float):
        self.minutes = minutes
        self.started, self.first_step = time.time(), 0
        self.planned_steps = 0  # the run's length before it was refitted

    def on_train_begin(self, args, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.started, self.first_step = time.time(), state.global_step

    def on_step_end(
        self, args, state: TrainerState, control: TrainerControl, lr_scheduler=None, **kwargs
    ) -> None:
        step, done = state.global_step, state.global_step - self.first_step
        elapsed, budget = time.time() - self.started, 60 * self.minutes
        self.planned_steps = self.planned_steps or state.max_steps
        if done >= 20 and done % 10 == 0 and lr_scheduler is not None:  # a pace over 20+ steps, rechecked
            fitted = max(step, min(self.planned_steps, step + int((budget - elapsed) * done / elapsed)))
            if fitted != state.max_steps:
                fit_schedule(lr_scheduler, fitted)
                state.max_steps = fitted
        if step >= state.max_steps or elapsed >= budget:
            log.info("stopping at step %d after %.1f of %g minutes", step, elapsed / 60, self.minutes)
            control.should_training_stop = True


def fit_schedule(lr_scheduler: Any, total_steps: int) -> None:
    """Make the learning-rate decay end at ``total_steps`` (a warm-up or constant schedule is left as it is)."""
    lr_scheduler.lr_lambdas = [
        partial(f.func, **{**f.keywords, "num_training_steps": total_steps})
        if isinstance(f, partial) and "num_training_steps" in f.keywords
        else f
        for f in lr_scheduler.lr_lambdas
    ]
