"""Rerun the reference experiments behind the Lessons tab and write their JSON.

    python -m qa_core.tooling.experiments [--out assets/lessons.json] [--work runs/lessons] [--steps 400 ...]

Each option below is a field of the shared recipe (``plan.Recipe``). An interrupted set resumes:
runs already measured in ``--work`` are read back, not trained again.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import sys
from pathlib import Path

from qa_core.flags import one_style
from qa_core.tooling.experiments import results
from qa_core.tooling.experiments.plan import Recipe


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qa_core.tooling.experiments", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, default=results.SHIPPED, help="Where to write the results JSON.")
    parser.add_argument("--work", type=Path, default=Path("runs/lessons"), help="Models and per-run results.")
    for field in dataclasses.fields(Recipe):
        parser.add_argument(
            f"--{field.name}", type=type(field.default), default=field.default, help=field.metadata["help"]
        )
    return one_style(parser)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parser().parse_args(argv)
    recipe = Recipe(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Recipe)})
    command = shlex.join(["python", "-m", "qa_core.tooling.experiments", *(sys.argv[1:] if argv is None else argv)])
    from qa_core.tooling.experiments.runner import run_all  # torch and training: after --help

    try:
        experiments = run_all(recipe, args.work, command)
    except (ValueError, FileNotFoundError) as error:
        logging.error("%s", error)
        return 2
    results.write(args.out, experiments)
    for run in experiments.runs:
        print(f"{run.name:12} EM {run.final.exact_match:5.1f}  F1 {run.final.f1:5.1f}  ({run.about})")
    effect = experiments.post_processing
    print(f"post-processing on: EM {effect.on.exact_match:.1f}, off: EM {effect.off.exact_match:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
