"""The training config: its command line, its defaults and the rules every run is checked against."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from qa_core.files import REPO_ROOT
from qa_core.settings import WindowSettings
from qa_core.train.__main__ import main, parser
from qa_core.train.config import TrainConfig, check_config, config_problems

CHECKPOINTS = REPO_ROOT / "checkpoints"


def _config(**changes) -> TrainConfig:
    return TrainConfig(base="b", train=["train.json"], out="out", **changes)


@pytest.mark.integration
def test_help_names_the_command_and_offers_the_choices_and_ranges() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qa_core.train", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "1000"},  # argparse wraps at the terminal's width, also inside --a-b
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert text.startswith("usage: python -m qa_core.train ")
    for choices in (
        "--placement {random,centre}",
        "--schedule {linear,constant}",
        "--save-dtype {float32,float16}",
    ):
        assert choices in text
    assert "Range: 32 to 512 tokens. (default: 256)" in text
    assert (
        "--freeze-embeddings [FREEZE_EMBEDDINGS] Keep the word embeddings "
        "fixed (default; --no-freeze-embeddings trains them). (default: True)"
    ) in text
    # the negation's help says what it does, not the field's words with a "(default: False)" that misreads
    assert "--no-freeze-embeddings The same as --freeze-embeddings False. --" in text
    assert text.count("Keep the word embeddings fixed") == 1


def test_the_config_imports_neither_torch_nor_transformers() -> None:
    code = "import sys, qa_core.train.config; print(' '.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert not {"torch", "transformers"} & set(loaded.stdout.split())


def test_switches_parse_as_before() -> None:
    def parse(*arguments: str) -> TrainConfig:
        (config,) = parser().parse_args_into_dataclasses(
            args=["--base", "b", "--train", "t", "--out", "o", *arguments]
        )
        return config

    assert parse().freeze_embeddings and not parse().bf16
    assert not parse("--no_freeze_embeddings").freeze_embeddings
    assert not parse("--freeze_embeddings", "False").freeze_embeddings
    assert parse("--freeze_embeddings").freeze_embeddings and parse("--bf16").bf16
    assert parse("--placement", "centre").placement == "centre"
    with pytest.raises(SystemExit):
        parse("--placement", "middle")


@pytest.mark.parametrize(("max_steps", "trainer_max_steps"), [(0, -1), (-1, -1), (7, 7)])
def test_max_steps_up_to_zero_trains_for_the_epochs(max_steps: int, trainer_max_steps: int) -> None:
    assert _config().max_steps == 0
    assert _config(max_steps=max_steps).trainer_max_steps() == trainer_max_steps


def test_evaluation_measures_windows_as_answering_does_with_the_runs_stride() -> None:
    config = _config(max_length=128, doc_stride=32, max_question_length=20)
    assert config.eval_windows() == WindowSettings(doc_stride=32, max_question_length=20)
    assert config.eval_windows().max_length == WindowSettings().max_length


@pytest.mark.parametrize("name", ["e5-small-zh-en-qa", "minilm-l6-en-qa"])
def test_the_shipped_models_saved_configs_still_pass(name: str) -> None:
    saved = json.loads((CHECKPOINTS / name / "training_config.json").read_text(encoding="utf-8"))
    assert saved["max_steps"] == -1, "saved before 0 meant 'train for the epochs'"
    check_config(TrainConfig(**saved))


def test_every_problem_is_named_at_once() -> None:
    config = _config(batch_size=0, max_steps=0, epochs=0, max_length=64, doc_stride=40, eval="train.json")
    assert config_problems(config) == [
        "batch_size must be at least 1 and at most 64 windows, got 0",
        "epochs must be above 0 when max_steps is 0 (train for --epochs), got 0",
        "doc_stride must be at most half of max_length (32 tokens), got 40",
        "train.json is both a training and the evaluation file: keep evaluation data unseen",
    ]
    with pytest.raises(ValueError, match=r"^batch_size must .*keep evaluation data unseen\.$"):
        check_config(config)
    check_config(_config())


def test_a_stride_that_leaves_evaluation_windows_no_room_is_refused_before_training() -> None:
    config = _config(max_length=512, doc_stride=256, max_question_length=200, eval="dev.json")
    (problem,) = config_problems(config)
    assert problem == (
        "doc_stride must be below the 188 paragraph tokens of a 384-token evaluation window next to a "
        "192-token question, got 256"
    )
    assert config_problems(replace(config, eval=None)) == [], "without evaluation there are no such windows"


def test_the_command_refuses_a_bad_config_with_a_message_and_exit_status_2(caplog) -> None:
    with caplog.at_level(logging.ERROR):
        status = main(["--base", "b", "--train", "t.json", "--out", "o", "--learning_rate", "0"])
    assert status == 2
    assert "learning_rate must be above 0 and at most 1, got 0." in caplog.text
