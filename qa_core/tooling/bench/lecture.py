"""How long each Lecture view takes, computation and figures, on the app's own examples.

    python -m qa_core.tooling.bench.lecture [--checkpoint DIR] [--runs 5] [--threads 2]

"Same character" reads the ten 蘋果 sentences (or the ten "bank" ones for a model without Chinese),
the word-pair views the example list of ``assets/lecture_examples.json``, and "the same question"
its paragraph with one question in Chinese and in English. Each view runs once to warm up, then
``--runs`` times; the median and the slowest run are reported.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable

import torch

from qa_core.answering.engine import QAEngine
from qa_core.explaining import lecture, lecture_figures, trace_figures
from qa_core.files import REPO_ROOT
from qa_core.flags import one_style
from qa_core.models.checkpoints import default_checkpoint
from qa_core.tooling.bench.run import cpu_description
from qa_core.tooling.bench.why import measure


def views(engine: QAEngine, examples: dict) -> dict[str, Callable[[], object]]:
    """Each Lecture view as the app runs it: the record, then the figures drawn from it."""
    example = next(e for e in examples["contexts"] if lecture.knows(engine, e["target"]))
    sentences, labels = lecture.parse_sentences("\n".join(example["sentences"]))
    pairs = lecture.parse_pairs("\n".join(examples["word_pairs"]))
    same = examples["same_question"]

    def contexts() -> None:
        record = lecture.contextual_embeddings(engine, sentences, labels, example["target"])
        middle = record.similarity.shape[0] // 2
        lecture_figures.similarity_figure(record, middle), lecture_figures.separation_figure(record, middle)

    def arithmetic() -> None:
        record = lecture.word_arithmetic(engine, pairs)
        lecture_figures.accuracy_figure(record, record.layers // 2)

    def projection() -> None:
        record = lecture.word_projection(engine, pairs)
        lecture_figures.projection_figure(record, record.layers // 2)

    def same_question() -> None:
        record = lecture.same_question(engine, same["context"], tuple(same["questions"]))
        for answer in record.answers:
            trace_figures.span_matrix_figure(answer.trace)

    return {
        f"same character ({len(sentences)} sentences)": contexts,
        f"embedding arithmetic ({len(pairs)} pairs)": arithmetic,
        f"projection ({len(pairs)} pairs)": projection,
        "same question, two languages": same_question,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qa_core.tooling.bench.lecture", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", help="Model folder (default: the shipped default checkpoint).")
    parser.add_argument("--runs", type=int, default=5, help="Timed runs of each view after one warm-up.")
    parser.add_argument("--threads", type=int, default=2, help="Torch threads (the app's machine: 2 cores).")
    args = one_style(parser).parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    engine = QAEngine.load(args.checkpoint or default_checkpoint())
    examples = json.loads((REPO_ROOT / "assets" / "lecture_examples.json").read_text(encoding="utf-8"))
    print(f"{engine.name} on {cpu_description()}, {torch.get_num_threads()} torch threads")
    for name, fn in views(engine, examples).items():
        try:
            timing = measure(fn, args.runs)
        except ValueError as error:  # an English-only model cannot read the Chinese word pairs
            print(f"{name:36s} skipped: {error}")
            continue
        print(f"{name:36s} median {timing['median_s']:.3f} s, slowest {timing['max_s']:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
