"""Unanswerable questions made from answerable ones, so a model learns when the paragraph does not hold the answer.

A model trained only on answerable questions always finds some span, even when the paragraph has
nothing to say. SQuAD 2.0 teaches it otherwise with questions whose paragraph lacks the answer,
labelled at the first token ([CLS] / <s>). Four kinds are made here from the training data itself:

- ``answer_removed``: the paragraph without the sentence that holds the answer, so the question's
  topic is still there (the hard case: a paragraph about the right thing that does not say it);
- ``other_paragraph``: another paragraph of the same article, close in topic but without the answer;
- ``entity_swapped`` and ``sentence_replaced``: the hard kinds of ``hard_negatives``, on the paragraph's
  own topic (the question's key number or name swapped; the answer's sentence replaced by an on-topic one).

Each is made only when the fact is really gone: a negative that still holds its answer would teach
the model to ignore a correct span. Nothing here imports torch.

``python -m qa_core.data.negatives --data FILE --out FILE`` writes a file's questions together with
negatives made from them as one SQuAD 2.0 file: from a training file for tuning a threshold, from an
evaluation file to measure "no answer" (never to train on).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Literal, get_args

from qa_core.answering.sentences import sentence_spans
from qa_core.data.hard_negatives import SwapPool, entity_swapped, holds_an_answer, sentence_replaced
from qa_core.data.squad import Example

# how an unanswerable question is made; the last two are the hard kinds of ``hard_negatives``
NegativeKind = Literal["answer_removed", "other_paragraph", "entity_swapped", "sentence_replaced"]
# made unless others are asked for: the kinds the checkpoints so far were trained and measured with
DEFAULT_KINDS: tuple[NegativeKind, ...] = ("answer_removed", "other_paragraph")


def answer_removed(example: Example) -> Example | None:
    """The question over its paragraph without the sentence holding its first answer, or None.

    None when the answer runs over a sentence end, when any answer's text still occurs in what is
    left, or when nothing but white space is left.
    """
    gold = example.answers[0]
    end = gold.start + len(gold.text)
    sentence = next(
        ((a, b) for a, b in sentence_spans(example.context) if a <= gold.start and end <= b), None
    )
    if sentence is None:
        return None
    rest = example.context[: sentence[0]] + example.context[sentence[1] :]
    if not rest.strip() or holds_an_answer(example, rest):
        return None
    return _negative(example, rest, "answer_removed")


def other_paragraph(example: Example, paragraphs: Sequence[str], rng: random.Random) -> Example | None:
    """The question over another paragraph of its article (``paragraphs``), drawn by ``rng``, or None.

    Paragraphs that hold any of its answers' text are never drawn; None when no other paragraph is left.
    """
    others = [p for p in paragraphs if p != example.context and not holds_an_answer(example, p)]
    return _negative(example, rng.choice(others), "other_paragraph") if others else None


def make_negatives(
    examples: Sequence[Example], share: float, kinds: Sequence[NegativeKind], seed: int
) -> dict[NegativeKind, list[Example]]:
    """About ``share`` × the answerable questions as negatives, each from a different question, by kind.

    Questions are visited in a seeded random order and the kinds take turns, so the kinds come out
    about even; a question that cannot give the kind whose turn it is gives another kind. Fewer are
    made when too few questions qualify. The same examples, share, kinds and seed give the same negatives.
    """
    answerable = [e for e in examples if e.answers and not e.impossible]
    wanted, rng = round(share * len(answerable)), random.Random(seed)
    articles = _paragraphs_by_title(examples)  # impossible questions' paragraphs may be drawn too
    made: dict[NegativeKind, list[Example]] = {kind: [] for kind in kinds}
    pool = SwapPool.of(examples) if "entity_swapped" in kinds else None
    if not wanted:
        return made
    total = 0
    for example in rng.sample(answerable, len(answerable)):
        turn = [kinds[(total + k) % len(kinds)] for k in range(len(kinds))]
        for kind in turn:
            if negative := _make(kind, example, articles, pool, rng):
                made[kind].append(negative)
                total += 1
                break
        if total == wanted:
            break
    return made


def _make(
    kind: NegativeKind,
    example: Example,
    articles: Mapping[str, Sequence[str]],
    pool: SwapPool | None,
    rng: random.Random,
) -> Example | None:
    if kind == "answer_removed":
        return answer_removed(example)
    if kind == "entity_swapped":
        assert pool is not None, "make_negatives builds the pool when this kind is asked for"
        return entity_swapped(example, pool, rng)
    if kind == "sentence_replaced":
        return sentence_replaced(example, articles.get(example.title, ()))
    return other_paragraph(example, articles.get(example.title, ()), rng)


def _paragraphs_by_title(examples: Iterable[Example]) -> dict[str, list[str]]:
    """Each article's distinct paragraphs in file order; an empty title (the HW7 format has none) names no article."""
    articles: dict[str, dict[str, None]] = {}
    for example in examples:
        if example.title:
            articles.setdefault(example.title, {})[example.context] = None
    return {title: list(paragraphs) for title, paragraphs in articles.items()}


def _negative(example: Example, context: str, kind: NegativeKind) -> Example:
    return replace(example, id=f"{example.id}-{kind}", context=context, answers=(), impossible=True)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from qa_core.data.squad import DataError, load_examples, write_squad
    from qa_core.flags import one_style

    parser = argparse.ArgumentParser(
        prog="python -m qa_core.data.negatives", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", required=True, help="SQuAD or homework JSON with answerable questions.")
    parser.add_argument(
        "--out", required=True, help="Where to write the questions and their negatives (SQuAD 2.0)."
    )
    parser.add_argument(
        "--share", type=float, default=1.0, help="Negatives per answerable question (0 to 1)."
    )
    parser.add_argument("--kinds", nargs="+", default=list(DEFAULT_KINDS), choices=get_args(NegativeKind))
    parser.add_argument("--seed", type=int, default=0)
    args = one_style(parser).parse_args(argv)
    try:
        examples = load_examples(args.data, bad_offsets="keep", drop_empty_questions=True)
    except DataError as error:
        parser.exit(2, f"error: {error}\n")
    made = make_negatives(examples, args.share, args.kinds, args.seed)
    write_squad([*examples, *(e for kind in args.kinds for e in made[kind])], args.out)
    counts = ", ".join(f"{len(made[kind])} {kind}" for kind in args.kinds)
    print(f"{args.out}: {len(examples)} questions and {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
