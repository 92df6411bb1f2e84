"""Convert a reading-comprehension file between Traditional and Simplified Chinese, answers kept on their text.

    python -m qa_core.data.convert --to simplified --in DRCD_test.json --out runs/data/DRCD_test-simplified.json

A model fine-tuned on one script reads the other less well; a converted copy of the training files
teaches it both. OpenCC converts with character-level configs here (``tw2s``: Traditional as written
in Taiwan, like DRCD and the homework, to Simplified; ``s2tw``: Simplified to Taiwan Traditional), which
never substitute words (軟體 stays 軟體, not 软件), so a paragraph normally keeps its length. Offsets
are recomputed all the same, and an answer whose converted text is not at its converted offset (a
character converted differently inside a phrase than alone, say) is dropped, counted and named,
never written wrong. The output is always SQuAD JSON, written atomically.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

import opencc

from qa_core.data.squad import DataError, Example, GoldAnswer, _ids, load_data, write_squad
from qa_core.flags import one_style
from qa_core.settings import choices

Script = Literal["simplified", "traditional"]  # the script a file is converted to
OPENCC_CONFIGS: dict[Script, str] = {"simplified": "tw2s", "traditional": "s2tw"}


@dataclass(frozen=True)
class Conversion:
    """The converted questions, and what could not be converted faithfully."""

    examples: list[Example]
    questions: int  # questions read
    dropped_answers: list[str]  # question id per answer whose converted text is not at its converted offset
    dropped_questions: list[str]  # questions left without an answer by those drops (never impossible ones)

    def summary(self) -> str:
        """The counts in words, with the first few ids of each drop, for a person checking the file."""
        return (
            f"kept {len(self.examples)} of {self.questions} questions; dropped {len(self.dropped_answers)} "
            f"answer(s) whose converted text is not at its converted offset{_named(self.dropped_answers)} and "
            f"{len(self.dropped_questions)} question(s) left without an answer{_named(self.dropped_questions)}"
        )


def converter(to: Script) -> Callable[[str], str]:
    """OpenCC's converter to ``to``, made once per script (loading its dictionaries takes a moment)."""
    if to not in OPENCC_CONFIGS:
        raise ValueError(f"to must be one of {', '.join(choices(Script))}, got {to!r}.")
    return _opencc(OPENCC_CONFIGS[to])


@cache
def _opencc(config: str) -> Callable[[str], str]:
    return opencc.OpenCC(f"{config}.json").convert


def convert_examples(examples: Sequence[Example], convert: Callable[[str], str]) -> Conversion:
    """Every example's title, paragraph, question and answers converted, each answer moved to its new offset."""
    cached = cache(convert)  # the questions of one paragraph share it: convert it once
    kept: list[Example] = []
    dropped_answers: list[str] = []
    dropped_questions: list[str] = []
    for example in examples:
        context = cached(example.context)
        answers = [_converted_answer(a, example.context, context, cached) for a in example.answers]
        dropped_answers += [example.id] * answers.count(None)
        placed = tuple(a for a in answers if a is not None)
        if example.answers and not placed:
            dropped_questions.append(example.id)
            continue
        title, question = cached(example.title), cached(example.question)
        kept.append(replace(example, title=title, question=question, context=context, answers=placed))
    return Conversion(kept, len(examples), dropped_answers, dropped_questions)


def _converted_answer(
    answer: GoldAnswer, context: str, converted: str, convert: Callable[[str], str]
) -> GoldAnswer | None:
    """The answer at its offset in the converted paragraph, or None where its converted text is not there.

    The new offset is the length of the converted text before the answer, so a conversion that changed
    a length earlier in the paragraph still places the answer right.
    """
    text, start = convert(answer.text), len(convert(context[: answer.start]))
    return GoldAnswer(text, start) if converted[start : start + len(text)] == text else None


def convert_file(source: str | Path, target: str | Path, to: Script) -> Conversion:
    """Convert a SQuAD-style or HW7 file into SQuAD JSON at ``target``.

    Loading repairs as training does (answers within two characters of their text moved onto it, the
    rest and empty questions left out, all logged), since a converted file is made to train on.
    """
    loaded = load_data(source, fix_offsets_within=2, bad_offsets="skip", drop_empty_questions=True)
    conversion = convert_examples(loaded.examples, converter(to))
    if not conversion.examples:
        raise DataError(f"{source}: no question kept its answer in conversion; nothing was written.")
    write_squad(conversion.examples, target)
    return conversion


def _named(ids: Sequence[str]) -> str:
    return f" (ids {_ids(ids)})" if ids else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_core.data.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--to",
        required=True,
        choices=choices(Script),
        help=f"The script to convert to (OpenCC {', '.join(f'{k}: {v}' for k, v in OPENCC_CONFIGS.items())}).",
    )
    parser.add_argument(
        "--in", dest="source", metavar="FILE", required=True, type=Path, help="SQuAD-style or HW7 file."
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="Where to write the SQuAD JSON (.json or .json.gz)."
    )
    args = one_style(parser).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        conversion = convert_file(args.source, args.out, args.to)
    except DataError as error:
        parser.exit(2, f"error: {error}\n")
    print(f"{args.out}: {conversion.summary()}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
