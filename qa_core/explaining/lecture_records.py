"""The records of the lecture's views: contextual embeddings, embedding arithmetic, the projection
and one question in two languages.

NumPy only, so the figures that draw them need no torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa_core.answering.records import Answer, Offset


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
