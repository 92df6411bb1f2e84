"""The answer check: how likely the best span is right, read from the forward pass the answer already made.

A span model always finds some span; whether to give it is a second, smaller question. Following the
calibrator of selective question answering (Kamath, Jia and Liang, ACL 2020), a logistic regression reads
a few numbers the engine already has (the null margin, the best span's start and end probabilities, the
gap to the runner-up, how spread the start and end scores are) and a few it computes from the text (how
much of the question the answer's sentence and the paragraph hold), and gives the probability that the
best span is right. The answer is "not in the paragraph" when that probability is under a threshold.

A checkpoint carries its check as ``answer_check.json`` beside ``config.json``; without that file the
engine answers exactly as before. NumPy only: no torch, no new dependency, and no model work here, so the
check costs a fraction of a millisecond beside the forward pass.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from qa_core.answering.records import Candidate, WindowTrace
from qa_core.answering.sentences import sentence_around
from qa_core.files import write_text_atomically

CHECK_FILE = "answer_check.json"  # beside config.json in a checkpoint folder
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT = re.compile(f"[{_CJK}]|[^\\W{_CJK}_]+")  # a CJK character, or a run of other letters and digits
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z][\w'-]*")
_WORDS_IGNORED = frozenset(
    "a an the of in on at to for by with from and or is are was were be been what which who whom whose "
    "when where why how did do does that this these those it its as".split()
)
_CAP = 30.0  # margins and gaps beyond this say nothing more; capping keeps one outlier from steering a fit


@dataclass(frozen=True)
class Evidence:
    """What the check reads of one forward pass: scores of the best span, its rivals and the null.

    Probabilities are within the winning window, over the tokens that may start (end) an answer and the
    first token, the distribution a model trained with unanswerable questions spreads its belief over.
    """

    span_score: float  # best span's start + end logits
    null_score: float  # first token's start + end logits, lowest over the windows
    runner_up: float | None  # the second best span's score; None when there is only one
    top_probability: float  # the best span's softmax probability over the n best
    start_log_probability: float
    end_log_probability: float
    start_entropy: float  # nats, of the start distribution in the winning window
    end_entropy: float
    start: int  # the best span's paragraph characters, end exclusive
    end: int
    windows: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(
                f"the span's characters must satisfy 0 <= start <= end, got {self.start}, {self.end}."
            )


FEATURES = (
    "null_margin",
    "span_score",
    "null_score",
    "gap_to_runner_up",
    "top_probability",
    "start_log_probability",
    "end_log_probability",
    "start_entropy",
    "end_entropy",
    "answer_length",
    "windows",
    "question_length",
    "question_in_sentence",
    "question_in_paragraph",
    "question_pairs_in_paragraph",
    "answer_in_question",
    "numbers_missing",
    "names_missing",
    "chinese",
)


def gather_evidence(traces: Sequence[WindowTrace], n_best: Sequence[Candidate]) -> Evidence:
    """The evidence of one answer from its windows' traces and its n best spans (``n_best`` not empty).

    Scores are read back from the windows' logits, so they are start + end logits whichever way the
    windows were compared (``window_scores``).
    """
    best, window = n_best[0], traces[n_best[0].window]
    start = _log_softmax(window.start_logits, window.allowed_starts)
    end = _log_softmax(window.end_logits, window.allowed_ends)
    nulls = [float(t.start_logits[0] + t.end_logits[0]) for t in traces]
    return Evidence(
        span_score=_logits(traces, best),
        null_score=min(nulls),
        runner_up=_logits(traces, n_best[1]) if len(n_best) > 1 else None,
        top_probability=best.probability,
        start_log_probability=float(start[best.start_token]),
        end_log_probability=float(end[best.end_token]),
        start_entropy=_entropy(start),
        end_entropy=_entropy(end),
        start=best.start,
        end=best.end,
        windows=len(traces),
    )


def _logits(traces: Sequence[WindowTrace], span: Candidate) -> float:
    window = traces[span.window]
    return float(window.start_logits[span.start_token] + window.end_logits[span.end_token])


def _log_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(L,) log-probabilities over the allowed tokens and the first token; -inf elsewhere."""
    keep = allowed.copy()
    keep[0] = True
    shown = np.where(keep, logits.astype(np.float64), -np.inf)
    return shown - np.logaddexp.reduce(shown[keep])


def _entropy(log_probability: np.ndarray) -> float:
    finite = log_probability[np.isfinite(log_probability)]
    return float(-(np.exp(finite) * finite).sum())


def units(text: str) -> list[str]:
    """Words to compare texts by: CJK characters one by one, other words lower-cased, function words left out."""
    return [u for u in _UNIT.findall(text.lower()) if u not in _WORDS_IGNORED]


def features(evidence: Evidence, question: str, context: str) -> dict[str, float]:
    """Every feature the check can use, by name (``FEATURES``): a fitted check picks its own from these."""
    asked, answer = units(question), units(context[evidence.start : evidence.end])
    sentence, paragraph = set(units(sentence_around(context, evidence.start, evidence.end))), units(context)
    runner_up = evidence.runner_up
    return {
        "null_margin": _capped(evidence.null_score - evidence.span_score),
        "span_score": evidence.span_score,
        "null_score": evidence.null_score,
        "gap_to_runner_up": _CAP if runner_up is None else _capped(evidence.span_score - runner_up),
        "top_probability": evidence.top_probability,
        "start_log_probability": max(evidence.start_log_probability, -_CAP),
        "end_log_probability": max(evidence.end_log_probability, -_CAP),
        "start_entropy": evidence.start_entropy,
        "end_entropy": evidence.end_entropy,
        "answer_length": math.log1p(evidence.end - evidence.start),
        "windows": math.log(max(evidence.windows, 1)),
        "question_length": math.log1p(len(question)),
        "question_in_sentence": _share_in(asked, sentence),
        "question_in_paragraph": _share_in(asked, set(paragraph)),
        "question_pairs_in_paragraph": _share_in(_pairs(asked), set(_pairs(paragraph))),
        "answer_in_question": _share_in(answer, set(asked)),
        "numbers_missing": _missing(_NUMBER.findall(question), context),
        "names_missing": _missing(
            _NAME.findall(question)[1:], context
        ),  # the first word is capitalised anyway
        "chinese": float(bool(re.search(f"[{_CJK}]", question))),
    }


def _capped(value: float) -> float:
    return max(-_CAP, min(_CAP, value))


def _share_in(items: Sequence[str], pool: set[str]) -> float:
    """The share of ``items`` found in ``pool``; 1 when there are none (nothing is missing)."""
    return sum(item in pool for item in items) / len(items) if items else 1.0


def _pairs(items: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(items)]


def _missing(strings: Sequence[str], context: str) -> float:
    """The share of ``strings`` (the question's numbers or names) that the paragraph never writes."""
    return sum(s not in context for s in strings) / len(strings) if strings else 0.0


@dataclass(frozen=True)
class AnswerCheck:
    """A fitted check: standardised features, logistic-regression weights, and the default threshold.

    ``about`` records where it came from (training files and counts, the label rule), for the model card.
    """

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float  # answer only when the probability is at least this
    about: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [f"unknown feature {name!r}" for name in self.features if name not in FEATURES]
        n = len(self.features)
        if not len(self.means) == len(self.scales) == len(self.weights) == n:
            problems.append(f"means, scales and weights need one number per feature ({n})")
        if any(s <= 0 for s in self.scales):
            problems.append("every scale must be above 0")
        if not 0 <= self.threshold <= 1:
            problems.append(f"the threshold is a probability from 0 to 1, got {self.threshold}")
        if problems:
            raise ValueError(
                f"Answer check: {'; '.join(problems)}. Fit it again with python -m qa_core.train.answer_check fit."
            )

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """(n,) probability that each best span is right, from (n, features) raw feature values."""
        z = (rows - np.asarray(self.means)) / np.asarray(self.scales)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def probability(self, values: Mapping[str, float]) -> float:
        """The probability that one best span is right, from its features by name."""
        return float(self.probabilities(np.array([[values[name] for name in self.features]]))[0])

    def save(self, folder: str | Path) -> Path:
        record = {**asdict(self), "about": dict(self.about)}
        return write_text_atomically(
            Path(folder) / CHECK_FILE, json.dumps(record, ensure_ascii=False, indent=1) + "\n"
        )


def load_check(folder: str | Path) -> AnswerCheck | None:
    """The check stored in a checkpoint folder, or None when it has none (then nothing changes)."""
    path = Path(folder) / CHECK_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return AnswerCheck(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(
            f"{path} is not a readable answer check ({error}); fit it again or remove the file."
        ) from None


def unsure(probability: float | None, threshold: float) -> bool:
    """The check's rule: no span at all (``probability`` None), or a probability under the threshold."""
    return probability is None or probability < threshold
