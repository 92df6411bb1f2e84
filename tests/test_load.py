"""The load test tool against the launched app with tiny models, and the queue's bound under a flood.

One server serves both: its queue (QA_QUEUE_SIZE) holds the 16 clients' questions, and a flood of more
questions than the queue and the model runs can hold must be turned away at once, not kept waiting.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import pytest
from app_server import make_checkpoints_root
from gradio_client.utils import QueueError

from qa_core.models import checkpoints
from tools import load_test
from tools.app_process import launched_app
from tools.load_test import Expected, LoadPlan, run_load_test
from ui.page import LIMITS

pytestmark = pytest.mark.integration  # starts the app as a server

QUEUE_SIZE = 16  # room for all 16 clients at once, small enough to flood with a few heavy questions
PLAN = LoadPlan(clients=16, questions=2, timeout_s=180)
FLOOD = QUEUE_SIZE + 10  # more than the queue and the app's 2 model runs at once (CONCURRENCY) hold
REPORT_KEYS = {
    "model",
    "clients",
    "questions_per_client",
    "questions",
    "answered",
    "errors",
    "wrong_answers",
    "latency_median_s",
    "latency_p95_s",
    "latency_max_s",
    "questions_per_second",
    "load_seconds",
    "cold_start_s",
    "models_loaded",
    "int8",
    "server_rss_mb",
    "server_hwm_mb",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The app after the load test ran against it: (its process, the reference answers, the report)."""
    tmp = tmp_path_factory.mktemp("load")
    root = make_checkpoints_root(tmp / "checkpoints")
    ref = load_test.reference(PLAN, root, load_test.load_questions())
    env = {"QA_QUEUE_SIZE": str(QUEUE_SIZE), "QA_ALLOW_TRAINING": "0"}
    with launched_app(tmp / "server.log", root, **env) as process:
        yield process, ref, run_load_test(process.url, PLAN, ref, process)


def test_every_answer_under_load_is_the_in_process_one(loaded):
    _, _, report = loaded
    assert set(asdict(report)) == REPORT_KEYS
    assert (report.errors, report.wrong_answers) == (0, 0)
    assert (report.questions, report.answered) == (32, 32)
    assert report.models_loaded == (checkpoints.DEFAULT_NAME, checkpoints.ENGLISH_NAME)
    assert 0 < report.latency_median_s <= report.latency_p95_s <= report.latency_max_s
    assert report.questions_per_second > 0
    assert report.cold_start_s > 0
    assert 0 < report.server_rss_mb <= report.server_hwm_mb


def test_a_flood_beyond_the_queue_is_refused_and_the_server_answers_after(loaded):
    process, ref, _ = loaded
    tea = ref.questions[3]  # the long paragraph: a heavy question with the most windows the engine allows
    heavy = (tea.context * (LIMITS.max_chars // len(tea.context) + 1))[: LIMITS.max_chars]
    client = load_test.connect(process.url)
    jobs = [
        client.submit(question=tea.question, context=heavy, model="", api_name="/answer")
        for _ in range(FLOOD)
    ]
    answered, refused = [], []
    for job in jobs:
        try:
            answered.append(job.result(timeout=300))
        except QueueError as error:
            refused.append(str(error))
    assert refused and set(refused) == {"Queue is full! Please try again."}
    assert len(answered) >= QUEUE_SIZE
    assert all(heavy[r["start"] : r["end"]] == r["answer"] for r in answered)
    after = load_test.ask(client, ref, checkpoints.DEFAULT_NAME, 0, time.monotonic() + 60)
    assert (after.error, after.wrong) == (None, None)
    client.close()


def test_a_wrong_answer_is_told_apart_from_the_reference():
    context = "Karl von Frisch worked it out."
    expected = Expected("Karl von Frisch", 0, 15)
    right = {"answer": "Karl von Frisch", "start": 0, "end": 15, "model": "m"}
    assert load_test.check(right, expected, context, "m") is None
    assert "not 'm'" in load_test.check({**right, "model": "other"}, expected, context, "m")
    assert "context[1:15] is 'arl von Frisch'" in load_test.check(
        {**right, "start": 1}, expected, context, "m"
    )
    shorter = {**right, "answer": "Karl", "end": 4}
    assert load_test.check(shorter, expected, context, "m") == (
        "got Expected(answer='Karl', start=0, end=4), but m answers "
        "Expected(answer='Karl von Frisch', start=0, end=15) in-process"
    )


@pytest.mark.parametrize("url", ["http://example.com:7860/", "http://10.0.0.5:7860/", "http://[::2]:80/"])
def test_only_servers_on_this_machine_are_loaded(url):
    with pytest.raises(ValueError, match="is not on this machine"):
        load_test.require_loopback(url)
