"""Sentences of a paragraph, one definition for every part that cuts or reads them (negatives, the answer check).

A sentence ends after Chinese or English end marks (and the closing quotes that follow them), after "."
followed by white space (not in 3.5 or example.com), or at a newline; the white space after the end
belongs to the sentence, so removing one leaves the others as they were.
"""

from __future__ import annotations

import re
from itertools import pairwise

_SENTENCE_END = re.compile(r"(?:[。！？!?]+[」』”’\"'）)]*|\.(?=\s)|\n)\s*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges ``[start, end)`` of the sentences of ``text``; together they are the whole text."""
    cuts = sorted({0, len(text), *(m.end() for m in _SENTENCE_END.finditer(text))})
    return list(pairwise(cuts))


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence (or the run of sentences) of ``text`` that holds characters ``[start, end)``."""
    spans = sentence_spans(text)
    first = next((a for a, b in spans if a <= start < b), start)
    last = next((b for a, b in spans if a < max(end, start + 1) <= b), len(text))
    return text[first:last]
