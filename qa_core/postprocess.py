"""From start/end scores to answer spans, in small pure NumPy steps.

candidate spans of each window -> merge the windows -> pick the best. A span is only ever a pair
of token positions plus the paragraph characters they cover; its text is always cut from the
paragraph by those character offsets, never rebuilt from tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .windows import Window

WINDOW_SCORES = ("logits", "softmax")


@dataclass(frozen=True)
class SpanRules:
    """Which spans may be an answer and how many to keep."""

    max_answer_length: int = 30  # in tokens
    top_k: int = 20  # best starts x best ends examined per window
    n_best: int = 10  # spans returned over all windows
    use_max_context: bool = True  # a start counts only in the window where it has most context
    window_scores: str = "logits"  # how spans of different windows compare: "logits" or "softmax"

    def __post_init__(self) -> None:
        for name in ("max_answer_length", "top_k", "n_best"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.window_scores not in WINDOW_SCORES:
            raise ValueError(
                f"window_scores must be one of {', '.join(WINDOW_SCORES)}, got {self.window_scores!r}."
            )


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


def answer_tokens(window: Window, context: str) -> np.ndarray:
    """Tokens that may end an answer: paragraph tokens covering visible text.

    Excludes the question, special and padding tokens (offset None) and tokens that cover no
    character or only white space (a lone SentencePiece "▁"), so an answer never ends in the middle
    of nothing or takes in trailing white space.
    """
    return np.array(
        [o is not None and context[o[0] : o[1]].strip() != "" for o in window.offsets], dtype=bool
    )


def start_tokens(window: Window, context: str) -> np.ndarray:
    """Tokens that may start an answer: the answer tokens, and a lone "▁" right before visible text.

    SentencePiece writes " 1985" as "▁" + "1985", and the model often puts its start score on the
    "▁". That token covers no character, so a span starting there begins where the next token begins:
    the same answer text, with the evidence the model gave. (The transformers pipeline reads such a
    token as the next character and so allows it too.)
    """
    return np.array(
        [o is not None and context[o[0] : max(o[1], o[0] + 1)].strip() != "" for o in window.offsets],
        dtype=bool,
    )


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
    ``max_answer_length`` tokens, never outside ``allowed_*``.
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
        if s <= e < s + rules.max_answer_length
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
