"""Engine against the transformers question-answering pipeline: same checkpoint, same inputs, one run.

    python -m qa_core.tooling.bench --setup-baseline          # once: a venv with transformers==4.57.6
    python -m qa_core.tooling.bench [--checkpoint DIR] [--int8] [--questions 500] [--out bench.json]

The full report is written as JSON and a summary printed; ``qa_core.tooling.bench.run`` says what is measured.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from qa_core.files import SHARED_DATA
from qa_core.flags import one_style
from qa_core.models.checkpoints import default_checkpoint


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qa_core.tooling.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="Model folder (default: the shipped default checkpoint).")
    parser.add_argument(
        "--int8", action="store_true", help="Also measure the engine with int8 linear layers."
    )
    parser.add_argument(
        "--questions", type=int, default=500, help="Questions from each dev file for throughput."
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench.json"), help="Where to write the full report (JSON)."
    )
    parser.add_argument(
        "--baseline-python", type=Path, help="Python with transformers 4.57 (default: the bench venv)."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=SHARED_DATA,
        help="Folder holding drcd/DRCD_dev.json and squad/dev-v1.1-no-xquad.json.",
    )
    parser.add_argument("--setup-baseline", action="store_true", help="Create the baseline venv and exit.")
    return one_style(parser)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from qa_core.tooling.bench.run import Baseline, run, setup_baseline, summary  # torch: after --help

    python = args.baseline_python or setup_baseline()
    if args.setup_baseline:
        print(f"baseline python: {python}")
        return 0
    report = run(
        str(args.checkpoint or default_checkpoint()),
        args.int8,
        args.questions,
        args.data_dir,
        lambda checkpoint, settings, threads: Baseline(python, checkpoint, settings, threads),
    )
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(summary(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
