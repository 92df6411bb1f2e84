"""Answer every question of a data file and write SQuAD predictions ``{question_id: answer_text}``.

    python -m qa_core.data.predict --data assets/sample_qa.json --out pred.json [--csv answers.csv]

As in SQuAD 2.0's prediction format, the answer is "" for a question the engine judged not answered by
its paragraph (only a checkpoint trained with unanswerable questions, or given a null threshold, judges so).
``--csv`` also writes the homework's ``ID,Answer`` file, which keeps its own convention: always the best
span, because every homework question has an answer and an empty cell scores nothing. Answers whose text
is not at their stated offset (official files have some) are kept and counted: answering reads no
offsets, scoring only text.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from qa_core.answering.records import Answer
from qa_core.data.squad import DataError, Example, load_data
from qa_core.files import write_text_atomically
from qa_core.flags import one_style
from qa_core.models.checkpoints import default_checkpoint
from qa_core.settings import AnswerSettings, SpanRules, WindowSettings, default_of, help_of

if TYPE_CHECKING:  # the engine loads torch: imported where a model is loaded, so --help answers at once
    from qa_core.answering.engine import QAEngine

CHUNK = 64  # questions per engine call: windows of neighbouring questions share batches
SETTING_OPTIONS = (
    (WindowSettings, "max_length"),
    (WindowSettings, "doc_stride"),
    (SpanRules, "max_answer_length"),
)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by the command-line tools that run a model over a data file."""
    parser.add_argument(
        "--data", required=True, help="SQuAD JSON or the homework's JSON (.json or .json.gz)."
    )
    parser.add_argument(
        "--checkpoint", help="Model folder or hub id (default: the shipped Chinese + English checkpoint)."
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="Only the first N questions in file order (0: all)."
    )
    parser.add_argument(
        "--int8", action="store_true", help="Quantise the linear layers to int8 (faster on CPU)."
    )
    for record, name in SETTING_OPTIONS:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=default_of(record, name),
            help=help_of(record, name),
        )
    parser.add_argument(
        "--answer-threshold",
        type=float,
        default=default_of(SpanRules, "answer_threshold"),
        help=help_of(SpanRules, "answer_threshold"),
    )


@dataclass(frozen=True)
class ModelRun:
    """What the command line names: a model, the questions to answer and the settings to answer them with."""

    engine: QAEngine
    examples: list[Example]
    settings: AnswerSettings


def load_from_args(args: argparse.Namespace) -> ModelRun:
    """Engine, questions and settings named on the command line.

    Answers not at their stated offset are kept for their text (the loader logs how many), because
    answering never reads a gold offset and scoring reads only the text. Questions with no question
    text (CMRC 2018's dev file has two) cannot be answered: they are left out, and the loader says so.
    """
    examples = load_data(args.data, bad_offsets="keep", drop_empty_questions=True).examples
    if args.limit:
        examples = examples[: args.limit]
    from qa_core.answering.engine import QAEngine

    engine = QAEngine.load(args.checkpoint or default_checkpoint(), int8=args.int8)
    settings = AnswerSettings(
        windows=WindowSettings(max_length=args.max_length, doc_stride=args.doc_stride),
        spans=SpanRules(max_answer_length=args.max_answer_length, answer_threshold=args.answer_threshold),
    )
    return ModelRun(engine, examples, settings)


def answer_all(engine: QAEngine, examples: Sequence[Example], settings: AnswerSettings) -> list[Answer]:
    """The engine's answer to every example, in order, with a progress bar on stderr."""
    answers: list[Answer] = []
    with tqdm(total=len(examples), unit="q", file=sys.stderr, desc="answering") as bar:
        for c in range(0, len(examples), CHUNK):
            chunk = examples[c : c + CHUNK]
            answers += engine.answer_many([(e.question, e.context) for e in chunk], settings)
            bar.update(len(chunk))
    return answers


def predictions_by_id(
    examples: Sequence[Example], answers: Sequence[Answer], *, abstain: bool = True
) -> dict[str, str]:
    """Answer text by question id (SQuAD's predictions format), in file order.

    ``abstain``: "" where the engine judged the question unanswerable, as SQuAD 2.0 scores it; off,
    each question's best span, what the homework's CSV wants and what a null-threshold search starts from.
    """
    return {e.id: "" if abstain and a.no_answer else a.text for e, a in zip(examples, answers, strict=True)}


def homework_csv(predictions: dict[str, str]) -> str:
    """The homework's submission format: a header, then one quoted-as-needed ``ID,Answer`` row per question."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [["ID", "Answer"], *([k, v] for k, v in predictions.items())]
    )
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_core.data.predict", description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help='Where to write the SQuAD predictions JSON ("" for a question judged unanswerable).',
    )
    parser.add_argument(
        "--csv",
        type=Path,
        help="Also write the homework's ID,Answer CSV (always the best span: its questions all have one).",
    )
    args = one_style(parser).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        run = load_from_args(args)
        # settings that cannot cut windows fail here, before anything is written
        answers = answer_all(run.engine, run.examples, run.settings)
    except (DataError, FileNotFoundError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    predictions = predictions_by_id(run.examples, answers)
    write_text_atomically(args.out, json.dumps(predictions, ensure_ascii=False, indent=1) + "\n")
    if args.csv:
        write_text_atomically(args.csv, homework_csv(predictions_by_id(run.examples, answers, abstain=False)))
    print(f"wrote {len(predictions)} answers to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
