"""Base encoders built offline from PyPI wheels into the cache, and vocabularies trimmed to the data.

    python -m qa_core.base_models list
    python -m qa_core.base_models fetch e5-small-multilingual
    python -m qa_core.base_models trim --model .cache/base_models/e5-small-multilingual \\
        --out .cache/base_models/e5-small-zh-en --data FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import vocab_trim
from .build import BASES, CACHE_ENV, fetch_base
from .vocab_trim import texts_of, trim_vocabulary, verify_same_tokenisation


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qa_core.base_models", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="show the known base encoders")
    fetch = commands.add_parser("fetch", help="build a base encoder folder in the cache")
    fetch.add_argument("name", choices=sorted(BASES))
    fetch.add_argument("--cache", help=f"cache folder (default: ${CACHE_ENV} or .cache/base_models)")
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
    return parser


def list_bases() -> None:
    for spec in BASES.values():
        packages = ", ".join(wheel.requirement for wheel in spec.wheels)
        print(f"{spec.name:24} {spec.description}\n{'':24} from {packages}")


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
        list_bases()
    elif args.command == "fetch":
        print(fetch_base(args.name, args.cache))
    else:
        trim(args.model, args.out, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
