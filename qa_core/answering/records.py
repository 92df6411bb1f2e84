"""The records that flow through answering: windows, spans, the answer and its trace.

The trace keeps everything the engine knew when it chose the answer (each token's role, the
max-context mask, why a token may not start or end an answer), so a figure reads it rather than
guessing. Only NumPy is needed here: drawing a trace needs neither torch nor transformers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from qa_core.settings import AnswerSettings

Offset = tuple[int, int]
TokenRole = Literal["special", "question", "paragraph", "padding"]
# Why a token may not start (or end) an answer; None where it may.
Block = Literal["not paragraph", "no visible text", "max context"]


@dataclass(frozen=True)
class Window:
    """One model input. ``offsets[i]`` is the paragraph character range of token i, None elsewhere."""

    index: int
    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    attention_mask: tuple[int, ...]
    offsets: tuple[Offset | None, ...]
    roles: tuple[TokenRole, ...]  # from the tokenizer's sequence ids, padding included
    context_start: int  # position of the first paragraph token inside the window
    doc_start: int  # index of the first paragraph token in the whole paragraph's tokens
    doc_end: int  # one past the last paragraph token

    @property
    def char_start(self) -> int:
        """First paragraph character this window covers."""
        return self.offsets[self.context_start][0]

    @property
    def char_end(self) -> int:
        """One past the last paragraph character this window covers."""
        return self.offsets[self.context_end - 1][1]

    @property
    def context_end(self) -> int:
        """Position one past the last paragraph token inside the window."""
        return self.context_start + self.doc_end - self.doc_start

    def doc_position(self, token: int) -> int:
        """Index in the whole paragraph's tokens of window token ``token`` (a paragraph token)."""
        return self.doc_start + token - self.context_start


@dataclass(frozen=True)
class Span:
    """A candidate answer: token positions inside one window and the paragraph characters they cover."""

    window: int
    start_token: int
    end_token: int  # inclusive
    start_char: int
    end_char: int  # exclusive
    start_logit: float
    end_logit: float
    normaliser: float = 0.0  # the window's log-partition when windows are compared by probabilities

    @property
    def score(self) -> float:
        """BERT's span score: start logit + end logit, a log-probability up to the window's normaliser.

        With the default normaliser 0 the raw scores of all windows are compared (BERT's run_squad).
        With ``window_scores="softmax"`` it is ``log p_start + log p_end`` within its own window (the
        transformers pipeline), where a window without the answer can look confident only because its
        probabilities must sum to one.
        """
        return self.start_logit + self.end_logit - self.normaliser


@dataclass(frozen=True)
class Candidate:
    """One of the n-best answers, cut from the paragraph by character offsets."""

    text: str
    start: int
    end: int  # exclusive: context[start:end] == text
    score: float
    probability: float
    window: int
    start_token: int
    end_token: int


@dataclass(frozen=True)
class WindowTrace:
    """What the model saw and said for one window. Arrays have one entry per window token."""

    window: Window
    tokens: tuple[str, ...]
    start_logits: np.ndarray  # (L,)
    end_logits: np.ndarray  # (L,)
    start_blocks: tuple[Block | None, ...]  # why each token may not start an answer; None: it may
    end_blocks: tuple[Block | None, ...]
    max_context: tuple[bool, ...] | None  # each token is judged in this window; None: the rule was off
    candidates: tuple[Span, ...]  # the valid spans among the window's top-k starts x top-k ends

    @property
    def best(self) -> Span | None:
        """This window's best valid span (the first of equals, as in the n-best ranking)."""
        return max(self.candidates, key=lambda s: s.score, default=None)

    @cached_property
    def allowed_starts(self) -> np.ndarray:
        """(L,) bool: tokens that may start an answer here."""
        return np.array([b is None for b in self.start_blocks], dtype=bool)

    @cached_property
    def allowed_ends(self) -> np.ndarray:
        """(L,) bool: tokens that may end an answer."""
        return np.array([b is None for b in self.end_blocks], dtype=bool)


@dataclass(frozen=True)
class NullDecision:
    """Whether the answer is probably not in the paragraph: BERT's rule for SQuAD 2.0.

    A model trained with unanswerable questions points both its start and its end at the first token
    ([CLS] / <s>) when the window holds no answer. The question's null score is the lowest such score
    over its windows (the reference code's choice: a question is unanswerable only if no window finds
    its answer), and the answer is "not in the paragraph" when it beats the best span by more than
    the threshold.
    """

    null_score: float  # the first token's start + end logits, lowest over the windows
    null_window: int  # the window it comes from
    span_score: float | None  # the best span's start + end logits; None when no span is valid
    threshold: float | None  # the checkpoint's or the request's; None: no decision is made

    @property
    def margin(self) -> float | None:
        """Null score minus best span score: above the threshold means "no answer"."""
        return None if self.span_score is None else self.null_score - self.span_score

    @property
    def no_answer(self) -> bool:
        return judged_unanswerable(self.margin, self.threshold)


def judged_unanswerable(margin: float | None, threshold: float | None) -> bool:
    """The null rule: no threshold decides nothing; otherwise a margin above it, or no valid span at all
    (``margin`` None), means "not in the paragraph". One place, for the engine and for a re-decided file."""
    return threshold is not None and (margin is None or margin > threshold)


@dataclass(frozen=True)
class Trace:
    """The whole computation of one answer, for teaching views."""

    question: str
    context: str
    settings: AnswerSettings
    question_tokens: int
    question_truncated: bool
    question_offsets: tuple[Offset, ...]  # characters of the question each kept question token covers
    paragraph_tokens: int
    windows: tuple[WindowTrace, ...]
    winning_window: int | None
    span_matrix: np.ndarray  # (L, L) start+end scores of the winning window, NaN where impossible
    null: NullDecision | None = None


@dataclass(frozen=True)
class Answer:
    """The engine's result. ``context[start:end] == text`` always (``end`` is exclusive)."""

    text: str
    start: int
    end: int
    score: float
    probability: float
    n_best: tuple[Candidate, ...]
    question_truncated: bool
    trace: Trace | None = field(default=None, repr=False)
    # The question's null score minus the best span's score (``NullDecision``), for every checkpoint; it
    # decides only for one trained with unanswerable questions, or with a threshold given.
    null_margin: float | None = None
    no_answer: bool = False  # null_margin above the threshold (or the check unsure): probably not in the paragraph
    # The answer check's probability that the best span is right (``answer_check``); None without a check.
    p_correct: float | None = None


# ---------------------------------------------------------------- why this span
