"""What a confidence number means: a file answered once with the answer check, the threshold moved after."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa_core.answering.answer_check import AnswerCheck
from qa_core.answering.engine import QAEngine
from qa_core.data.squad import load_examples
from qa_core.explaining import confidence
from qa_core.explaining.confidence import ConfidenceRecord
from qa_core.train.jobs import SAMPLE_DATA


@pytest.fixture(scope="module")
def checked_engine(tiny_bert_dir: Path, tmp_path_factory) -> QAEngine:
    folder = tmp_path_factory.mktemp("checked") / "model"
    shutil.copytree(tiny_bert_dir, folder)
    AnswerCheck(("null_margin",), (0.0,), (1.0,), (-2.0,), 0.0, 0.3, {"training": {"a.json": 4}}).save(folder)
    return QAEngine.load(folder)


def test_a_model_without_an_answer_check_is_refused_with_the_model_to_pick(tiny_bert_dir):
    with pytest.raises(ValueError, match="no answer check.*e5-small-zh-en-qa-null"):
        confidence.answer_file(QAEngine.load(tiny_bert_dir), load_examples(SAMPLE_DATA)[:2])


def test_the_sample_file_with_made_up_negatives_is_answered_once_and_negatives_are_never_right(checked_engine):
    examples = confidence.with_negatives(load_examples(SAMPLE_DATA), 8, 0.5)
    assert sum(e.impossible for e in examples) == 4 and len(examples) == 12
    record = confidence.answer_file(checked_engine, examples)
    assert record.probabilities.shape == record.right.shape == (12,)
    assert not record.right[record.unanswerable].any()
    assert ((record.probabilities >= 0) & (record.probabilities <= 1)).all()
    assert record.threshold == 0.3
    assert confidence.with_negatives(load_examples(SAMPLE_DATA), 8, 0.5) == examples, "the same file, the same record"


def test_moving_the_threshold_trades_unanswerable_caught_for_answerable_lost():
    record = ConfidenceRecord(
        unanswerable=np.array([False, False, False, True, True]),
        probabilities=np.array([0.9, 0.6, 0.2, 0.5, 0.1]),
        right=np.array([True, True, False, False, False]),
        threshold=0.3,
    )
    assert record.flagged(0.0) == (0.0, 0.0)
    assert record.flagged(0.55) == (1.0, pytest.approx(1 / 3))
    points = {round(p.threshold, 2): p for p in record.coverage()}
    assert points[0.0].answered == 1.0 and points[0.0].accuracy == pytest.approx(2 / 5)


def test_the_page_says_what_a_threshold_buys_in_numbers():
    from ui.confidence import redraw

    record = ConfidenceRecord(
        unanswerable=np.array([False, False, True, True]),
        probabilities=np.array([0.9, 0.2, 0.5, 0.1]),
        right=np.array([True, False, False, False]),
        threshold=0.3,
    )
    note = redraw(record, 0.4).note
    assert "4 questions, 2 of them unanswerable" in note
    assert "At a threshold of 0.40 (the model's own: 0.30): 50% answered and 50% of those right" in note
    assert "50% of the unanswerable questions and 50% of the answerable ones left unanswered" in note


def test_the_ask_tab_words_the_checks_decision_with_whose_threshold_decided(checked_engine):
    import dataclasses

    from ui.ask import summary

    answer = checked_engine.answer("台北在哪裡？", "台北是臺灣的首都，位於島嶼北部。")
    unsure = dataclasses.replace(answer, p_correct=0.12, no_answer=True)
    said = summary(unsure, "m", in_int8=False, threshold_set=False, check_threshold=0.2)
    assert "only a 12% chance of being right, under the threshold of 20% (the model's own" in said
    sure = dataclasses.replace(answer, p_correct=0.83, no_answer=False)
    said = summary(sure, "m", in_int8=False, threshold_set=True, check_threshold=0.5)
    assert "a 83% chance of being right, at least the threshold of 50% (the one you set)" in said
