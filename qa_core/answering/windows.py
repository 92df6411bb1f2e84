"""Cut a (question, paragraph) pair into the overlapping windows that BERT actually reads.

BERT reads at most ``max_length`` tokens, so a long paragraph is read as several windows, each
``[CLS] question [SEP] piece of paragraph [SEP]`` (or the model's own special tokens). The pair is
tokenised once; windows are slices of that one encoding, so every window shares the tokenizer's
character offsets and the same code builds inference windows and training windows.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from itertools import pairwise

from transformers import PreTrainedTokenizerBase

from qa_core.answering.records import Offset, TokenRole, Window
from qa_core.settings import Placement, WindowSettings


@dataclass(frozen=True)
class PairEncoding:
    """A question and its paragraph tokenised once, split into the parts every window repeats.

    A window is ``prefix + context[a:b] + suffix``: the prefix holds the special tokens and the
    question, the suffix the closing special token(s).
    """

    prefix_ids: tuple[int, ...]
    prefix_type_ids: tuple[int, ...]
    prefix_roles: tuple[TokenRole, ...]  # "special" or "question", from the tokenizer's sequence ids
    question_offsets: tuple[Offset, ...]  # character offsets into the question, one per kept question token
    context_ids: tuple[int, ...]
    context_type_ids: tuple[int, ...]
    context_offsets: tuple[Offset, ...]  # character offsets into the paragraph, one per context token
    suffix_ids: tuple[int, ...]
    suffix_type_ids: tuple[int, ...]
    question_tokens: int  # question tokens kept in the prefix
    question_truncated: bool

    def room_for_context(self, max_length: int) -> int:
        """Paragraph tokens that fit in one window next to the question and special tokens."""
        return max_length - len(self.prefix_ids) - len(self.suffix_ids)


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase,
    questions: list[str],
    contexts: list[str],
    max_question_length: int,
) -> list[PairEncoding]:
    """Tokenise many pairs in one call to the fast tokenizer and split each into window parts."""
    batch = tokenizer(
        questions,
        contexts,
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
        return_attention_mask=False,
        verbose=False,
    )
    return [
        _split_pair(batch, i, (questions[i], contexts[i]), max_question_length) for i in range(len(questions))
    ]


def _split_pair(batch, i: int, texts: tuple[str, str], max_question_length: int) -> PairEncoding:
    question_text, paragraph = texts
    ids = batch["input_ids"][i]
    type_ids = batch["token_type_ids"][i] if "token_type_ids" in batch else [0] * len(ids)
    offsets = batch["offset_mapping"][i]
    sequence_ids = batch.sequence_ids(i)
    context = [t for t, s in enumerate(sequence_ids) if s == 1]
    if not context:
        raise ValueError("The paragraph has no tokens: give a paragraph with some text in it.")
    first, last = context[0], context[-1]
    question = [t for t, s in enumerate(sequence_ids[:first]) if s == 0]
    kept, dropped = question[:max_question_length], set(question[max_question_length:])
    prefix = [t for t in range(first) if t not in dropped]
    return PairEncoding(
        prefix_ids=tuple(ids[t] for t in prefix),
        prefix_type_ids=tuple(type_ids[t] for t in prefix),
        prefix_roles=tuple("special" if sequence_ids[t] is None else "question" for t in prefix),
        question_offsets=_with_marks(_own_offsets([offsets[t] for t in kept]), question_text),
        context_ids=tuple(ids[first : last + 1]),
        context_type_ids=tuple(type_ids[first : last + 1]),
        context_offsets=_with_marks(_own_offsets(offsets[first : last + 1]), paragraph),
        suffix_ids=tuple(ids[last + 1 :]),
        suffix_type_ids=tuple(type_ids[last + 1 :]),
        question_tokens=len(kept),
        question_truncated=bool(dropped),
    )


def _own_offsets(offsets: list[Offset]) -> tuple[Offset, ...]:
    """The characters each token (of the paragraph or the question) stands for on its own.

    SentencePiece tokenizers report a lone "▁" (the word boundary before a piece that has no "▁"
    form) with the range of the *next* character, so "▁" would seem to be that character: an answer
    label would start on it and a predicted answer ending on it would take in the next word. A token
    that starts where the next token starts gets the empty range there: it covers no character.
    """
    spans = [(a, b) for a, b in offsets]
    own = [(a, a) if a == next_a else (a, b) for (a, b), (next_a, _) in pairwise(spans)]
    return tuple(own + spans[-1:])


def _joins_previous(char: str) -> bool:
    """Characters that belong to the character before them: combining accents, ZWJ, variation selectors, skin tones."""
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char in "\u200d\ufe0e\ufe0f"
        or ("\U0001f3fb" <= char <= "\U0001f3ff")
    )


def _with_marks(offsets: tuple[Offset, ...], text: str) -> tuple[Offset, ...]:
    """Extend each token over the marks that follow it and that no token covers.

    BERT's WordPiece drops combining accents ("cafe\u0301" is read as "cafe"), so without this an
    answer ending on that token would lose its accent; the same holds for emoji modifiers.
    """
    next_starts = [a for a, _ in offsets[1:]] + [len(text)] if offsets else []
    out = []
    for (a, b), limit in zip(offsets, next_starts, strict=True):
        while b < limit and b > a and _joins_previous(text[b]):
            b += 1
        out.append((a, b))
    return tuple(out)


def window_starts(n_tokens: int, room: int, doc_stride: int) -> list[int]:
    """Start of each window over ``n_tokens`` paragraph tokens; consecutive windows share ``doc_stride``.

    The last window ends exactly at the paragraph's end (it may be shorter than ``room``), so every
    token is read at least once and every overlap is exactly ``doc_stride`` tokens.
    """
    if room <= doc_stride:
        raise ValueError(
            f"doc_stride ({doc_stride}) must be smaller than the paragraph tokens that fit in one window "
            f"({room} with this question and max_length): lower doc_stride or raise max_length."
        )
    starts = [0]
    while starts[-1] + room < n_tokens:
        starts.append(starts[-1] + room - doc_stride)
    return starts


def build_window(
    encoding: PairEncoding, index: int, doc_start: int, doc_end: int, *, pad_id: int, length: int = 0
) -> Window:
    """Assemble ``prefix + context[doc_start:doc_end] + suffix``, padded with mask 0 up to ``length``.

    ``length`` 0 (training) leaves the window unpadded: the batch collator pads it.
    """
    ids = encoding.prefix_ids + encoding.context_ids[doc_start:doc_end] + encoding.suffix_ids
    type_ids = (
        encoding.prefix_type_ids + encoding.context_type_ids[doc_start:doc_end] + encoding.suffix_type_ids
    )
    n_prefix, n_context, n_pad = len(encoding.prefix_ids), doc_end - doc_start, max(0, length - len(ids))
    n_suffix = len(encoding.suffix_ids)
    offsets = (None,) * n_prefix + encoding.context_offsets[doc_start:doc_end] + (None,) * (n_suffix + n_pad)
    roles: tuple[TokenRole, ...] = (
        encoding.prefix_roles + ("paragraph",) * n_context + ("special",) * n_suffix + ("padding",) * n_pad
    )
    return Window(
        index=index,
        input_ids=ids + (pad_id,) * n_pad,
        token_type_ids=type_ids + (0,) * n_pad,
        attention_mask=(1,) * len(ids) + (0,) * n_pad,
        offsets=offsets,
        roles=roles,
        context_start=n_prefix,
        doc_start=doc_start,
        doc_end=doc_start + n_context,
    )


def make_windows(encoding: PairEncoding, settings: WindowSettings, pad_id: int) -> list[Window]:
    """All windows of one pair, padded to the longest of them (padding has attention_mask 0)."""
    room = encoding.room_for_context(settings.max_length)
    n = len(encoding.context_ids)
    spans = [(s, min(s + room, n)) for s in window_starts(n, room, settings.doc_stride)]
    length = len(encoding.prefix_ids) + len(encoding.suffix_ids) + max(b - a for a, b in spans)
    return [build_window(encoding, i, a, b, pad_id=pad_id, length=length) for i, (a, b) in enumerate(spans)]


def answer_window(
    encoding: PairEncoding,
    answer_tokens: tuple[int, int],
    max_length: int,
    placement: Placement,
    rng: random.Random,
) -> tuple[int, int]:
    """Paragraph token range of a training window that contains the answer.

    ``random`` puts the answer anywhere inside the window, so the model cannot learn that answers
    sit in the middle (they do not, at inference); ``centre`` reproduces the homework's sample code.
    """
    room = encoding.room_for_context(max_length)
    n = len(encoding.context_ids)
    first, last = answer_tokens
    lowest, highest = max(0, last - room + 1), max(0, min(first, n - room))
    if lowest > highest:  # answer longer than a window: start at the answer
        return first, min(first + room, n)
    start = rng.randint(lowest, highest) if placement == "random" else (first + last + 1 - room) // 2
    start = min(max(start, lowest), highest)
    return start, min(start + room, n)


def char_span_to_tokens(
    offsets: tuple[Offset, ...], start_char: int, end_char: int
) -> tuple[int, int] | None:
    """First and last paragraph token overlapping ``[start_char, end_char)``; None if no token does."""
    hits = [t for t, (a, b) in enumerate(offsets) if a < end_char and b > start_char and b > a]
    return (hits[0], hits[-1]) if hits else None


def max_context_mask(windows: list[Window]) -> list[tuple[bool, ...]]:
    """For each window, whether each of its tokens is judged there (google-research/bert's max-context rule).

    Where windows overlap, a token near one window's edge sees little text on that side, so its
    start/end score there is less trustworthy. run_squad.py scores a token's context in a window
    as ``min(tokens to its left, tokens to its right) + 0.01 * window length`` and lets a token
    start an answer only in the window where that score is highest.
    """
    best: dict[int, tuple[float, int]] = {}
    for w in windows:
        for p in range(w.doc_start, w.doc_end):
            score = min(p - w.doc_start, w.doc_end - 1 - p) + 0.01 * (w.doc_end - w.doc_start)
            if p not in best or score > best[p][0]:
                best[p] = (score, w.index)
    return [
        tuple(o is not None and best[w.doc_position(t)][1] == w.index for t, o in enumerate(w.offsets))
        for w in windows
    ]
