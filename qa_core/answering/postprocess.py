"""From start/end scores to answer spans, in small pure NumPy steps.

candidate spans of each window -> merge the windows -> pick the best. A span is only ever a pair
of token positions plus the paragraph characters they cover; its text is always cut from the
paragraph by those character offsets, never rebuilt from tokens.
"""

from __future__ import annotations

import numpy as np

from qa_core.answering.records import Block, NullDecision, Span, Window
from qa_core.settings import SpanRules


def end_blocks(window: Window, context: str) -> tuple[Block | None, ...]:
    """Why each token may not end an answer; None for the paragraph tokens covering visible text.

    Excludes the question, special and padding tokens (offset None) and tokens that cover no
    character or only white space (a lone SentencePiece "▁"), so an answer never ends in the middle
    of nothing or takes in trailing white space.
    """
    return tuple(_block(o, context, o and o[1]) for o in window.offsets)


def start_blocks(
    window: Window, context: str, max_context: tuple[bool, ...] | None = None
) -> tuple[Block | None, ...]:
    """Why each token may not start an answer: as for ends, but a lone "▁" before visible text may start.

    SentencePiece writes " 1985" as "▁" + "1985", and the model often puts its start score on the
    "▁". That token covers no character, so a span starting there begins where the next token begins:
    the same answer text, with the evidence the model gave. (The transformers pipeline reads such a
    token as the next character and so allows it too.) With ``max_context`` (google-research/bert's
    rule, see ``windows.max_context_mask``) a token shared with another window starts only where it
    has the most context.
    """
    blocks = [_block(o, context, o and max(o[1], o[0] + 1)) for o in window.offsets]
    if max_context is not None:
        blocks = [b if b or judged else "max context" for b, judged in zip(blocks, max_context, strict=True)]
    return tuple(blocks)


def _block(offset: tuple[int, int] | None, context: str, visible_end: int | None) -> Block | None:
    if offset is None:
        return "not paragraph"
    return None if context[offset[0] : visible_end].strip() else "no visible text"


def unblocked(blocks: tuple[Block | None, ...]) -> np.ndarray:
    """(L,) bool: the tokens nothing blocks."""
    return np.array([b is None for b in blocks], dtype=bool)


def window_spans(
    window: Window,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    allowed_starts: np.ndarray,
    allowed_ends: np.ndarray,
    rules: SpanRules,
) -> list[Span]:
    """Valid spans among the window's top-k starts x top-k ends.

    Never start > end (the homework's post-processing lesson), never longer than
    ``max_answer_length`` tokens, never outside ``allowed_*``. Without ``rules.post_processing`` the
    first two rules are off, to measure what they are worth: a reversed span covers no text.
    """
    starts = _top_k(start_logits, allowed_starts, rules.top_k)
    ends = _top_k(end_logits, allowed_ends, rules.top_k)
    normaliser = (
        window_normaliser(window, start_logits, end_logits) if rules.window_scores == "softmax" else 0.0
    )
    return [
        Span(
            window=window.index,
            start_token=int(s),
            end_token=int(e),
            start_char=window.offsets[s][0],
            end_char=window.offsets[e][1],
            start_logit=float(start_logits[s]),
            end_logit=float(end_logits[e]),
            normaliser=normaliser,
        )
        for s in starts
        for e in ends
        if not rules.post_processing or s <= e < s + rules.max_answer_length
    ]


def window_normaliser(window: Window, start_logits: np.ndarray, end_logits: np.ndarray) -> float:
    """``log Σ exp`` of the start and of the end logits over the window's paragraph tokens and its first token.

    Subtracted from a span's score, it turns start + end logits into ``log p_start + log p_end`` of a
    softmax within the window; like the transformers pipeline, the first token ([CLS]) takes part.
    """
    keep = np.array([o is not None for o in window.offsets], dtype=bool)
    keep[0] = True
    return float(np.logaddexp.reduce(start_logits[keep]) + np.logaddexp.reduce(end_logits[keep]))


def _top_k(logits: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest allowed logits, best first."""
    positions = np.flatnonzero(allowed)
    return positions[np.argsort(-logits[positions], kind="stable")[:k]]


def best_spans(spans: list[Span], n_best: int) -> list[Span]:
    """The n best spans over all windows; a paragraph range seen by two windows counts once (its best)."""
    seen: set[tuple[int, int]] = set()
    best = []
    for span in sorted(spans, key=lambda s: -s.score):
        if (span.start_char, span.end_char) not in seen:
            seen.add((span.start_char, span.end_char))
            best.append(span)
            if len(best) == n_best:
                break
    return best


def probabilities(spans: list[Span]) -> np.ndarray:
    """Softmax of the span scores over the n-best list (stable: max subtracted first)."""
    if not spans:
        return np.zeros(0)
    scores = np.array([s.score for s in spans])
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()


def span_score_matrix(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    allowed_starts: np.ndarray,
    allowed_ends: np.ndarray,
    max_answer_length: int,
) -> np.ndarray:
    """``matrix[s, e] = start_logits[s] + end_logits[e]``, NaN where (s, e) can never be an answer.

    Impossible cells: end before start, longer than ``max_answer_length``, or a start/end that is
    not an allowed paragraph token. Shape (L, L) for a window of L tokens.
    """
    n = len(start_logits)
    s, e = np.arange(n)[:, None], np.arange(n)[None, :]
    valid = (e >= s) & (e < s + max_answer_length) & allowed_starts[:, None] & allowed_ends[None, :]
    return np.where(valid, start_logits[:, None] + end_logits[None, :], np.nan)


def null_decision(
    first_scores: list[tuple[float, float]], best: Span | None, threshold: float | None
) -> NullDecision:
    """The question's null score from each window's first-token (start, end) scores, against the best span."""
    nulls = [start + end for start, end in first_scores]
    window = int(np.argmin(nulls))
    span_score = None if best is None else best.start_logit + best.end_logit
    return NullDecision(float(nulls[window]), window, span_score, threshold)
