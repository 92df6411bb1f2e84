"""Which models the page lists, and how it words a no-answer decision."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qa_core.answering.engine import QAEngine
from qa_core.answering.records import NullDecision
from qa_core.models import checkpoints


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def test_every_model_folder_is_listed_shipped_first_then_the_others_then_the_users(tmp_path):
    for name in ("a-candidate", *reversed(checkpoints.SHIPPED), "user/mine", ".tmp-x"):
        _model(tmp_path / name)
    (tmp_path / "notes").mkdir()  # not a model
    assert list(checkpoints.available(tmp_path)) == [*checkpoints.SHIPPED, "a-candidate", "user/mine"]
    assert checkpoints.resolve("a-candidate", tmp_path) == ("a-candidate", tmp_path / "a-candidate")


def test_the_model_picker_marks_the_shipped_models():
    from ui.page import model_choices

    choices = dict((value, label) for label, value in model_choices())
    assert choices[checkpoints.DEFAULT_NAME] == f"{checkpoints.DEFAULT_NAME} (shipped)"
    assert choices[checkpoints.ABSTAINING_NAME] == f"{checkpoints.ABSTAINING_NAME} (shipped)"


@pytest.fixture(scope="module")
def answer(tiny_bert_dir):
    return QAEngine.load(tiny_bert_dir).answer("Where is the cat?", "The cat sat on the mat in Paris.")


def _decided(answer, null_score: float, span_score: float, threshold: float):
    null = NullDecision(null_score=null_score, null_window=0, span_score=span_score, threshold=threshold)
    trace = dataclasses.replace(answer.trace, null=null)
    return dataclasses.replace(answer, trace=trace, no_answer=null.no_answer, null_margin=null.margin)


def test_a_typed_threshold_that_lets_no_answer_win_from_behind_reads_as_a_lead_too_small(answer):
    from ui.ask import summary

    said = summary(_decided(answer, 0.0, 15.19, -18.0), "m", in_int8=False, threshold_set=True)
    assert "only 15.19 above “no answer”" in said and "more than 18.00" in said and "the one you set" in said
    assert "-15.19" not in said and "its threshold" not in said


def test_the_models_own_threshold_is_named_as_the_models(answer):
    from ui.ask import summary

    said = summary(_decided(answer, 5.0, 2.0, 1.5), "m", in_int8=False)
    assert "scores “no answer” 3.00 above its best span, more than the threshold of 1.50" in said
    assert "the model's own" in said
