"""Measure a checkpoint on a data file: EM and F1 (SQuAD v1.1 / CMRC 2018) and the homework's accuracy.

    python -m qa_core.evaluate --data assets/sample_qa.json [--checkpoint DIR] [--limit N] [--record]

The last line printed is one JSON object with exact_match, f1, accuracy, n, seconds and
unusable_offsets (gold answers scored by their text alone, because their stated offset is wrong: official
files have some), so scripts can read it with ``tail -n 1``. ``--record`` also stores the result in the checkpoint's
eval_results.json and refreshes its model card.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from .data import DataError, misplaced_answers
from .files import write_text_atomically
from .metrics import score
from .predict import add_model_arguments, load_from_args, predict
from .train import model_card


def record(checkpoint: Path, data_file: str, limit: int, result: dict) -> None:
    """Add this measurement to the checkpoint's eval_results.json and re-render its README."""
    path = checkpoint / "eval_results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    key = Path(data_file).name + (f" (first {limit})" if limit else "")
    results[key] = result
    write_text_atomically(path, json.dumps(results, indent=2) + "\n")  # earlier measurements are never lost
    model_card.render(checkpoint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_core.evaluate", description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--record",
        action="store_true",
        help="Save the result in the checkpoint folder and refresh its model card.",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        run = load_from_args(args)
        started = time.perf_counter()
        predictions = predict(run.engine, run.examples, run.settings)
        seconds = time.perf_counter() - started
        scores = score(predictions, run.examples)
    except (DataError, FileNotFoundError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    result = {
        **asdict(scores),
        "seconds": round(seconds, 2),
        "unusable_offsets": misplaced_answers(run.examples),
    }
    print(
        f"{args.data}: {scores.n} questions, EM {scores.exact_match:.2f}, F1 {scores.f1:.2f}, "
        f"strict accuracy {scores.accuracy:.4f}, {seconds:.1f} s ({scores.n / max(seconds, 1e-9):.1f} questions/s)"
    )
    if args.record:
        if not Path(run.engine.source).is_dir():
            parser.exit(2, f"error: --record needs a local checkpoint folder, not {run.engine.source!r}\n")
        record(Path(run.engine.source), args.data, args.limit, result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
