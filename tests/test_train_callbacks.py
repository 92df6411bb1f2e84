"""The Trainer callbacks one at a time, driven by hand-made trainer states and a fake clock."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer, BertForQuestionAnswering, TrainerControl, TrainerState
from transformers.optimization import get_linear_schedule_with_warmup

from qa_core.data.metrics import Scores
from qa_core.data.squad import Example, GoldAnswer
from qa_core.models.curve import LearningCurve
from qa_core.settings import WindowSettings
from qa_core.train import callbacks
from qa_core.train.callbacks import Cancellation, Evaluation, ProgressReport, TimeBudget
from qa_core.train.config import TrainProgress

CONTEXT = "the eiffel tower is in paris. paris is the capital city of france."
EXAMPLES = [
    Example("1", "what is the capital of france?", CONTEXT, (GoldAnswer("paris", CONTEXT.index("paris")),)),
    Example("2", "where is the eiffel tower?", CONTEXT, (GoldAnswer("paris", CONTEXT.index("paris")),)),
]


@pytest.fixture
def clock(monkeypatch) -> SimpleNamespace:
    """The callbacks' clock, moved on by hand."""
    now = SimpleNamespace(seconds=1000.0)
    monkeypatch.setattr(callbacks, "time", SimpleNamespace(time=lambda: now.seconds))
    return now


def _state(step: int = 0, max_steps: int = 10) -> TrainerState:
    return TrainerState(global_step=step, max_steps=max_steps)


def test_cancellation_stops_after_the_step_without_saving_only_once_asked() -> None:
    stop = threading.Event()
    cancellation, control = Cancellation(stop), TrainerControl(should_save=True)
    cancellation.on_step_end(None, _state(1), control)
    assert not cancellation.cancelled and not control.should_training_stop and control.should_save
    stop.set()
    cancellation.on_step_end(None, _state(2), control)
    assert cancellation.cancelled and control.should_training_stop and not control.should_save


def test_progress_reports_each_step_and_each_loss_with_time_left(clock) -> None:
    measured = Scores(exact_match=50.0, f1=60.0, accuracy=0.5, n=2)
    evaluation = SimpleNamespace(scores_at=lambda step: measured if step == 2 else None)
    reports: list[TrainProgress] = []
    report = ProgressReport(reports.append, evaluation)
    state, control = _state(0, max_steps=10), TrainerControl()
    report.on_train_begin(None, state, control)
    for step in (1, 2):
        clock.seconds += 3
        state.global_step = step
        report.on_step_end(None, state, control)
        report.on_log(None, state, control, logs={"loss": 4.0 / step, "learning_rate": 1e-4})
    assert [(r.step, r.loss, r.loss_step, r.eval) for r in reports] == [
        (1, None, None, None),
        (1, 4.0, 1, None),
        (2, 4.0, 1, measured),
        (2, 2.0, 2, None),
    ]
    assert reports[-1].elapsed_s == 6 and reports[-1].eta_s == 24, "3 s a step, 8 steps left"
    assert reports[-1].learning_rate == 1e-4


def test_time_budget_refits_the_decay_to_end_when_the_minutes_are_up(clock) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=1000)
    budget, state, control = TimeBudget(minutes=1.0), _state(0, max_steps=1000), TrainerControl()
    budget.on_train_begin(None, state, control)
    while not control.should_training_stop:
        optimizer.step()
        scheduler.step()
        state.global_step += 1
        clock.seconds += 1.0  # a second a step: a minute is about 60 steps
        budget.on_step_end(None, state, control, lr_scheduler=scheduler)
    assert 55 <= state.global_step <= 61 and state.max_steps == state.global_step
    assert scheduler.get_last_lr()[0] < 0.1, "the learning rate decayed by the end, not cut off"


def test_time_budget_leaves_a_run_that_fits_alone(clock) -> None:
    budget, state, control = TimeBudget(minutes=10.0), _state(0, max_steps=5), TrainerControl()
    budget.on_train_begin(None, state, control)
    for step in range(1, 5):
        state.global_step = step
        clock.seconds += 1.0
        budget.on_step_end(None, state, control, lr_scheduler=None)
        assert not control.should_training_stop
    state.global_step = 5
    budget.on_step_end(None, state, control, lr_scheduler=None)
    assert control.should_training_stop and state.max_steps == 5


def _points(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_evaluation_measures_every_nth_step_once_and_a_resumed_run_forgets_later_points(
    tiny_bert_dir, tmp_path, clock
) -> None:
    path = tmp_path / "learning_curve.jsonl"
    path.write_text("".join(json.dumps({"step": 100 + s, "windows_seen": 0}) + "\n" for s in range(1, 6)), encoding="utf-8")
    curve = LearningCurve(path, offset_steps=100, offset_windows=1600)
    windows = WindowSettings(doc_stride=16, max_question_length=8)
    evaluation = Evaluation(
        AutoTokenizer.from_pretrained(tiny_bert_dir),
        EXAMPLES,
        windows=windows,
        every=2,
        windows_per_step=4,
        curve=curve,
    )
    assert evaluation.settings.windows == windows and windows.max_length == WindowSettings().max_length
    model, state, control = (
        BertForQuestionAnswering.from_pretrained(tiny_bert_dir),
        _state(2),
        TrainerControl(),
    )
    evaluation.on_train_begin(None, state, control, model=model)
    assert [p["step"] for p in _points(path)] == [101, 102], "resuming from step 2 forgets steps 3 to 5"

    evaluation.on_log(None, state, control, logs={"loss": 1.5})
    for step in (3, 4):
        state.global_step = step
        evaluation.on_step_end(None, state, control)
    assert evaluation.scores_at(3) is None and evaluation.scores_at(4).n == 2
    assert evaluation.measure(4) is evaluation.scores_at(4), "the last step is measured once"
    assert model.training, "the model goes back to training after a measurement"
    (point,) = _points(path)[2:]
    assert (point["step"], point["windows_seen"], point["loss"], point["n"]) == (104, 1616, 1.5, 2)
