"""The command-line tools: predict writes answers by id and the homework CSV, evaluate scores and records."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from qa_core.answering.engine import QAEngine
from qa_core.data import evaluate, predict
from qa_core.data.metrics import best_threshold, score, trade_off, trade_off_rows
from qa_core.data.squad import Example, GoldAnswer, load_examples, write_squad
from qa_core.models import checkpoints
from qa_core.settings import AnswerSettings, WindowSettings
from qa_core.train.__main__ import main as train_main

REPO = Path(__file__).resolve().parent.parent
ENGLISH = "the eiffel tower, built in paris, is famous; many people visit it every year."
CHINESE = "台北是臺灣的首都，位於島嶼北部。"
# A paragraph of one visible token can only be answered with that token, whatever the model's weights.
ONE_TOKEN = [("paris", "what city?"), ("台", "哪裡？"), (",", "what mark?"), ('"', "which quote?")]
PREDICT_OPTIONS = ["--data", "--checkpoint", "--limit", "--int8", "--max-length", "--doc-stride"]
PREDICT_OPTIONS += ["--max-answer-length", "--out", "--csv"]
EVALUATE_OPTIONS = [*PREDICT_OPTIONS[:-2], "--record"]


def _examples() -> list[Example]:
    mixed = [
        Example("en-1", "where is the tower?", ENGLISH, (GoldAnswer("paris", ENGLISH.index("paris")),)),
        Example("zh-1", "臺灣的首都是什麼？", CHINESE, (GoldAnswer("台北", 0),)),
    ]
    forced = [
        Example(f"one-{i}", question, text, (GoldAnswer(text, 0),))
        for i, (text, question) in enumerate(ONE_TOKEN)
    ]
    return [*forced, *mixed]


@pytest.fixture
def squad(tmp_path) -> Path:
    return write_squad(_examples(), tmp_path / "dev.json")


@pytest.fixture
def hw7(tmp_path) -> Path:
    """The homework's test-file layout: questions without answers that point at shared paragraphs."""
    doc = {
        "questions": [
            {
                "id": i,
                "paragraph_id": p,
                "question_text": q,
                "answer_text": None,
                "answer_start": None,
                "answer_end": None,
            }
            for i, (p, q) in enumerate(
                [(0, "臺灣的首都是什麼？"), (2, "what mark?"), (1, "where is it?"), (3, "?")]
            )
        ],
        "paragraphs": [CHINESE, ENGLISH, ",", '"'],
    }
    path = tmp_path / "hw7_test.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _predict(*args: str) -> int:
    return predict.main([str(a) for a in args])


def _evaluate(capsys, *args: str) -> dict:
    assert evaluate.main([str(a) for a in args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# --- predict --------------------------------------------------------------------------------------


def test_predict_writes_the_engines_answers_by_id_in_file_order(tiny_model_dir, squad, tmp_path) -> None:
    out = tmp_path / "out" / "pred.json"  # a missing folder is created
    window = ["--max-length", 48, "--doc-stride", 8]
    assert _predict("--data", squad, "--checkpoint", tiny_model_dir, "--out", out, *window) == 0
    predictions = json.loads(out.read_text(encoding="utf-8"))
    examples = load_examples(squad)
    assert list(predictions) == [e.id for e in examples]
    answers = QAEngine.load(tiny_model_dir).answer_many(
        [(e.question, e.context) for e in examples],
        AnswerSettings(WindowSettings(max_length=48, doc_stride=8)),
    )
    assert list(predictions.values()) == [a.text for a in answers]
    for text, _ in ONE_TOKEN:
        assert text in predictions.values()
    assert '"one-1": "台"' in out.read_text(encoding="utf-8"), "Chinese is written as text, not \\u escapes"


def test_predict_writes_the_homework_csv_with_quoting(tiny_bert_dir, hw7, tmp_path) -> None:
    out, answers_csv = tmp_path / "pred.json", tmp_path / "answers.csv"
    assert _predict("--data", hw7, "--checkpoint", tiny_bert_dir, "--out", out, "--csv", answers_csv) == 0
    predictions = json.loads(out.read_text(encoding="utf-8"))
    assert list(predictions) == ["0", "1", "2", "3"]
    assert (predictions["1"], predictions["3"]) == (",", '"')
    text = answers_csv.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "ID,Answer"
    assert '\n1,","\n' in text and '\n3,""""\n' in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["ID", "Answer"], *([k, v] for k, v in predictions.items())]


def test_homework_csv_quotes_what_needs_quoting() -> None:
    predictions = {"1": "a, b", "2": 'say "hi"', "3": "two\nlines", "4": "台北", "5": ""}
    text = predict.homework_csv(predictions)
    assert text == 'ID,Answer\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,台北\n5,\n'
    assert list(csv.reader(io.StringIO(text)))[1:] == [[k, v] for k, v in predictions.items()]


def test_limit_takes_the_first_questions_in_file_order(tiny_bert_dir, squad, tmp_path) -> None:
    out = tmp_path / "pred.json"
    assert _predict("--data", squad, "--checkpoint", tiny_bert_dir, "--out", out, "--limit", 3, "--int8") == 0
    assert list(json.loads(out.read_text(encoding="utf-8"))) == ["one-0", "one-1", "one-2"]


# --- evaluate -------------------------------------------------------------------------------------


def test_evaluate_prints_scores_as_json_on_its_last_line(tiny_bert_dir, squad, capsys) -> None:
    result = _evaluate(capsys, "--data", squad, "--checkpoint", tiny_bert_dir, "--limit", 2)
    assert set(result) == {"exact_match", "f1", "accuracy", "n", "seconds", "unusable_offsets"}
    assert (result["exact_match"], result["f1"], result["accuracy"], result["n"]) == (100.0, 100.0, 1.0, 2)
    assert result["unusable_offsets"] == 0
    assert result["seconds"] >= 0


def test_evaluate_agrees_with_scoring_predicts_output(tiny_unigram_dir, squad, tmp_path, capsys) -> None:
    out = tmp_path / "pred.json"
    assert _predict("--data", squad, "--checkpoint", tiny_unigram_dir, "--out", out) == 0
    expected = score(json.loads(out.read_text(encoding="utf-8")), load_examples(squad))
    result = _evaluate(capsys, "--data", squad, "--checkpoint", tiny_unigram_dir)
    assert result["n"] == expected.n == len(_examples())
    assert result["exact_match"] == pytest.approx(expected.exact_match)
    assert result["f1"] == pytest.approx(expected.f1)
    assert result["accuracy"] == pytest.approx(expected.accuracy)


def test_evaluate_record_writes_results_and_the_model_card(tiny_bert_dir, squad, tmp_path, capsys) -> None:
    model = shutil.copytree(tiny_bert_dir, tmp_path / "my-model")
    first = _evaluate(capsys, "--data", squad, "--checkpoint", model, "--record", "--limit", 2)
    second = _evaluate(capsys, "--data", squad, "--checkpoint", model, "--record")
    recorded = json.loads((model / "eval_results.json").read_text(encoding="utf-8"))
    assert recorded == {"dev.json (first 2)": first, "dev.json": second}
    card = (model / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# my-model\n")
    assert "| `dev.json` (first 2) | 2 | 100.0 | 100.0 | 1.000 |" in card
    assert f"| `dev.json` | {len(_examples())} |" in card


def _with_unusable_offsets(path: Path) -> Path:
    """The fixture's questions with two answers as official files have them: start -1, and off by 5."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    qas = [qa for article in doc["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    by_id = {qa["id"]: qa["answers"][0] for qa in qas}
    by_id["zh-1"]["answer_start"] = -1
    by_id["en-1"]["answer_start"] += 5
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_unusable_offsets_are_counted_and_scored_by_their_text(
    tiny_bert_dir, squad, tmp_path, capsys, caplog
):
    clean = _evaluate(capsys, "--data", squad, "--checkpoint", tiny_bert_dir)
    flawed = _with_unusable_offsets(squad)
    out = tmp_path / "pred.json"

    with caplog.at_level(logging.WARNING, logger="qa_core.data.squad"):
        assert _predict("--data", flawed, "--checkpoint", tiny_bert_dir, "--out", out) == 0
    assert [r.getMessage() for r in caplog.records if r.name == "qa_core.data.squad"] == [
        f"{flawed}: 2 answer(s) are not at their answer_start (ids en-1, zh-1); kept for their text, since only "
        "training needs an answer's offset."
    ]
    assert len(json.loads(out.read_text(encoding="utf-8"))) == len(_examples())
    result = _evaluate(capsys, "--data", flawed, "--checkpoint", tiny_bert_dir)
    assert result == {**clean, "seconds": result["seconds"], "unusable_offsets": 2}
    limited = _evaluate(capsys, "--data", flawed, "--checkpoint", tiny_bert_dir, "--limit", 4)
    assert limited["unusable_offsets"] == 0, "only the questions scored count"


def test_a_question_without_text_is_left_out_with_a_warning_not_the_whole_file(
    tiny_bert_dir, squad, tmp_path, capsys, caplog
):
    """CMRC 2018's dev file has questions with an empty question text: the rest is still answered and scored."""
    doc = json.loads(squad.read_text(encoding="utf-8"))
    doc["data"][0]["paragraphs"][0]["qas"][0]["question"] = " "
    blank_id = doc["data"][0]["paragraphs"][0]["qas"][0]["id"]
    squad.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "pred.json"
    with caplog.at_level(logging.WARNING, logger="qa_core.data.squad"):
        assert _predict("--data", squad, "--checkpoint", tiny_bert_dir, "--out", out) == 0
    assert any("empty question text" in r.getMessage() and blank_id in r.getMessage() for r in caplog.records)
    predictions = json.loads(out.read_text(encoding="utf-8"))
    assert blank_id not in predictions and len(predictions) == len(_examples()) - 1
    assert _evaluate(capsys, "--data", squad, "--checkpoint", tiny_bert_dir)["n"] == len(_examples()) - 1


# --- SQuAD 2.0 -----------------------------------------------------------------------------------

V1_KEYS = {"exact_match", "f1", "accuracy", "n", "seconds", "unusable_offsets"}


@pytest.fixture
def squad2(tmp_path) -> Path:
    """Two questions a one-token paragraph forces right, and two whose one-token paragraph lacks the answer."""
    forced = _examples()[:2]  # "paris" and "台"
    unanswerable = [
        Example(f"no-{i}", question, text, (), impossible=True)
        for i, (text, question) in enumerate([("paris", "who built it?"), ("台", "什麼時候建的？")])
    ]
    return write_squad([*forced, *unanswerable], tmp_path / "dev-v2.json")


def _with_null_threshold(model: Path, folder: Path, threshold: float) -> Path:
    """A copy of the model as if trained with unanswerable questions: its config records a null threshold."""
    copy = shutil.copytree(model, folder / f"null-{threshold}")
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    (copy / "config.json").write_text(json.dumps({**config, "qa_null_threshold": threshold}), encoding="utf-8")
    return copy


V2_KEYS = V1_KEYS | {"has_ans", "no_ans", "best_f1_threshold", "at_best_f1_threshold", "trade_off"}


@pytest.mark.parametrize(
    ("threshold", "has_ans_em", "no_ans_em", "keys"),
    [(1000.0, 100.0, 0.0, V2_KEYS), (-1000.0, 0.0, 100.0, V2_KEYS | {"best_spans"})],
)
def test_evaluate_scores_a_v2_file_by_the_engines_decision_apart_and_together(
    tiny_bert_dir, squad2, tmp_path, capsys, threshold, has_ans_em, no_ans_em, keys
):
    model = _with_null_threshold(tiny_bert_dir, tmp_path, threshold)  # 1000: never abstains, -1000: always

    result = _evaluate(capsys, "--data", squad2, "--checkpoint", model, "--record")

    assert set(result) == keys
    assert (result["has_ans"]["n"], result["no_ans"]["n"], result["n"]) == (2, 2, 4)
    assert (result["has_ans"]["exact_match"], result["no_ans"]["exact_match"]) == (has_ans_em, no_ans_em)
    assert result["exact_match"] == result["f1"] == 50.0
    examples = load_examples(squad2)
    answers = QAEngine.load(model).answer_many([(e.question, e.context) for e in examples], AnswerSettings())
    search = (
        {e.id: a.text for e, a in zip(examples, answers, strict=True)},
        {e.id: a.null_margin for e, a in zip(examples, answers, strict=True)},
        examples,
    )
    best = best_threshold(*search)
    assert result["best_f1_threshold"] == best.threshold
    assert result["trade_off"] == [asdict(point) for point in trade_off_rows(trade_off(*search))]
    assert result["trade_off"][-1]["has_ans_f1"] == 100.0  # the last row answers every question: both right
    if "best_spans" in result:  # what the answerable questions would have scored with their best spans
        assert (result["best_spans"]["n"], result["best_spans"]["exact_match"]) == (2, 100.0)
    at_best = result["at_best_f1_threshold"]
    assert set(at_best) == {"exact_match", "f1", "accuracy", "n", "has_ans", "no_ans"}
    assert at_best["f1"] == pytest.approx(best.scores.overall.f1) and at_best["f1"] >= result["f1"]
    assert json.loads((model / "eval_results.json").read_text(encoding="utf-8")) == {"dev-v2.json": result}
    card = (model / "README.md").read_text(encoding="utf-8")
    assert f"beats its best span's score by more than `qa_null_threshold` = {threshold:.3f}" in card
    every = result.get("best_spans", result["has_ans"])["f1"]
    caught = f"{100 * result['no_ans']['accuracy']:.1f}%"
    assert f"| `dev-v2.json` | {caught} | {result['has_ans']['f1']:.1f} | {every:.1f} |" in card
    last = result["trade_off"][-1]
    assert (
        f"| {last['threshold']:.3f} | {100 * last['no_ans_accuracy']:.1f}% | {last['has_ans_f1']:.1f} |"
        in card
    )


def test_evaluate_prints_the_v2_parts_and_says_the_best_threshold_flatters_its_file(
    tiny_bert_dir, squad2, tmp_path, capsys
):
    model = _with_null_threshold(tiny_bert_dir, tmp_path, 1000.0)
    assert evaluate.main(["--data", str(squad2), "--checkpoint", str(model)]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert lines[0].startswith(f"{squad2}: 4 questions, EM 50.00, F1 50.00, strict accuracy 0.5000, ")
    assert lines[1] == "  with an answer: 2 questions, EM 100.00, F1 100.00, strict accuracy 1.0000"
    assert lines[2] == "  without an answer: 2 questions, EM 0.00, F1 0.00, strict accuracy 0.0000"
    assert lines[3].startswith("  best null threshold on this file (optimistic on it): ")
    assert len(lines) == 5


@pytest.mark.parametrize("share", [0.5, 1.0])
def test_evaluate_can_store_the_threshold_that_catches_a_share_of_the_unanswerable_questions(
    tiny_bert_dir, squad2, tmp_path, capsys, share
):
    model = _with_null_threshold(tiny_bert_dir, tmp_path, 1000.0)
    argv = ["--data", squad2, "--checkpoint", model, "--set-null-threshold", "--no-answer-rate", share]

    result = _evaluate(capsys, *argv)

    examples = load_examples(squad2)
    answers = QAEngine.load(tiny_bert_dir).answer_many(
        [(e.question, e.context) for e in examples], AnswerSettings()
    )
    margins = {e.id: a.null_margin for e, a in zip(examples, answers, strict=True)}
    curve = trade_off({e.id: a.text for e, a in zip(examples, answers, strict=True)}, margins, examples)
    expected = max(p.threshold for p in curve if p.no_ans_accuracy >= share)
    assert json.loads((model / "config.json").read_text(encoding="utf-8"))["qa_null_threshold"] == expected
    assert result["no_ans"]["accuracy"] >= share  # recorded as the checkpoint now answers
    assert sum(margins[f"no-{i}"] > expected for i in range(2)) == 2 * share


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--no-answer-rate", "0.85"],
            "--no-answer-rate chooses the threshold that --set-null-threshold stores",
        ),
        (
            ["--set-null-threshold", "--no-answer-rate", "1.5"],
            "a share above 0 and at most 1, such as 0.85, not '1.5'",
        ),
        (["--set-null-threshold", "--no-answer-rate", "most"], "not 'most'"),
    ],
)
def test_evaluate_refuses_a_share_it_cannot_use(tiny_bert_dir, squad2, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--data", str(squad2), "--checkpoint", str(tiny_bert_dir), *extra])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert "qa_null_threshold" not in json.loads((tiny_bert_dir / "config.json").read_text(encoding="utf-8"))


def test_evaluate_on_a_v1_file_prints_as_before_2_0(tiny_bert_dir, squad, tmp_path, capsys):
    model = _with_null_threshold(tiny_bert_dir, tmp_path, 1000.0)
    assert evaluate.main(["--data", str(squad), "--checkpoint", str(model)]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert len(lines) == 2
    assert set(json.loads(lines[-1])) == V1_KEYS


def test_evaluate_says_what_abstaining_cost_the_answerable_questions_of_a_v1_file(
    tiny_bert_dir, squad, tmp_path, capsys
):
    answering = _evaluate(capsys, "--data", squad, "--checkpoint", tiny_bert_dir)
    model = _with_null_threshold(tiny_bert_dir, tmp_path, -1000.0)  # judges every question unanswerable
    assert evaluate.main(["--data", str(squad), "--checkpoint", str(model)]) == 0
    lines = capsys.readouterr().out.splitlines()

    result = json.loads(lines[-1])
    assert result["f1"] == 0.0  # every answer "", counted wrong on a file whose questions all have one
    assert result["best_spans"] == {k: answering[k] for k in ("exact_match", "f1", "accuracy", "n")}
    assert lines[1].startswith("  with an answer, had every question been answered: ")


def test_predict_writes_empty_answers_for_unanswerable_questions_but_best_spans_to_the_csv(
    tiny_bert_dir, squad2, tmp_path
):
    model = _with_null_threshold(tiny_bert_dir, tmp_path, -1000.0)  # abstains on every question
    out, answers_csv = tmp_path / "pred.json", tmp_path / "answers.csv"

    assert _predict("--data", squad2, "--checkpoint", model, "--out", out, "--csv", answers_csv) == 0

    assert json.loads(out.read_text(encoding="utf-8")) == {"one-0": "", "one-1": "", "no-0": "", "no-1": ""}
    rows = list(csv.reader(io.StringIO(answers_csv.read_text(encoding="utf-8"))))
    assert rows == [["ID", "Answer"], ["one-0", "paris"], ["one-1", "台"], ["no-0", "paris"], ["no-1", "台"]]


# --- refusals -------------------------------------------------------------------------------------


def _bad_files(folder: Path) -> dict[str, Path]:
    files = {
        "missing": folder / "nowhere.json",
        "not-json": folder / "broken.json",
        "bad-answer-end": folder / "hw7_bad.json",
    }
    files["not-json"].write_text('{"data": [', encoding="utf-8")
    question = {"id": 7, "paragraph_id": 0, "question_text": "q?", "answer_text": "台北"}
    files["bad-answer-end"].write_text(
        json.dumps({"paragraphs": [CHINESE], "questions": [{**question, "answer_start": 0, "answer_end": 5}]})
    , encoding="utf-8")
    return files


@pytest.mark.parametrize("kind", ["missing", "not-json", "bad-answer-end"])
def test_a_bad_data_file_exits_2_naming_the_file_and_writes_nothing(tiny_bert_dir, tmp_path, capsys, kind):
    data = _bad_files(tmp_path)[kind]
    out, answers_csv = tmp_path / "pred.json", tmp_path / "answers.csv"
    for main, extra in [(predict.main, ["--out", out, "--csv", answers_csv]), (evaluate.main, ["--record"])]:
        model = shutil.copytree(tiny_bert_dir, tmp_path / "model", dirs_exist_ok=True)
        before = sorted(p.name for p in model.iterdir())
        with pytest.raises(SystemExit) as exit_:
            main([str(a) for a in ["--data", data, "--checkpoint", model, *extra]])
        assert exit_.value.code == 2
        captured = capsys.readouterr()
        assert f"error: {data}" in captured.err and captured.out == ""
        assert not out.exists() and not answers_csv.exists()
        assert sorted(p.name for p in model.iterdir()) == before


def test_settings_that_cannot_cut_windows_exit_2_and_write_nothing(tiny_bert_dir, squad, tmp_path, capsys):
    out = tmp_path / "pred.json"
    with pytest.raises(SystemExit) as exit_:
        _predict("--data", squad, "--checkpoint", tiny_bert_dir, "--out", out, "--max-length", 48)
    assert exit_.value.code == 2
    assert "error: doc_stride (128) must be smaller" in capsys.readouterr().err
    assert not out.exists()


def test_a_missing_default_checkpoint_exits_2_saying_what_to_do(squad, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(predict, "default_checkpoint", lambda: checkpoints.default_checkpoint(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        predict.main(["--data", str(squad), "--out", str(tmp_path / "pred.json")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"No default checkpoint in {tmp_path / checkpoints.DEFAULT_NAME}" in err and "--checkpoint" in err
    assert not (tmp_path / "pred.json").exists()


TYPO = "checkpoints/e5-small-typo"
TYPO_ERROR = (
    f"error: The folder {TYPO} does not exist; available checkpoints: checkpoints/e5-small-zh-en-qa, "
    "checkpoints/minilm-l6-en-qa, checkpoints/e5-small-zh-en-qa-null"
)


@pytest.mark.parametrize(
    ("value", "path_like"),
    [
        ("/models/mine", True),
        ("./mine", True),
        ("../mine", True),
        ("~/mine", True),
        (TYPO, True),  # its parent folder is here
        ("owner/models/mine", True),  # a hub id has one slash at most
        ("deepset/roberta-base-squad2", False),
        ("bert-base-chinese", False),
    ],
)
def test_names_that_can_only_be_folders_are_told_from_hub_ids(value, path_like, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert checkpoints.looks_like_a_path(value) is path_like
    if not path_like:
        checkpoints.check_exists(value)  # goes to the hub, which alone knows whether it exists


def test_a_mistyped_checkpoint_folder_exits_2_in_one_line_naming_the_checkpoints(
    squad, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(REPO)
    for main, extra in [(predict.main, ["--out", tmp_path / "pred.json"]), (evaluate.main, [])]:
        with pytest.raises(SystemExit) as exit_:
            main([str(a) for a in ["--data", squad, "--checkpoint", TYPO, *extra]])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(TYPO_ERROR) and err.count("\n") == 1
        assert err.endswith(" (or a Hugging Face hub id such as deepset/roberta-base-squad2).\n")
    assert not (tmp_path / "pred.json").exists()


@pytest.mark.integration
def test_the_command_line_refuses_a_mistyped_folder_fast_without_a_traceback(tmp_path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "qa_core.data.predict", "--data", "assets/sample_qa.json", "--checkpoint", TYPO]
        + ["--out", str(tmp_path / "pred.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(TYPO_ERROR) and result.stderr.count("\n") == 1
    assert time.monotonic() - started < 40, "the hub's retries alone take 49 s"


def test_training_from_a_mistyped_base_folder_stops_with_one_line(tmp_path, caplog, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    with caplog.at_level(logging.ERROR):
        status = train_main(
            ["--base", TYPO, "--train", "assets/sample_qa.json", "--out", str(tmp_path / "out")]
        )
    assert status == 2
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.startswith(TYPO_ERROR.removeprefix("error: "))
    assert error.endswith(" (or a base name from `python -m qa_core.tooling.base_models list`, or a hub id).")
    assert not (tmp_path / "out").exists()


# --- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "main, options", [(predict.main, PREDICT_OPTIONS), (evaluate.main, EVALUATE_OPTIONS)]
)
def test_help_mentions_every_option(main, options, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert [o for o in options if o not in text] == []


@pytest.mark.integration
def test_help_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qa_core.data.evaluate", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m qa_core.data.evaluate")
    assert "--record" in result.stdout


QUICK_HELP = (  # the commands a student types first: --help must not wait for torch
    "qa_core.data.predict",
    "qa_core.data.evaluate",
    "qa_core.data.convert",
    "qa_core.data.negatives",
    "qa_core.train",
    "qa_core.train.answer_check",
    "qa_core.tooling.bench",
    "qa_core.tooling.experiments",
    "qa_core.tooling.deploy",
    "qa_core.explaining.lecture",
)


@pytest.mark.integration
def test_help_answers_without_loading_torch():
    """Torch takes seconds to import on a small CPU; a command's --help reads no model and needs none of it."""
    probe = (
        "import contextlib, io, runpy, sys\n"
        "for name in sys.argv[1:]:\n"
        "    sys.argv = [name, '--help']\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "        runpy.run_module(name, run_name='__main__')\n"
        "    assert 'usage' in out.getvalue(), name\n"
        "    assert 'torch' not in sys.modules, f'{name} --help loaded torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *QUICK_HELP], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
