"""The Lessons tab through the running app's named API: training windows of a file, and compared curves."""

from __future__ import annotations

import csv
import json

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from qa_core.data.squad import Example, GoldAnswer, write_squad
from qa_core.tooling.experiments import results

pytestmark = pytest.mark.integration  # starts the app as a server

VIEW = ("windows", "histogram", "note")


def windows(url: str, data_file=None, number: int = 1, max_length: int = 128, draws: int = 5) -> dict:
    result = Client(url, verbose=False).predict(
        data_file=data_file,
        number=number,
        model=None,
        max_length=max_length,
        draws=draws,
        api_name="/lessons_windows",
    )
    return dict(zip(VIEW, result, strict=True))


def figure(plot: dict) -> dict:
    return json.loads(plot["plot"])


def test_the_sample_questions_are_cut_into_a_centred_and_random_windows(app_url):
    view = windows(app_url, number=2, max_length=32, draws=3)
    bars = [t for t in figure(view["windows"])["data"] if t["type"] == "bar"]
    assert [t["y"][0] for t in bars] == ["centred", "random 1", "random 2", "random 3"]
    histogram = figure(view["histogram"])["data"]
    assert {t["name"] for t in histogram} == {"centred", "random"}
    assert "Question 2 of 39" in view["note"]


def test_an_uploaded_file_is_used_and_a_question_beyond_it_is_refused_by_number(app_url, tmp_path):
    context = "the seine flows through paris and the loire flows through tours"
    examples = [Example(f"q{i}", "what flows?", context, (GoldAnswer("seine", 4),)) for i in range(5)]
    upload = write_squad(examples, tmp_path / "mine.json")
    view = windows(app_url, handle_file(str(upload)), number=5, max_length=32)
    assert "Question 5 of 5" in view["note"] and "what flows?" in view["note"]
    with pytest.raises(AppError, match="question number must be 1 to 5, got 6"):
        windows(app_url, handle_file(str(upload)), number=6)


def test_a_window_length_out_of_range_is_refused_with_its_range(app_url):
    with pytest.raises(AppError, match="Value 8 is less than minimum value 32"):
        windows(app_url, max_length=8)


def test_reference_runs_are_compared_and_exported(app_url):
    shipped = results.read()
    names = [f"reference: {r.name}" for r in shipped.runs[:2]]
    plot, exported = Client(app_url, verbose=False).predict(chosen=names, api_name="/compare_runs")
    traces = figure(plot)["data"]
    assert {t["name"] for t in traces} == {r.name for r in shipped.runs[:2]}
    with open(exported, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(r.curve) for r in shipped.runs[:2])


def test_an_unknown_run_is_refused_naming_the_runs_there_are(app_url):
    with pytest.raises(AppError, match=r"'nope' .* is not in the list of choices: \['reference: reference'"):
        Client(app_url, verbose=False).predict(chosen=["nope"], api_name="/compare_runs")
