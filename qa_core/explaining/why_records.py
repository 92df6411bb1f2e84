"""The records of the "why this span" views: the logit lens, attributions and attention.

NumPy only, so the figures that draw them need no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa_core.answering.records import Span, TokenRole
from qa_core.settings import AttributionMethod


@dataclass(frozen=True)
class LayerLens:
    """The QA output layer applied to the hidden states of every layer of one window.

    Row 0 reads the embeddings, row i the output of layer i; the last row is the model's own logits.
    """

    window: int
    tokens: tuple[str, ...]
    roles: tuple[TokenRole, ...]
    start: np.ndarray  # (layers + 1, L)
    end: np.ndarray  # (layers + 1, L)
    best: tuple[Span | None, ...]  # the best valid span at each layer, by the answer's own rules


@dataclass(frozen=True)
class Attribution:
    """How much each token of a window contributes to log p(start) + log p(end) of one span."""

    window: int
    start_token: int
    end_token: int
    text: str
    method: AttributionMethod
    tokens: tuple[str, ...]
    roles: tuple[TokenRole, ...]
    scores: np.ndarray  # (L,) one contribution per token, summed over the embedding dimensions
    target: float  # log p(start) + log p(end) at the input
    baseline_target: float | None  # the same at the integrated-gradients baseline; None for gradient x input
    steps: int  # integration steps taken (1 for gradient x input)
    asked_steps: int  # steps asked for: more than ``steps`` where a server's time bound cut them
    seconds: float  # how long the attribution took, for the estimate of the next one

    @property
    def completeness_gap(self) -> float | None:
        """|Σ scores - (f(input) - f(baseline))| relative to the difference: integrated gradients' own check."""
        if self.baseline_target is None:
            return None
        difference = self.target - self.baseline_target
        return abs(float(self.scores.sum()) - difference) / max(abs(difference), 1e-9)


@dataclass(frozen=True)
class AttentionMap:
    """How much the answer tokens (and the first token) attend to every token of one window, per layer and head."""

    window: int
    tokens: tuple[str, ...]
    roles: tuple[TokenRole, ...]
    answer_tokens: tuple[int, int]  # first and last window position of the span (inclusive)
    from_answer: np.ndarray  # (layers, heads, L): the answer tokens' attention rows, averaged
    from_first: np.ndarray  # (layers, heads, L): the first token's ([CLS] / <s>) attention row

    def share(self, role: TokenRole, source: Literal["answer", "first"] = "answer") -> np.ndarray:
        """(layers, heads): the attention that goes to tokens of one role."""
        rows = self.from_answer if source == "answer" else self.from_first
        keep = np.array([r == role for r in self.roles], dtype=bool)
        return rows[:, :, keep].sum(axis=-1)

    def most_on_question(self) -> tuple[int, int]:
        """(layer, head), counted from 0, whose answer rows give the question the largest share: the head a
        student should see first, rather than one spike of a 384-position axis."""
        layer, head = np.unravel_index(int(self.share("question").argmax()), self.from_answer.shape[:2])
        return int(layer), int(head)


@dataclass(frozen=True)
class Explanation:
    """Everything the "why this span" views draw for one span: lens and attention of its window, and attributions.

    ``attribution`` is None where the model gives no gradients (int8); ``contrast`` is the attribution of a
    second span when one was asked for. ``key`` names the explanation (question, settings, spans), for files.
    """

    key: str
    span: tuple[int, int, int]  # window, start token, end token (0-based, end inclusive)
    lens: LayerLens
    attention: AttentionMap
    attribution: Attribution | None
    contrast: Attribution | None


# ---------------------------------------------------------------- lecture: contextual embeddings
