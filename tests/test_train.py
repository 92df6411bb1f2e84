"""Fine-tuning: training windows and their labels, tiny real runs, the saved folder, stop and resume."""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import threading
from dataclasses import asdict, replace
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from qa_core.answering.engine import QAEngine
from qa_core.answering.placement import label_pairs
from qa_core.answering.windows import encode_pairs
from qa_core.data.squad import Example, GoldAnswer, write_squad
from qa_core.models.model_card import train_command
from qa_core.settings import AnswerSettings, WindowSettings
from qa_core.train.__main__ import parser
from qa_core.train.config import TrainConfig, TrainProgress, check_config, config_problems, defaults
from qa_core.train.dataset import PadCollator, TrainingWindows
from qa_core.train.run import read_training_files, run

QUESTION = "哪裡是答案？"
FILLER = "台北是臺灣的位於島嶼北部天氣很好"  # no character of the answer 首都
ANSWER = "首都"
ENGLISH = "the eiffel tower is in paris. paris is the capital city of france. the seine flows through paris."
TRAIN = [
    Example(
        "en-1", "what is the capital of france?", ENGLISH, (GoldAnswer("paris", ENGLISH.index("paris")),)
    ),
    Example("en-2", "what flows through paris?", ENGLISH, (GoldAnswer("seine", ENGLISH.index("seine")),)),
    Example("zh-1", "臺灣的首都是什麼？", "台北是臺灣的首都，位於島嶼北部。", (GoldAnswer("台北", 0),)),
    Example("zh-2", "東方明珠塔在哪裡？", "上海東方明珠塔很好。天氣很好。", (GoldAnswer("上海", 0),)),
]
SETTINGS = AnswerSettings(WindowSettings(max_length=48, doc_stride=8, max_question_length=16))


@cache
def _tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    return {
        "train": write_squad(TRAIN, folder / "train.json"),
        "dev": write_squad(TRAIN[::2], folder / "dev.json"),
    }


def _config(base: Path, data: dict[str, Path], folder: Path, **changes) -> TrainConfig:
    tiny = {"max_length": 48, "doc_stride": 8, "max_question_length": 16, "batch_size": 2, "max_steps": 5}
    quick = {"warmup": 0, "log_every": 1, "save_every": 0}
    paths = {"train": [str(data["train"])], "out": str(folder / "model"), "work_dir": str(folder / "work")}
    return TrainConfig(base=str(base), **{**paths, **tiny, **quick, **changes})


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(Path(folder) / "model.safetensors")


def _curve(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "learning_curve.jsonl").read_text(encoding="utf-8").splitlines()]


def _assert_answers_exactly(folder: Path) -> QAEngine:
    engine = QAEngine.load(folder)
    for example in TRAIN:
        answer = engine.answer(example.question, example.context, SETTINGS)
        assert answer.text and example.context[answer.start : answer.end] == answer.text
    return engine


# --- training windows -----------------------------------------------------------------------------


def _chinese_examples(lengths: range) -> list[Example]:
    """Paragraphs of every length in ``lengths`` with the answer at every position."""
    examples = []
    for n in lengths:
        for at in range(n - len(ANSWER) + 1):
            text = (FILLER * 4)[:at] + ANSWER + (FILLER * 4)[at : n - len(ANSWER)]
            examples.append(Example(f"{n}-{at}", QUESTION, text, (GoldAnswer(ANSWER, at),)))
    return examples


def _windows(tokenizer, examples, placement: str = "random", max_length: int = 24) -> TrainingWindows:
    return TrainingWindows(
        tokenizer,
        examples,
        max_length=max_length,
        max_question_length=8,
        placement=placement,
        answerless_rate=1.0,
        seed=0,
    )


def _contains(ids: list[int], part: list[int]) -> bool:
    return any(ids[i : i + len(part)] == part for i in range(len(ids) - len(part) + 1))


@pytest.mark.parametrize("placement", ["random", "centre"])
def test_labels_point_at_the_answer_and_answerless_windows_hold_none_of_it(tiny_model_dir, placement) -> None:
    tokenizer = _tokenizer(tiny_model_dir)
    answer_ids = tokenizer(ANSWER, add_special_tokens=False)["input_ids"][-2:]  # without a leading "▁"
    assert tokenizer.convert_ids_to_tokens(answer_ids) == list(ANSWER)
    room = encode_pairs(tokenizer, [QUESTION], ["x"], 8)[0].room_for_context(
        24
    )  # paragraph tokens per window
    examples = _chinese_examples(range(room - 3, room + 6))  # around one window's worth: the edge cases
    dataset = _windows(tokenizer, examples, placement)
    assert len(dataset.pairs) == len(examples)
    assert dataset.answerless, "long paragraphs get answerless windows"
    for _ in range(3):  # placement is drawn again at every read
        for i in range(len(dataset)):
            item = dataset[i]
            ids, start, end = item["input_ids"], item["start_positions"], item["end_positions"]
            assert len(ids) == len(item["token_type_ids"]) <= 24
            if i < len(dataset.pairs):
                assert ids[start : end + 1] == answer_ids
                assert tokenizer.decode(ids[start : end + 1]).replace(" ", "") == ANSWER
            else:
                assert (start, end) == (0, 0)
                assert not _contains(ids, answer_ids), tokenizer.convert_ids_to_tokens(ids)


def test_labels_decode_to_english_answers_and_windows_never_exceed_max_length(tiny_model_dir) -> None:
    tokenizer = _tokenizer(tiny_model_dir)
    dataset = _windows(tokenizer, TRAIN, max_length=16)
    for i in range(len(dataset.pairs)):
        item = dataset[i]
        assert len(item["input_ids"]) <= 16
        start, end = item["start_positions"], item["end_positions"]
        decoded = tokenizer.decode(item["input_ids"][start : end + 1]).replace(" ", "")
        assert decoded == TRAIN[i].answers[0].text


def test_centre_placement_puts_the_answer_in_the_middle_and_random_moves_it(tiny_bert_dir) -> None:
    tokenizer = _tokenizer(tiny_bert_dir)
    examples = [e for e in _chinese_examples(range(60, 61)) if 25 <= e.answers[0].start <= 35]
    centre, anywhere = _windows(tokenizer, examples, "centre"), _windows(tokenizer, examples, "random")
    positions = set()
    for i in range(len(examples)):
        item = centre[i]
        before = item["start_positions"] - item["input_ids"].index(tokenizer.sep_token_id) - 1
        after = len(item["input_ids"]) - 2 - item["end_positions"]
        assert abs(before - after) <= 1
        positions |= {anywhere[i]["start_positions"] for _ in range(10)}
    assert len(positions) > 5


def test_collator_pads_to_the_longest_window_with_mask_zero(tiny_model_dir) -> None:
    tokenizer = _tokenizer(tiny_model_dir)
    items = [_windows(tokenizer, TRAIN, max_length=32)[i] for i in (0, 2)]
    uses_segments = "token_type_ids" in tokenizer.model_input_names
    batch = PadCollator(tokenizer.pad_token_id, uses_segments)(items)
    width = max(len(it["input_ids"]) for it in items)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, width)
    for row, it in enumerate(items):
        n = len(it["input_ids"])
        assert batch["input_ids"][row, :n].tolist() == it["input_ids"]
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        assert (batch["input_ids"][row, n:] == tokenizer.pad_token_id).all()
    assert ("token_type_ids" in batch) == uses_segments
    assert batch["start_positions"].tolist() == [it["start_positions"] for it in items]


# --- real runs ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_short_run_saves_a_complete_folder_that_reloads_and_answers(tiny_bert_dir, data, tmp_path) -> None:
    # a time limit that is never reached changes nothing, and the recorded command keeps it
    config = _config(tiny_bert_dir, data, tmp_path, eval=str(data["dev"]), eval_every=2, max_minutes=60.0)
    progress: list[TrainProgress] = []
    result = run(config, on_progress=progress.append)
    assert (result.steps, result.cancelled, result.out) == (5, False, Path(config.out))
    assert result.final_eval is not None and result.final_eval.n == 2
    assert sorted({p.step for p in progress}) == [1, 2, 3, 4, 5]
    assert [p.step for p in progress if p.eval is not None] == [2, 4]
    assert {p.loss_step for p in progress if p.loss is not None} == {1, 2, 3, 4, 5}

    out = Path(config.out)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert {"training_config.json", "README.md", "learning_curve.jsonl", "training_runs.json"} <= names
    assert not any(name.endswith(".bin") and name != "training_args.bin" for name in names)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary folder left"
    assert json.loads((out / "training_config.json").read_text(encoding="utf-8")) == asdict(config)
    assert [point["step"] for point in _curve(out)] == [2, 4, 5]

    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# model\n"), "titled by the final folder's name, not the temporary one's"
    (command,) = [line for line in card.splitlines() if "python -m qa_core.train" in line]
    assert ": 5 steps in " in command
    arguments = shlex.split(command.split("`")[1].removeprefix("python -m qa_core.train"))
    (parsed,) = parser().parse_args_into_dataclasses(args=arguments)
    assert parsed == config, "the recorded command reproduces the run"
    assert "| 5 | 10 |" in card, "the learning curve's last point: step 5, 10 windows"

    base, trained = _weights(tiny_bert_dir), _weights(out)
    assert not torch.equal(base["qa_outputs.weight"], trained["qa_outputs.weight"])
    embeddings = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(base[embeddings], trained[embeddings]), "word embeddings are frozen by default"
    _assert_answers_exactly(out)


@pytest.mark.integration
def test_a_stopped_run_writes_nothing_and_the_next_run_resumes(tiny_bert_dir, data, tmp_path) -> None:
    config = _config(tiny_bert_dir, data, tmp_path, save_every=2, eval=str(data["dev"]), eval_every=1)
    stop = threading.Event()

    def stop_after_step_2(progress: TrainProgress) -> None:
        if progress.loss_step == 2:  # step 2 is done; its checkpoint is saved right after this report
            stop.set()

    stopped = run(config, on_progress=stop_after_step_2, stop=stop)
    assert (stopped.cancelled, stopped.steps, stopped.final_eval) == (True, 3, None)
    assert not Path(config.out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"], "no model and no temporary folder"
    work = Path(config.work_dir)
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-2"], "a stop saves nothing"
    assert [point["step"] for point in _curve(work)] == [1, 2, 3]

    steps: list[int] = []
    resumed = run(config, on_progress=lambda p: steps.append(p.step))
    assert (resumed.cancelled, resumed.steps) == (False, 5)
    assert min(steps) == 3, "training went on from checkpoint-2"
    assert ": 5 steps in " in (Path(config.out) / "README.md").read_text(encoding="utf-8")
    assert [point["step"] for point in _curve(Path(config.out))] == [1, 2, 3, 4, 5], "each step measured once"
    _assert_answers_exactly(Path(config.out))


@pytest.mark.integration
def test_float16_saving_halves_the_file_keeps_notes_and_the_engine_still_computes_in_float32(
    tiny_bert_dir, data, tmp_path
) -> None:
    config = _config(tiny_bert_dir, data, tmp_path, save_dtype="float16", placement="centre", max_steps=2)
    config = replace(config, train=config.train * 2)  # read twice per epoch
    out = Path(config.out)
    out.mkdir()
    (out / "model_card_notes.md").write_text("Written by hand.", encoding="utf-8")
    (out / "eval_results.json").write_text("{}", encoding="utf-8")
    assert run(config).steps == 2
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Notes\nWritten by hand." in card, "hand-written notes survive retraining"
    (data_line,) = [line for line in card.splitlines() if line.startswith("- Training data:")]
    assert data_line.endswith("listed 2 times: read 2 times per epoch")
    assert not (out / "eval_results.json").exists(), "measurements of the replaced model do not"
    assert {t.dtype for t in _weights(out).values()} == {torch.float16}
    full, half = (Path(f, "model.safetensors").stat().st_size for f in (tiny_bert_dir, out))
    assert half < 0.6 * full
    assert not torch.equal(
        _weights(tiny_bert_dir)["qa_outputs.weight"].half(), _weights(out)["qa_outputs.weight"]
    )
    engine = _assert_answers_exactly(out)
    assert {p.dtype for p in engine.model.parameters()} == {torch.float32}


@pytest.mark.integration
def test_a_time_limit_ends_the_run_early_with_the_learning_rate_decayed(
    tiny_bert_dir, data, tmp_path, monkeypatch
) -> None:
    clock = iter(range(10**6))  # every reading of the clock is half a second later than the one before
    monkeypatch.setattr("qa_core.train.callbacks.time", SimpleNamespace(time=lambda: next(clock) / 2))
    config = _config(tiny_bert_dir, data, tmp_path, max_steps=1000, max_minutes=1.0)
    progress: list[TrainProgress] = []
    result = run(config, on_progress=progress.append)
    assert 30 <= result.steps <= 50, "a minute of half-second clock readings is about 40 steps"
    assert not result.cancelled and Path(config.out, "model.safetensors").is_file()
    assert progress[-1].max_steps == result.steps, "progress shows the end the time limit set"
    last_rates = [p.learning_rate for p in progress if p.step >= result.steps - 1]
    assert max(last_rates) < 0.1 * config.learning_rate, "the schedule decayed by the end, not cut off"
    assert f": {result.steps} steps in " in Path(config.out, "README.md").read_text(encoding="utf-8")


def test_the_recorded_command_gives_switches_as_bare_flags_and_reproduces_the_config() -> None:
    config = TrainConfig(base="b", train=["t.json"], out="o", bf16=True, freeze_embeddings=False)
    command = train_command(asdict(config), defaults())
    assert command.endswith("--freeze-embeddings False --bf16")
    arguments = shlex.split(command.removeprefix("python -m qa_core.train"))
    assert parser().parse_args_into_dataclasses(args=arguments) == (config,)


def test_evaluation_data_inside_the_training_data_is_refused(tiny_bert_dir, data, tmp_path) -> None:
    config = replace(_config(tiny_bert_dir, data, tmp_path), eval=str(data["train"]))
    with pytest.raises(ValueError, match="both a training and the evaluation file"):
        run(config)
    assert not Path(config.out).exists()


def test_training_files_keep_repairable_offsets_and_skip_the_rest_saying_how_many(tmp_path, caplog) -> None:
    context = "the cat sat on the mat in paris"
    qas = [
        {"id": qid, "question": "what?", "answers": [{"text": text, "answer_start": start}]}
        for qid, text, start in [("good", "cat", 4), ("minus-one", "mat", -1), ("off-by-5", "paris", 21)]
        + [("off-by-1", "sat", 9)]
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}), encoding="utf-8")

    with caplog.at_level(logging.INFO):
        examples = read_training_files(TrainConfig(base="b", train=[str(path)], out="o")).examples

    assert [(e.id, e.answers) for e in examples] == [
        ("good", (GoldAnswer("cat", 4),)),
        ("off-by-1", (GoldAnswer("sat", 8),)),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: moved 1 answer(s) by at most 1 character(s) to where their text occurs (ids off-by-1); "
        "skipped 2 answer(s) whose text is not at their answer_start (ids minus-one, off-by-5); "
        "left out 2 question(s) that had no other answer (ids minus-one, off-by-5).",
        f"{path}: 2 questions",
    ]


# --- questions without their answer ---------------------------------------------------------------

TITLED = [replace(e, title="paris" if e.id.startswith("en") else "cities") for e in TRAIN]


def test_an_impossible_question_gives_one_window_labelled_at_the_first_token(tiny_model_dir) -> None:
    tokenizer = _tokenizer(tiny_model_dir)
    long_paragraph = FILLER * 6  # several windows long: the window's place is drawn
    impossible = [
        Example("short", QUESTION, FILLER, (), impossible=True),
        Example("long", QUESTION, long_paragraph, (), impossible=True),
    ]
    dataset = _windows(tokenizer, TRAIN + impossible, max_length=24)
    assert [p.answer_tokens for p in dataset.pairs[-2:]] == [None, None]
    assert len(dataset) == len(dataset.pairs) + len(dataset.answerless), "one window per impossible question"
    assert all(i < len(TRAIN) for i in dataset.answerless), "answerless extra windows only of answerable ones"
    firsts = set()
    for _ in range(10):
        for i in (len(TRAIN), len(TRAIN) + 1):
            item = dataset[i]
            assert (item["start_positions"], item["end_positions"]) == (0, 0)
            assert len(item["input_ids"]) == len(item["token_type_ids"]) <= 24
        firsts.add(tuple(dataset[len(TRAIN) + 1]["input_ids"]))
    assert len(firsts) > 1, "the long paragraph's window is placed anywhere, drawn again at every read"


def test_a_question_without_answers_that_is_not_impossible_is_refused(tiny_bert_dir) -> None:
    unlabelled = [Example("test-1", QUESTION, FILLER, ()), Example("test-2", QUESTION, FILLER, ())]
    with pytest.raises(
        ValueError,
        match=r"2 question\(s\) have no answer and are not marked impossible \(ids test-1, test-2\)",
    ):
        label_pairs(_tokenizer(tiny_bert_dir), TRAIN + unlabelled, 8)


def test_negatives_are_made_from_the_sampled_questions_of_the_training_files(tmp_path, caplog) -> None:
    path = write_squad(TITLED, tmp_path / "train.json")
    config = TrainConfig(base="b", train=[str(path)], out="o", negatives=1.0, max_questions=3, seed=5)
    with caplog.at_level(logging.INFO):
        data = read_training_files(config)
    questions = [e for e in data.examples if not e.impossible]
    negatives = [e for e in data.examples if e.impossible]
    assert len(questions) == 3 and data.examples[:3] == questions
    assert {n.id.rsplit("-", 1)[0] for n in negatives} <= {q.id for q in questions}, "from the sample only"
    assert data.unanswerable == {
        "answer_removed": sum(n.id.endswith("-answer_removed") for n in negatives),
        "other_paragraph": sum(n.id.endswith("-other_paragraph") for n in negatives),
        "impossible": 0,
    }
    assert data.unanswerable["answer_removed"] and data.unanswerable["other_paragraph"]
    assert len(negatives) == 3, "as many as the sampled questions: --negatives 1.0"
    counts = f"{data.unanswerable['answer_removed']} answer_removed, {data.unanswerable['other_paragraph']} other_paragraph"
    assert caplog.records[-1].getMessage() == f"questions without their answer: {counts}, 0 impossible"
    again = read_training_files(config)
    assert again == data, "seeded: the same config makes the same negatives"


def test_impossible_questions_of_a_squad_2_file_are_trained_on_as_they_are(tmp_path, caplog) -> None:
    impossible = Example("imp", "哪裡是答案？", FILLER, (), "cities", impossible=True)
    path = write_squad([*TITLED, impossible], tmp_path / "train-v2.json")
    with caplog.at_level(logging.INFO):
        data = read_training_files(TrainConfig(base="b", train=[str(path)], out="o"))
    assert [e.id for e in data.examples] == [e.id for e in TITLED] + ["imp"] and data.examples[-1].impossible
    assert data.unanswerable == {"answer_removed": 0, "other_paragraph": 0, "impossible": 1}
    assert caplog.records[-1].getMessage() == (
        "questions without their answer: 0 answer_removed, 0 other_paragraph, 1 impossible"
    )


@pytest.mark.integration
def test_a_short_run_with_negatives_records_them_in_its_config_and_card(tiny_bert_dir, tmp_path) -> None:
    data = {"train": write_squad(TITLED, tmp_path / "train.json")}
    config = _config(tiny_bert_dir, data, tmp_path, negatives=0.5, negative_kinds=["other_paragraph"])
    assert run(config).steps == 5
    out = Path(config.out)
    recorded = json.loads((out / "training_config.json").read_text(encoding="utf-8"))
    assert (recorded["negatives"], recorded["negative_kinds"]) == (0.5, ["other_paragraph"])
    card = (out / "README.md").read_text(encoding="utf-8")
    assert (
        "- Questions without their answer (labelled at the first token), run 1: negatives made from the "
        "training data: 2 other_paragraph; impossible questions of the files: 0."
    ) in card
    (command,) = [line for line in card.splitlines() if "python -m qa_core.train" in line]
    assert "--negatives 0.5 --negative-kinds other_paragraph" in command
    arguments = shlex.split(command.split("`")[1].removeprefix("python -m qa_core.train"))
    assert parser().parse_args_into_dataclasses(args=arguments) == (config,)


def test_negative_kinds_are_checked_against_their_choices_all_at_once() -> None:
    config = TrainConfig(
        base="b", train=["t.json"], out="o", negatives=1.5, negative_kinds=["mixed", "mixed"]
    )
    with pytest.raises(ValueError) as refused:
        check_config(config)
    assert str(refused.value) == (
        "negatives must be at least 0 and at most 1, got 1.5; negative_kinds may hold only answer_removed, "
        "other_paragraph, entity_swapped, sentence_replaced, got 'mixed', 'mixed'; negative_kinds names mixed "
        "more than once: name each once."
    )
    assert "negative_kinds must name at least one" in str(config_problems(replace(config, negative_kinds=[])))
    assert defaults()["negative_kinds"] == ["answer_removed", "other_paragraph"]


@pytest.mark.integration
def test_a_squad_2_evaluation_file_is_measured_by_its_own_rules(tiny_bert_dir, data, tmp_path) -> None:
    unanswerable = Example("no-1", "what colour is the tower?", ENGLISH, (), impossible=True)
    dev = write_squad([TRAIN[0], unanswerable], tmp_path / "dev-v2.json")
    config = _config(tiny_bert_dir, data, tmp_path, eval=str(dev), max_steps=2, eval_every=2)
    result = run(config)
    assert result.final_eval is not None and result.final_eval.n == 2
    assert _curve(Path(config.out))[-1]["n"] == 2


@pytest.mark.integration
def test_a_base_s_null_threshold_is_not_carried_into_the_new_weights(
    tiny_bert_dir, data, tmp_path, caplog
) -> None:
    base = Path(shutil.copytree(tiny_bert_dir, tmp_path / "null-base"))
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    (base / "config.json").write_text(json.dumps({**config, "qa_null_threshold": -1000.0}), encoding="utf-8")  # abstains always
    assert QAEngine.load(base).null_threshold == -1000.0

    with caplog.at_level(logging.INFO):
        run(_config(base, data, tmp_path, max_steps=2))

    assert "qa_null_threshold" not in json.loads((tmp_path / "model" / "config.json").read_text(encoding="utf-8"))
    assert QAEngine.load(tmp_path / "model").null_threshold is None  # answers every question until tuned
    assert json.loads((base / "config.json").read_text(encoding="utf-8"))["qa_null_threshold"] == -1000.0
    assert "the base's qa_null_threshold is not carried over" in caplog.text


@pytest.mark.integration
def test_a_null_trained_model_keeps_the_threshold_tuned_for_it(tiny_bert_dir, data, tmp_path, capsys) -> None:
    from qa_core.data import evaluate

    config = _config(tiny_bert_dir, data, tmp_path, negatives=0.5, max_steps=3)
    run(config)
    unanswerable = Example("no-1", "what colour is the tower?", ENGLISH, (), impossible=True)
    tuning = write_squad([TRAIN[0], TRAIN[1], unanswerable], tmp_path / "tune-v2.json")
    argv = ["--data", str(tuning), "--checkpoint", config.out, "--max-length", "48", "--doc-stride", "8"]
    assert evaluate.main([*argv, "--set-null-threshold"]) == 0
    tuned = json.loads(capsys.readouterr().out.splitlines()[-1])
    saved = json.loads((Path(config.out) / "config.json").read_text(encoding="utf-8"))["qa_null_threshold"]
    assert saved == tuned["best_f1_threshold"]
    assert QAEngine.load(config.out).null_threshold == saved
    # what it prints and records is what the checkpoint now does: scored at the threshold it stored
    assert tuned["f1"] == pytest.approx(tuned["at_best_f1_threshold"]["f1"])
    recorded = json.loads((Path(config.out) / "eval_results.json").read_text(encoding="utf-8"))["tune-v2.json"]
    assert recorded["f1"] == tuned["f1"] and recorded["no_ans"] == tuned["at_best_f1_threshold"]["no_ans"]
    assert evaluate.main(argv) == 0  # measured again, now with the engine deciding by that threshold
    again = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert again["f1"] == pytest.approx(tuned["f1"]) and again["no_ans"] == recorded["no_ans"]
    assert "qa_null_threshold" not in json.loads((tiny_bert_dir / "config.json").read_text(encoding="utf-8"))
