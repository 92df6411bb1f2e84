"""Every command shows its options with dashes and still accepts the underscore spelling."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

import pytest

from qa_core.data import convert, evaluate, negatives, predict
from qa_core.explaining import lecture
from qa_core.flags import dashed, one_style, underscored
from qa_core.tooling import deploy
from qa_core.tooling.base_models.__main__ import main as base_models_main
from qa_core.tooling.bench.__main__ import main as bench_main
from qa_core.tooling.bench.lecture import main as bench_lecture_main
from qa_core.tooling.bench.why import main as bench_why_main
from qa_core.tooling.experiments.__main__ import main as experiments_main
from qa_core.train.__main__ import main as train_main
from qa_core.train.__main__ import parser as train_parser

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "predict": predict.main,
    "evaluate": evaluate.main,
    "convert": convert.main,
    "lecture": lecture.main,
    "deploy": deploy.main,
    "train": train_main,
    "train.negatives": negatives.main,
    "experiments": experiments_main,
    "base_models": base_models_main,
    "bench": bench_main,
    "bench.why": bench_why_main,
    "bench.lecture": bench_lecture_main,
}
UNDERSCORED_OPTION = re.compile(r"--[a-z0-9]+_[a-z0-9_]+")


def test_long_options_are_respelled_and_short_ones_left_alone() -> None:
    assert dashed("--max_length") == "--max-length" and underscored("--max-length") == "--max_length"
    assert dashed("-h") == "-h" and underscored("-h") == "-h"


def test_a_parser_shows_the_dashed_spelling_and_parses_both() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    one_style(parser)
    assert "--max-length" in parser.format_help() and "--max_length" not in parser.format_help()
    for spelling in (["--max_length", "48", "--doc_stride", "8"], ["--max-length", "48", "--doc-stride", "8"]):
        args = parser.parse_args(spelling)
        assert (args.max_length, args.doc_stride) == (48, 8)


def test_an_error_names_the_dashed_spelling(capsys) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_length", type=int, required=True)
    with pytest.raises(SystemExit):
        one_style(parser).parse_args([])
    error = capsys.readouterr().err
    assert "--max-length" in error and "--max_length" not in error


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_lists_its_options_with_dashes_only(name, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        COMMANDS[name](["--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert "usage:" in shown and not UNDERSCORED_OPTION.findall(shown)


def test_the_training_command_reads_both_spellings_alike() -> None:
    def parse(*arguments: str):
        (config,) = train_parser().parse_args_into_dataclasses(
            args=["--base", "b", "--train", "t", "--out", "o", *arguments]
        )
        return config

    assert parse("--max_length", "128", "--batch_size", "4") == parse("--max-length", "128", "--batch-size", "4")
    assert not parse("--no_freeze_embeddings").freeze_embeddings
    assert not parse("--no-freeze-embeddings").freeze_embeddings
