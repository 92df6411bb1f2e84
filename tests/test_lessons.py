"""The Lessons tab's computations: training windows under each placement, the experiments and their file."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from qa_core.answering.placement import label_pairs
from qa_core.answering.windows import answer_window
from qa_core.data.squad import Example, GoldAnswer, write_squad
from qa_core.explaining import lessons, lessons_figures
from qa_core.explaining.lessons_records import RunCurve
from qa_core.files import REPO_ROOT
from qa_core.tooling.experiments import results
from qa_core.tooling.experiments.plan import REFERENCE, RUNS
from qa_core.train.run import load_model

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()
)


def _examples(n: int, length: int = 60, seed: int = 0) -> list[Example]:
    """English paragraphs of ``length`` words, the answer "paris" at a random word of each."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(length)]
        words[rng.randrange(length)] = "paris"
        context = " ".join(words)
        examples.append(
            Example(f"q{i}", "where is it?", context, (GoldAnswer("paris", context.index("paris")),))
        )
    return examples


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_centred_answers_pile_up_in_the_middle_and_random_ones_spread(tokenizer) -> None:
    histogram = lessons.placement_histogram(tokenizer, _examples(300), max_length=32)
    assert histogram.questions == 300 and histogram.fits_one_window == 0
    centre_q = np.quantile(histogram.positions["centre"], [0.25, 0.5, 0.75])
    random_q = np.quantile(histogram.positions["random"], [0.1, 0.5, 0.9])
    # centred: half the answers within a few tokens of the middle, except those near a paragraph edge
    assert centre_q[0] >= 0.4 and centre_q[2] <= 0.6 and abs(centre_q[1] - 0.5) < 0.05
    assert random_q[0] < 0.2 and random_q[2] > 0.8, "random placement covers the whole window"
    assert all(((p >= 0) & (p <= 1)).all() for p in histogram.positions.values())


def test_the_drawn_windows_are_the_training_codes_own(tokenizer) -> None:
    example = _examples(1, length=80)[0]
    record = lessons.placement_draws(tokenizer, example, max_length=32, draws=4, seed=7)
    assert [(w.placement, w.draw) for w in record.windows] == [("centre", 0)] + [
        ("random", d) for d in range(1, 5)
    ]
    pair = label_pairs(tokenizer, [example], 16)[0]
    rng = random.Random(7)
    expected = [answer_window(pair.encoding, pair.answer_tokens, 32, "centre", rng)]
    expected += [answer_window(pair.encoding, pair.answer_tokens, 32, "random", rng) for _ in range(4)]
    assert [(w.first, w.end) for w in record.windows] == expected
    first, last = record.answer_tokens
    for w in record.windows:  # every window holds the whole answer, and its characters are the paragraph's
        assert w.first <= first and last < w.end and w.end - w.first <= record.room
        assert "paris" in example.context[w.start_char : w.end_char]
    assert example.context[slice(*record.answer_chars)] == "paris"
    figure = lessons_figures.placement_figure(record)
    assert len(figure.data) == 6 and figure.layout.shapes, (
        "five windows, the answer band and its legend entry"
    )


def test_a_question_without_an_answer_or_too_many_draws_is_refused(tokenizer) -> None:
    example = _examples(1)[0]
    with pytest.raises(ValueError, match="draws must be 1 to 12, got 13"):
        lessons.placement_draws(tokenizer, example, 32, draws=13)
    with pytest.raises(ValueError, match="no gold answer"):
        lessons.placement_draws(tokenizer, Example("x", "q?", "a b c", ()), 32)


def test_random_init_keeps_the_architecture_and_drops_the_pretrained_weights(tiny_bert_dir) -> None:
    torch.manual_seed(1)  # the tiny model itself was initialised with seed 0
    pretrained, scratch = (
        load_model(str(tiny_bert_dir), "pretrained"),
        load_model(str(tiny_bert_dir), "random"),
    )
    saved = load_file(tiny_bert_dir / "model.safetensors")
    weights, fresh = pretrained.state_dict(), scratch.state_dict()
    assert weights.keys() == fresh.keys()
    name = next(k for k in saved if "encoder.layer.0" in k and k.endswith("weight") and saved[k].dim() == 2)
    assert torch.equal(weights[name], saved[name]) and not torch.allclose(fresh[name], saved[name])


@pytest.fixture(scope="module")
def experiments_file(tiny_bert_dir, tmp_path_factory) -> Path:
    """The experiments command over a tiny model and tiny files: every run, a handful of steps."""
    folder = tmp_path_factory.mktemp("experiments")
    train, dev = (
        write_squad(_examples(24, 30), folder / "train.json"),
        write_squad(_examples(8, 30, 1), folder / "dev.json"),
    )
    out = folder / "lessons.json"
    options = dict(
        base=tiny_bert_dir, train=train, eval=dev, steps=4, batch_size=4, max_length=32, doc_stride=8
    )
    options |= dict(curve_points=2, curve_questions=4, final_questions=8, max_questions=0)
    command = [sys.executable, "-m", "qa_core.tooling.experiments", "--out", str(out), "--work", str(folder / "work")]
    command += [f"--{k}={v}" for k, v in options.items()]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reference" in done.stdout and "post-processing on" in done.stdout
    return out


@pytest.mark.integration
def test_the_experiments_command_writes_every_run_with_its_command_and_curves(experiments_file) -> None:
    data = json.loads(experiments_file.read_text(encoding="utf-8"))
    assert {"command", "machine", "created", "recipe", "runs", "post_processing"} <= data.keys()
    assert data["recipe"]["seed"] == 2026 and data["command"].startswith("python -m qa_core.tooling.experiments")
    record = results.read(experiments_file)
    assert [r.name for r in record.runs] == [r.name for r in RUNS]
    for run, planned in zip(record.runs, RUNS, strict=True):
        assert run.command.startswith("python -m qa_core.train ") and "--max-steps 4" in run.command
        for option, value in planned.changes.items():
            assert f"--{option} {value}" in run.command
        assert [p.step for p in run.curve if p.scores] == [2, 4] and run.final.n == 8
        assert run.curve[-1].windows_seen == 4 * 4
        assert sum(b.scores.n for b in run.by_position) <= 8
    assert record.post_processing.run == REFERENCE and record.post_processing.on.n == 8
    curves = [RunCurve(r.name, r.curve) for r in record.runs]
    assert len(lessons_figures.curves_figure(curves).data) == 2 * len(RUNS)
    assert len(lessons_figures.curves_table(curves)) == sum(len(r.curve) for r in record.runs)


def test_a_rerun_reads_measured_runs_back_instead_of_training_them_again(
    experiments_file, tiny_bert_dir
) -> None:
    work = experiments_file.parent / "work"
    before = {p: p.stat().st_mtime for p in work.glob("*/model/model.safetensors")}
    assert len(before) == len(RUNS)
    again = experiments_file.parent / "again.json"
    from qa_core.tooling.experiments.__main__ import main

    recipe = json.loads(experiments_file.read_text(encoding="utf-8"))["recipe"]
    argv = ["--out", str(again), "--work", str(work)] + [f"--{k}={v}" for k, v in recipe.items()]
    assert main(argv) == 0
    assert {p: p.stat().st_mtime for p in before} == before
    assert [r["final"] for r in json.loads(again.read_text(encoding="utf-8"))["runs"]] == [
        r["final"] for r in json.loads(experiments_file.read_text(encoding="utf-8"))["runs"]
    ]


def test_a_damaged_experiments_file_is_named_in_the_error(tmp_path) -> None:
    broken = tmp_path / "lessons.json"
    broken.write_text(json.dumps({"command": "x"}), encoding="utf-8")
    with pytest.raises(ValueError, match="lessons.json is not an experiments file"):
        results.read(broken)


def test_the_shipped_experiments_hold_every_planned_run() -> None:
    shipped = results.read()
    assert [r.name for r in shipped.runs] == [r.name for r in RUNS]
    assert shipped.post_processing is not None


def test_unanswerable_questions_have_nothing_to_place_and_are_left_out(tokenizer) -> None:
    examples = _examples(20)
    unanswerable = [
        Example(f"x{i}", "where is it?", e.context, (), impossible=True) for i, e in enumerate(examples)
    ]
    histogram = lessons.placement_histogram(tokenizer, examples + unanswerable, max_length=32)
    assert histogram.questions == 20
