"""The answer check: its evidence and features, its fit, calibration and coverage, and the engine using it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa_core.answering.answer_check import (
    CHECK_FILE,
    FEATURES,
    AnswerCheck,
    Evidence,
    features,
    gather_evidence,
    load_check,
    units,
)
from qa_core.answering.engine import QAEngine
from qa_core.answering.records import Candidate, Window, WindowTrace
from qa_core.data.calibration import calibration_error, coverage_risk, reliability
from qa_core.data.squad import Example, GoldAnswer
from qa_core.explaining.calibration_figures import coverage_risk_figure, reliability_figure
from qa_core.settings import AnswerSettings, SpanRules
from qa_core.train.answer_check import (
    Observation,
    catching_threshold,
    fit_check,
    fit_logistic,
    kind_of,
    measure,
)

CONTEXT = "The tower is in Paris. It was built in 1889 for a fair."


def _trace(start: list[float], end: list[float]) -> WindowTrace:
    """A window of [CLS], two question tokens, [SEP] and three paragraph tokens ("It", "was", "built")."""
    offsets = (None, None, None, None, (23, 25), (26, 29), (30, 35))
    roles = ("special", "question", "question", "special", "paragraph", "paragraph", "paragraph")
    window = Window(0, (0,) * 7, (0,) * 7, (1,) * 7, offsets, roles, 4, 0, 3)
    blocks = tuple(None if o else "not paragraph" for o in offsets)
    return WindowTrace(window, (), np.array(start), np.array(end), blocks, blocks, None, ())


def test_evidence_reads_start_and_end_logits_probabilities_and_the_null_of_the_windows() -> None:
    trace = _trace([3.0, 0, 0, 0, 5.0, 1.0, 0.0], [2.0, 0, 0, 0, 0.0, 1.0, 4.0])
    n_best = (
        Candidate("It was built", 23, 35, 9.0, 0.9, 0, 4, 6),
        Candidate("was built", 26, 35, 5.0, 0.1, 0, 5, 6),
    )
    evidence = gather_evidence([trace], n_best)
    assert (evidence.span_score, evidence.null_score, evidence.runner_up) == (9.0, 5.0, 5.0)
    starts = np.array([3.0, 5.0, 1.0, 0.0])  # [CLS] and the three paragraph tokens; the question is out
    assert evidence.start_log_probability == pytest.approx(5.0 - np.logaddexp.reduce(starts))
    p = np.exp(starts - np.logaddexp.reduce(starts))
    assert evidence.start_entropy == pytest.approx(-(p * np.log(p)).sum())
    assert (evidence.start, evidence.end, evidence.windows, evidence.top_probability) == (23, 35, 1, 0.9)


def _evidence(start: int, end: int, **changes: float) -> Evidence:
    values = dict(
        span_score=9.0,
        null_score=5.0,
        runner_up=None,
        top_probability=0.9,
        start_log_probability=-0.1,
        end_log_probability=-0.2,
        start_entropy=0.5,
        end_entropy=0.4,
        start=start,
        end=end,
        windows=1,
    )
    return Evidence(**{**values, **changes})


def test_features_compare_the_question_with_the_answers_sentence_by_characters_or_words() -> None:
    assert units("When was THE tower built?") == ["tower", "built"], "function words out, lower case"
    assert units("台北 101在哪") == ["台", "北", "101", "在", "哪"]
    start = CONTEXT.index("1889")
    found = features(_evidence(start, start + 4), "When was the tower built in 1889?", CONTEXT)
    assert list(found) == list(FEATURES)
    assert found["null_margin"] == -4.0 and found["gap_to_runner_up"] == 30.0
    assert found["question_in_sentence"] == pytest.approx(2 / 3), (
        "built and 1889 are in its sentence, tower is not"
    )
    assert found["question_in_paragraph"] == 1.0 and found["numbers_missing"] == 0.0
    assert found["answer_length"] == pytest.approx(math.log(5)) and found["chinese"] == 0.0
    swapped = features(_evidence(start, start + 4), "When was the Louvre built in 1875?", CONTEXT)
    assert swapped["numbers_missing"] == 1.0 and swapped["names_missing"] == 1.0


def _check(threshold: float = 0.5) -> AnswerCheck:
    return AnswerCheck(("null_margin",), (0.0,), (1.0,), (-2.0,), 0.0, threshold, {"training": {"a.json": 4}})


def test_a_check_is_a_logistic_regression_on_standardised_features_and_round_trips_as_json(tmp_path) -> None:
    check = _check()
    assert check.probability({"null_margin": 0.0}) == 0.5
    assert check.probability({"null_margin": 1.0}) == pytest.approx(1 / (1 + math.exp(2)))
    check.save(tmp_path)
    assert load_check(tmp_path) == check
    assert json.loads((tmp_path / CHECK_FILE).read_text(encoding="utf-8"))["features"] == ["null_margin"]
    assert load_check(tmp_path / "elsewhere") is None


def test_a_broken_check_is_refused_with_every_problem_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"unknown feature 'size'.*one number per feature.*from 0 to 1.*fit"):
        AnswerCheck(("size",), (0.0, 1.0), (1.0,), (1.0,), 0.0, 2.0)


def test_logistic_regression_finds_the_direction_that_separates_and_the_threshold_catches_a_share() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)) * [1.0, 10.0]
    y = (x[:, 0] + rng.normal(scale=0.3, size=400) > 0).astype(float)
    means, scales, weights, bias = fit_logistic(x, y, l2=1.0)
    assert weights[0] > 3 and abs(weights[1]) < 0.5, "the informative feature wins, whatever its scale"
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.9])
    threshold = catching_threshold(p, np.array([True, True, True, True, False]), 0.75)
    assert 0.3 < threshold <= 0.3 + 1e-9, "flags p < threshold: 3 of the 4 negatives"


def _observation(qid: str, margin: float, f1: float | None) -> Observation:
    kind = "answerable" if f1 is not None else "answer_removed"
    evidence = _evidence(0, 3, null_score=margin, span_score=0.0)
    return Observation(qid, kind, "Who?", CONTEXT, evidence, f1, f1)


def test_fit_and_measure_on_observations_give_catch_rates_by_kind_f1_and_calibration() -> None:
    rng = np.random.default_rng(1)
    found = [_observation(f"a{i}", float(rng.normal(-3)), float(rng.random() < 0.9)) for i in range(60)]
    found += [_observation(f"n{i}", float(rng.normal(3)), None) for i in range(60)]
    check, held = fit_check(found, ["null_margin"], 1.0, (0.9, ["answer_removed"]), {"train.json": 120})
    assert check.weights[0] < 0 and held.shape == (120,)
    assert check.about["counts"] == {"answer_removed": 60, "answerable": 60}
    result = measure(check, found, check.threshold, null_threshold=0.0)
    assert result.caught["answer_removed"] >= 0.85
    assert result.best_span_f1 >= result.checked_f1 and 0 <= result.calibration_error <= 1
    assert set(result.null_rule_caught) == {"answer_removed", "all negatives"}


def test_reliability_bins_and_the_expected_calibration_error_by_hand() -> None:
    bins = reliability([0.05, 0.15, 0.95, 0.95, 1.0], [False, True, True, True, False], bins=10)
    assert [b.n for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert bins[9].confidence == pytest.approx(0.9667, abs=1e-4) and bins[9].accuracy == pytest.approx(2 / 3)
    assert calibration_error(bins) == pytest.approx((0.05 + 0.85 + 3 * (0.9667 - 2 / 3)) / 5, abs=1e-4)


def test_coverage_falls_and_accuracy_of_the_answered_rises_as_the_threshold_moves() -> None:
    points = coverage_risk([0.2, 0.6, 0.9], [False, True, True], thresholds=[0.0, 0.5, 0.95])
    assert [(p.answered, p.accuracy) for p in points] == [(1.0, 2 / 3), (2 / 3, 1.0), (0.0, None)]
    figure = coverage_risk_figure(coverage_risk([0.2, 0.6, 0.9], [False, True, True]), threshold=0.5)
    assert [trace.name for trace in figure.data] == ["thresholds", "threshold in use (0.50)"]
    assert reliability_figure(reliability([0.2, 0.9], [False, True]), 0.15).data
    with pytest.raises(ValueError, match="one probability per question"):
        coverage_risk([0.5], [True, False])


def test_kinds_come_from_the_negatives_ids() -> None:
    assert kind_of(Example("q1-entity_swapped", "?", "c", (), impossible=True)) == "entity_swapped"
    assert kind_of(Example("q-1", "?", "c", (), impossible=True)) == "unanswerable"


@pytest.fixture
def checked_model(tiny_bert_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, folder)
    return folder


def test_the_engine_answers_as_before_without_a_check_and_lets_a_stored_check_decide(checked_model) -> None:
    pair = ("台北在哪裡？", "台北是臺灣的首都，位於島嶼北部。")
    plain = QAEngine.load(checked_model).answer(*pair)
    assert plain.p_correct is None
    _check(threshold=0.0).save(checked_model)
    engine = QAEngine.load(checked_model)
    always = engine.answer(*pair)
    assert (always.text, always.start, always.null_margin) == (plain.text, plain.start, plain.null_margin)
    assert 0 <= always.p_correct <= 1 and not always.no_answer
    never = engine.answer(*pair, AnswerSettings(spans=SpanRules(answer_threshold=1.0)))
    assert never.no_answer and never.p_correct == always.p_correct and never.text == plain.text


def test_the_command_samples_extracts_once_fits_measures_and_times(checked_model, tmp_path, capsys) -> None:
    from qa_core.data.squad import load_examples, write_squad
    from qa_core.train.answer_check import main, read_cache

    places = ["台北", "高雄", "臺中", "花蓮"]  # a two-character paragraph: any span of it scores F1 >= 0.5
    examples = [
        Example(f"q{i}", "首都是哪裡？", p, (GoldAnswer(p, 0),), "臺灣") for i, p in enumerate(places)
    ]
    write_squad(examples, tmp_path / "train.json")
    sample, cache = tmp_path / "sample.json", tmp_path / "cache"
    assert (
        main(["sample", "--data", str(tmp_path / "train.json"), "--questions", "4", "--out", str(sample)])
        == 0
    )
    assert sum(e.impossible for e in load_examples(sample)) == 4, "as many negatives as questions"
    run = ["extract", "--checkpoint", str(checked_model), "--data", str(sample), "--out", str(cache)]
    assert main(run) == 0 and main(run) == 0, "a second run finds every chunk done"
    observed = read_cache(cache)
    assert [o.kind for o in observed[:4]] == ["answerable"] * 4
    assert {o.kind for o in observed[4:]} == {"other_paragraph", "sentence_replaced"}, (
        "the kinds that can be made"
    )
    assert all(o.right for o in observed[:4]) and not any(o.right for o in observed[4:])
    assert main(["fit", "--checkpoint", str(checked_model), "--train", str(cache)]) == 0
    check = load_check(checked_model)
    assert check.about["training"] == {"sample.json": 8} and len(check.features) == len(FEATURES)
    halves = [str(tmp_path / f"half{first}") for first in (0, 1)]
    for first, half in enumerate(halves):
        assert main([*run[:-1], half, "--every", "2", "--first", str(first)]) == 0
    assert sorted(o.id for h in halves for o in read_cache(h)) == sorted(o.id for o in observed)
    capsys.readouterr()
    assert main(["measure", "--checkpoint", str(checked_model), "--cache", *halves]) == 0
    (measured,) = json.loads(capsys.readouterr().out).values()  # two parts of one file, measured together
    assert measured["questions"] == 8 and "all negatives" in measured["caught"]
    timing = ["timing", "--checkpoint", str(checked_model), "--data", str(sample), "--questions", "2"]
    assert main(timing) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["check_alone"] > 0
