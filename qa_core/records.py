"""The records that flow through answering: windows, spans, the answer and its trace.

The trace keeps everything the engine knew when it chose the answer (each token's role, the
max-context mask, why a token may not start or end an answer), so a figure reads it rather than
guessing. Only NumPy is needed here: drawing a trace needs neither torch nor transformers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from .settings import AnswerSettings, AttributionMethod

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
    no_answer: bool = (
        False  # null_margin above the threshold (or the check unsure): probably not in the paragraph
    )
    # The answer check's probability that the best span is right (``answer_check``); None without a check.
    p_correct: float | None = None


# ---------------------------------------------------------------- why this span


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
    steps: int  # integration steps (1 for gradient x input)

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


@dataclass(frozen=True)
class ContextualEmbeddings:
    """How similar one target string's vectors are across sentences, at the input embeddings and after every layer.

    ``similarity[k, i, j]`` is the cosine similarity of the target's vector in sentence i and in sentence j
    at layer k (0: the input embeddings, which already include position and segment embeddings). A
    target's vector is the mean over the tokens that cover its first occurrence in the sentence.
    """

    model: str
    target: str
    sentences: tuple[str, ...]
    labels: tuple[str, ...]  # the meaning group of each sentence; "" where the person gave none
    occurrences: tuple[Offset, ...]  # the target's character range in each sentence
    tokens: tuple[tuple[str, ...], ...]  # the tokens averaged into each sentence's vector
    similarity: np.ndarray  # (layers + 1, n, n)

    def __post_init__(self) -> None:
        n = len(self.sentences)
        if not len(self.labels) == len(self.occurrences) == len(self.tokens) == n:
            raise ValueError(f"labels, occurrences and tokens must have one entry per sentence ({n}).")
        if self.similarity.ndim != 3 or self.similarity.shape[1:] != (n, n):
            raise ValueError(f"similarity must be (layers + 1, {n}, {n}), got {self.similarity.shape}.")

    @property
    def key(self) -> str:
        """A short name for files of this result: the same input gives the same name."""
        text = repr((self.model, self.target, self.sentences, self.labels))
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

    def group_means(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(layers + 1,) mean similarity of pairs in the same group and of pairs in different groups.

        Only labelled sentences count, each pair once; None unless there is at least one pair of each kind.
        """
        labels = np.array(self.labels)
        pairs = np.triu(np.ones((len(labels), len(labels)), dtype=bool), k=1) & (labels != "")[:, None]
        pairs &= (labels != "")[None, :]
        same = labels[:, None] == labels[None, :]
        within, between = pairs & same, pairs & ~same
        if not within.any() or not between.any():
            return None
        return self.similarity[:, within].mean(axis=1), self.similarity[:, between].mean(axis=1)

    def separation(self) -> np.ndarray | None:
        """(layers + 1,) within-group minus between-group mean similarity: above 0 where meanings group."""
        means = self.group_means()
        return None if means is None else means[0] - means[1]


# ---------------------------------------------------------------- lecture: embedding arithmetic

Direction = Literal["English → Chinese", "Chinese → English"]
DIRECTIONS: tuple[Direction, ...] = ("English → Chinese", "Chinese → English")
TOP_K = 5  # the nearest words kept, and top-k accuracy
SHIFTS = ("baseline", "shifted")  # the raw vector; the vector plus the mean difference of the training pairs


@dataclass(frozen=True)
class WordArithmetic:
    """Whether one mean difference between the languages carries a word to its translation, at every layer.

    Each word is read alone; its vector is the mean over its tokens. On the training pairs the mean of
    (Chinese - English) is computed, and each held-out word, shifted by it (or not: the baseline), is
    compared by cosine similarity with every word of the other language in the list. Arrays are indexed
    (layer, direction as in ``DIRECTIONS``, shift as in ``SHIFTS``, held-out word, ...).
    """

    model: str
    chinese: tuple[str, ...]
    english: tuple[str, ...]  # english[i] translates chinese[i]
    left_out: tuple[str, ...]  # pairs not used because the vocabulary reads a word as unknown
    train: tuple[int, ...]
    held_out: tuple[int, ...]
    seed: int
    neighbours: np.ndarray  # (layers + 1, 2, 2, held, k) nearest words of the other language, by index
    rank: np.ndarray  # (layers + 1, 2, 2, held) 1-based rank of the true translation among all of them

    def __post_init__(self) -> None:
        n, held = len(self.chinese), len(self.held_out)
        problems = []
        if len(self.english) != n:
            problems.append(f"english must have one word per Chinese word ({n}).")
        if set(self.train) & set(self.held_out) or sorted(self.train + self.held_out) != list(range(n)):
            problems.append("train and held_out must split the pairs into two disjoint parts.")
        if self.rank.shape[1:] != (2, 2, held) or self.neighbours.shape[:-1] != self.rank.shape:
            problems.append(f"rank must be (layers + 1, 2, 2, {held}) and neighbours that plus (k,).")
        if problems:
            raise ValueError(" ".join(problems))

    @property
    def key(self) -> str:
        """A short name for files of this result: the same input gives the same name."""
        text = repr((self.model, self.chinese, self.english, self.seed))
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

    @property
    def layers(self) -> int:
        return self.rank.shape[0] - 1

    def accuracy(self, k: int) -> np.ndarray:
        """(layers + 1, 2, 2) share of held-out words whose translation is among the k nearest."""
        return (self.rank <= k).mean(axis=-1)


# ---------------------------------------------------------------- lecture: meaning across languages


@dataclass(frozen=True)
class WordProjection:
    """The word pairs' vectors at every layer, projected onto their own first two principal components.

    ``points[k]`` holds the Chinese words first, then their English translations in the same order, so
    point i and point n + i are a pair. ``explained[k]`` is the share of the variance each axis keeps.
    """

    model: str
    chinese: tuple[str, ...]
    english: tuple[str, ...]  # english[i] translates chinese[i]
    left_out: tuple[str, ...]  # pairs not used because the vocabulary reads a word as unknown
    points: np.ndarray  # (layers + 1, 2n, 2)
    explained: np.ndarray  # (layers + 1, 2)

    def __post_init__(self) -> None:
        n = len(self.chinese)
        if len(self.english) != n:
            raise ValueError(f"english must have one word per Chinese word ({n}).")
        if self.points.ndim != 3 or self.points.shape[1:] != (2 * n, 2):
            raise ValueError(f"points must be (layers + 1, {2 * n}, 2), got {self.points.shape}.")
        if self.explained.shape != (self.points.shape[0], 2):
            raise ValueError(f"explained must be ({self.points.shape[0]}, 2), got {self.explained.shape}.")

    @property
    def key(self) -> str:
        """A short name for files of this result: the same input gives the same name."""
        text = repr((self.model, self.chinese, self.english))
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

    @property
    def layers(self) -> int:
        return self.points.shape[0] - 1


@dataclass(frozen=True)
class SameQuestion:
    """One paragraph asked one question in two languages, each answer with its trace (for its span matrix)."""

    context: str
    questions: tuple[str, str]
    answers: tuple[Answer, Answer]

    @property
    def same_span(self) -> bool:
        first, second = self.answers
        return (first.start, first.end) == (second.start, second.end)

    @property
    def overlap(self) -> float:
        """Characters the two answers share, as a share of the longer one (1: the same span, 0: apart)."""
        first, second = self.answers
        shared = max(0, min(first.end, second.end) - max(first.start, second.start))
        longest = max(first.end - first.start, second.end - second.start)
        return shared / longest if longest else 0.0


# ---------------------------------------------------------------- lessons


@dataclass(frozen=True)
class RunScores:
    """EM and F1 in percent over ``n`` questions (the figures' copy of ``metrics.Scores``)."""

    exact_match: float
    f1: float
    n: int


@dataclass(frozen=True)
class CurvePoint:
    """A point of a learning curve: the training loss and, where it was measured, EM/F1 on the slice."""

    step: int
    windows_seen: int  # training windows seen by then: runs with different batch sizes compare on it
    loss: float | None
    scores: RunScores | None = None


@dataclass(frozen=True)
class PositionBin:
    """EM/F1 of the questions whose answer starts in one part of its inference window.

    ``low`` and ``high`` are shares of the window's paragraph tokens: 0 is its first, 1 its last.
    """

    low: float
    high: float
    scores: RunScores


@dataclass(frozen=True)
class ExperimentRun:
    """One training run of the reference experiments, as it was measured."""

    name: str
    about: str
    lessons: tuple[str, ...]
    command: str  # the training command that reproduces it
    seconds: float
    curve: tuple[CurvePoint, ...]
    final: RunScores
    by_position: tuple[PositionBin, ...]


@dataclass(frozen=True)
class RunCurve:
    """A learning curve to compare: a reference run or a model fine-tuned in the app."""

    name: str
    points: tuple[CurvePoint, ...]
    reference: bool = True


@dataclass(frozen=True)
class PostProcessingEffect:
    """One model answering the same questions with the homework's post-processing rules on and off."""

    run: str
    on: RunScores
    off: RunScores
    reversed: int  # answers whose best start came after their best end: empty text without the rules
    too_long: int  # answers longer than max_answer_length tokens without the rules
    changed: int  # answers whose text differs between the two


@dataclass(frozen=True)
class Experiments:
    """The reference experiments: how they were run and what they measured."""

    command: str
    machine: str
    created: str
    recipe: dict[str, object]
    runs: tuple[ExperimentRun, ...]
    post_processing: PostProcessingEffect | None

    def run(self, name: str) -> ExperimentRun | None:
        return next((r for r in self.runs if r.name == name), None)

    def runs_of(self, lesson: str) -> tuple[ExperimentRun, ...]:
        """The runs that are the sides of one lesson, in the plan's order."""
        return tuple(r for r in self.runs if lesson in r.lessons)


@dataclass(frozen=True)
class PlacedWindow:
    """One training window cut around an answer: paragraph tokens [first, end) and the characters they cover."""

    placement: str
    draw: int  # 0 for the centred window; 1, 2, ... for the random draws
    first: int
    end: int  # exclusive
    start_char: int
    end_char: int  # exclusive


@dataclass(frozen=True)
class PlacementDraws:
    """The windows training cuts for one question under each placement (the training code's own windows)."""

    question: str
    context: str
    answer_tokens: tuple[int, int]  # first and last paragraph token of the answer
    answer_chars: tuple[int, int]  # its characters, end exclusive
    paragraph_tokens: int
    room: int  # paragraph tokens a window holds beside this question
    windows: tuple[PlacedWindow, ...]


@dataclass(frozen=True)
class PlacementHistogram:
    """Where the answer starts inside its training window, over a whole file, for each placement.

    Positions are shares of the window's paragraph tokens (0: its first token, 1: its last);
    ``fits_one_window`` counts the questions whose paragraph is no longer than a window, where
    placement has nothing to choose.
    """

    max_length: int
    positions: dict[str, np.ndarray]  # placement -> (n,) positions
    fits_one_window: int
    questions: int
