"""The homework's window-placement lesson, computed with the training code's own window maker.

Training cuts one window around each answer (``train.dataset``). Centred, as in the homework's
sample code, the answer always sits in the middle of its window; random, it sits anywhere, as it
does at inference. These records show both for one question and over a whole file.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from qa_core.answering.placement import LabelledPair, label_pairs
from qa_core.answering.windows import answer_window
from qa_core.data.squad import Example
from qa_core.explaining.lessons_records import PlacedWindow, PlacementDraws, PlacementHistogram
from qa_core.settings import Placement, WindowSettings, choices

MAX_DRAWS = 12


def _pairs(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int
) -> list[LabelledPair]:
    """Answerable examples labelled exactly as training labels them (questions cut to at most half the window)."""
    limit = WindowSettings(max_length=max_length).question_limit
    pairs = label_pairs(tokenizer, [e for e in examples if not e.impossible], limit)
    return [p for p in pairs if p.answer_tokens is not None]  # an unanswerable question has nothing to place


def _placed(pair: LabelledPair, max_length: int, placement: Placement, rng: random.Random) -> tuple[int, int]:
    return answer_window(pair.encoding, pair.answer_tokens, max_length, placement, rng)


def placement_draws(
    tokenizer: PreTrainedTokenizerBase, example: Example, max_length: int, draws: int = 5, seed: int = 0
) -> PlacementDraws:
    """The centred window and ``draws`` random ones of one training question."""
    if not 1 <= draws <= MAX_DRAWS:
        raise ValueError(f"draws must be 1 to {MAX_DRAWS}, got {draws}.")
    if not example.answers:
        raise ValueError("This question has no gold answer, so there is nothing to place.")
    pairs = _pairs(tokenizer, [example], max_length)
    if not pairs:
        raise ValueError("The answer of this question covers no token of its paragraph.")
    pair, rng = pairs[0], random.Random(seed)
    offsets = pair.encoding.context_offsets
    cuts = [("centre", 0, _placed(pair, max_length, "centre", rng))]
    cuts += [("random", d, _placed(pair, max_length, "random", rng)) for d in range(1, draws + 1)]
    first, last = pair.answer_tokens
    return PlacementDraws(
        question=example.question,
        context=example.context,
        answer_tokens=(first, last),
        answer_chars=(offsets[first][0], offsets[last][1]),
        paragraph_tokens=len(offsets),
        room=pair.encoding.room_for_context(max_length),
        windows=tuple(
            PlacedWindow(placement, draw, a, b, offsets[a][0], offsets[b - 1][1])
            for placement, draw, (a, b) in cuts
        ),
    )


def placement_histogram(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int, seed: int = 0
) -> PlacementHistogram:
    """Where each answer starts in its training window, under every placement, over all ``examples``."""
    pairs = _pairs(tokenizer, examples, max_length)
    positions = {}
    for placement in choices(Placement):
        rng = random.Random(seed)
        starts = [_placed(p, max_length, placement, rng)[0] for p in pairs]
        positions[placement] = np.array(
            [
                (p.answer_tokens[0] - a) / max(1, p.encoding.room_for_context(max_length) - 1)
                for p, a in zip(pairs, starts, strict=True)
            ]
        )
    fits = sum(len(p.encoding.context_ids) <= p.encoding.room_for_context(max_length) for p in pairs)
    return PlacementHistogram(max_length, positions, fits, len(pairs))
