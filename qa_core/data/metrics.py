"""Score predicted answers the way published extractive-QA numbers are scored.

English follows the official SQuAD v1.1 script and Chinese the CMRC 2018 script, so a number printed here
can stand next to a paper's. The homework's strict accuracy is kept alongside because its leaderboard
thresholds were measured with it, and it is far harsher: a trailing full stop makes an answer wrong.

A file with unanswerable questions (SQuAD 2.0) is scored by the official v2.0 script's rules
(:func:`score_v2`): the empty prediction is the right answer to an unanswerable question and a wrong one
to any other, and the two kinds are reported apart, because a model that never abstains and one that
always does can reach the same overall F1. :func:`best_threshold` is that script's search for the null
threshold, and :func:`trade_off` the curve it picks a point on.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from qa_core.data.squad import Example

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_CHARACTER = re.compile(f"[{_CJK}]")
# CMRC 2018 reads each CJK character as a token and a run of other characters (a number, a Latin word) as one.
_CHINESE_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_SHOWN = 5
Metric = Literal["exact_match", "f1"]
_Row = tuple[float, float, float]  # one question's exact match, F1 (both 0-1) and strict accuracy
_EM, _F1, _STRICT = range(3)  # their places in a row


@dataclass(frozen=True)
class Scores:
    """Averages over ``n`` examples: exact match and F1 in percent, strict accuracy as a fraction 0-1.

    The units differ on purpose: papers quote EM/F1 in percent, the homework's thresholds are fractions.
    """

    exact_match: float
    f1: float
    accuracy: float
    n: int


def is_chinese(text: str) -> bool:
    """Whether ``text`` holds any CJK ideograph, which decides between the Chinese and English rules."""
    return _CJK_CHARACTER.search(text) is not None


@cache
def _is_chinese_punctuation(char: str) -> bool:
    """ASCII and Unicode punctuation (「」，。、《》“”…) and full-width ASCII symbols such as ～ and ＋."""
    return (
        char in _ASCII_PUNCTUATION
        or unicodedata.category(char).startswith("P")
        or unicodedata.normalize("NFKC", char) in _ASCII_PUNCTUATION
    )


def _normalize_english(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(char for char in text.lower() if char not in _ASCII_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _without_chinese_punctuation(text: str) -> str:
    return "".join(char for char in text.lower() if not _is_chinese_punctuation(char))


def _normalize_chinese(text: str) -> str:
    return "".join(_without_chinese_punctuation(text).split())


def _chinese_tokens(text: str) -> list[str]:
    return _CHINESE_TOKEN.findall(_without_chinese_punctuation(text))


def _bag_overlap(predicted: list[str], gold: list[str]) -> int:
    return sum((Counter(predicted) & Counter(gold)).values())


def _longest_common_run(predicted: list[str], gold: list[str]) -> int:
    """Length of the longest common *contiguous* run of tokens: CMRC 2018 scores this, not a bag overlap."""
    best = 0
    previous = [0] * (len(gold) + 1)
    for token in predicted:
        current = [0]
        for j, gold_token in enumerate(gold):
            current.append(previous[j] + 1 if token == gold_token else 0)
        best = max(best, *current)
        previous = current
    return best


@dataclass(frozen=True)
class _Rules:
    normalize: Callable[[str], str]
    tokens: Callable[[str], list[str]]
    overlap: Callable[[list[str], list[str]], int]


_ENGLISH = _Rules(_normalize_english, lambda text: _normalize_english(text).split(), _bag_overlap)
_CHINESE = _Rules(_normalize_chinese, _chinese_tokens, _longest_common_run)


def _rules(golds: Sequence[str], chinese: bool | None) -> _Rules:
    if isinstance(golds, str):
        raise TypeError("golds must be a sequence of answer strings, not one string; wrap it in a list.")
    if not golds:
        raise ValueError("there are no gold answers to compare with; give at least one.")
    if chinese is None:
        chinese = any(is_chinese(gold) for gold in golds)
    return _CHINESE if chinese else _ENGLISH


def exact_match(prediction: str, golds: Sequence[str], *, chinese: bool | None = None) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0.

    ``chinese=None`` picks the rules from the gold answers; :func:`score` also looks at the context.
    """
    rules = _rules(golds, chinese)
    return float(any(rules.normalize(prediction) == rules.normalize(gold) for gold in golds))


def f1(prediction: str, golds: Sequence[str], *, chinese: bool | None = None) -> float:
    """The best F1 (0 to 1) of the prediction's tokens against any gold answer's tokens.

    As in the official scripts, no overlap scores 0 even when both sides normalise to nothing.
    """
    rules = _rules(golds, chinese)
    predicted = rules.tokens(prediction)
    return max(_token_f1(predicted, rules.tokens(gold), rules.overlap) for gold in golds)


def _token_f1(predicted: list[str], gold: list[str], overlap: Callable[[list[str], list[str]], int]) -> float:
    common = overlap(predicted, gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def score(predictions: Mapping[str, str], examples: Sequence[Example]) -> Scores:
    """Score every example with one set of rules for the whole data set, as the official scripts do.

    Chinese (CMRC 2018) rules apply when most paragraphs hold CJK characters, English (SQuAD v1.1)
    rules otherwise: a SQuAD paragraph that quotes a Chinese name is still scored as English.
    Every example needs gold answers; a SQuAD 2.0 file with unanswerable questions goes to :func:`score_v2`.
    """
    _check_scorable(predictions, examples)
    chinese = _mostly_chinese(examples)
    return _average([_example_scores(predictions[example.id], example, chinese) for example in examples])


def _mostly_chinese(examples: Sequence[Example]) -> bool:
    return 2 * sum(is_chinese(example.context) for example in examples) > len(examples)


def _average(rows: Sequence[_Row]) -> Scores:
    em, f1_sum, correct = (sum(column) for column in zip(*rows, strict=True))
    n = len(rows)
    return Scores(exact_match=100 * em / n, f1=100 * f1_sum / n, accuracy=correct / n, n=n)


def _example_scores(prediction: str, example: Example, chinese: bool) -> _Row:
    golds = [answer.text for answer in example.answers]
    strict = float(prediction == golds[0])
    return exact_match(prediction, golds, chinese=chinese), f1(prediction, golds, chinese=chinese), strict


def _check_scorable(predictions: Mapping[str, str], examples: Sequence[Example], *, v2: bool = False) -> None:
    if not examples:
        raise ValueError("there is nothing to score: no examples were given.")
    unlabelled = [example.id for example in examples if not example.answers and not example.impossible]
    if unlabelled:
        raise ValueError(
            f"{len(unlabelled)} of {len(examples)} examples have no gold answers (ids {_some(unlabelled)}), "
            "so there is nothing to compare with; score a file with answers, not a test file without them."
        )
    impossible = [example.id for example in examples if example.impossible]
    if impossible and not v2:
        raise ValueError(
            f"{len(impossible)} of {len(examples)} examples are SQuAD 2.0 unanswerable questions (ids "
            f"{_some(impossible)}), which SQuAD v1.1 scoring cannot score; score them with score_v2."
        )
    _check_covered(
        "predictions",
        predictions,
        examples,
        "predict every example first, or score only the examples that were predicted",
    )


def _check_covered(what: str, by_id: Mapping[str, object], examples: Sequence[Example], fix: str) -> None:
    missing = [example.id for example in examples if example.id not in by_id]
    if missing:
        raise ValueError(
            f"{what} lack {len(missing)} of {len(examples)} example ids ({_some(missing)}); {fix}."
        )


def _some(ids: Sequence[str]) -> str:
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return ", ".join(repr(i) for i in ids[:_SHOWN]) + more


# --- SQuAD 2.0 -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoresV2:
    """The official v2.0 report: all questions, and apart those that have an answer and those that have none.

    A part is None when no question is of its kind, as the official script then leaves it out.
    """

    overall: Scores
    has_ans: Scores | None
    no_ans: Scores | None


def score_v2(predictions: Mapping[str, str], examples: Sequence[Example]) -> ScoresV2:
    """Score by the official SQuAD 2.0 rules: "" is right for an ``impossible`` question and wrong otherwise.

    An unanswerable question scores EM = F1 = 100 exactly when the prediction normalises to nothing (as
    in the official script, "the" or "." count as empty; strict accuracy wants ""). Answerable questions
    are scored as by :func:`score`, with the same choice of Chinese or English rules.
    """
    _check_scorable(predictions, examples, v2=True)
    chinese = _mostly_chinese(examples)
    rows = [_v2_scores(predictions[example.id], example, chinese) for example in examples]
    return ScoresV2(
        overall=_average(rows),
        has_ans=_part(rows, examples, impossible=False),
        no_ans=_part(rows, examples, impossible=True),
    )


def _v2_scores(prediction: str, example: Example, chinese: bool) -> _Row:
    if not example.impossible:
        return _example_scores(prediction, example, chinese)
    empty = float(not (_CHINESE if chinese else _ENGLISH).normalize(prediction))
    return empty, empty, float(prediction == "")


def _part(rows: Sequence[_Row], examples: Sequence[Example], *, impossible: bool) -> Scores | None:
    part = [row for row, example in zip(rows, examples, strict=True) if example.impossible == impossible]
    return _average(part) if part else None


@dataclass(frozen=True)
class BestThreshold:
    """The null threshold that scores best on a set of questions, and every score at it.

    Tuned on a file, it is optimistic on that same file: quote its scores only for the file it was tuned on.
    """

    threshold: float  # a question is answered "" when its null margin is above this
    metric: Metric  # the overall score it maximises
    scores: ScoresV2


@dataclass(frozen=True)
class TradeOffPoint:
    """One null threshold's point on the curve: answerable questions' F1 against unanswerable ones caught."""

    threshold: float
    has_ans_f1: float  # percent, over the answerable questions
    no_ans_accuracy: float  # fraction 0-1 of the unanswerable questions answered ""


@dataclass(frozen=True)
class _Choice:
    """One question's scores if answered with its best span and if answered "", placed by its margin."""

    margin: float
    impossible: bool
    answered: _Row
    abstained: _Row


_COLUMNS: dict[Metric, int] = {"exact_match": _EM, "f1": _F1}
# Running totals add and subtract scores, so equal totals can differ in the last bits; a threshold must
# beat the best so far by more than that to replace it, as the official script's exact sums would.
_NOISE = 1e-9


def best_threshold(
    best_spans: Mapping[str, str],
    margins: Mapping[str, float],
    examples: Sequence[Example],
    metric: Metric = "f1",
) -> BestThreshold:
    """The null threshold that maximises the overall ``metric``: the official v2.0 ``find_best_thresh``.

    ``best_spans`` are the predictions made without a null decision (each question's best span) and
    ``margins`` each question's null score minus its best span's score (higher: surer there is no
    answer); a question is answered "" when its margin is above the threshold. As in the official
    script, the search starts with every question answered "", answers them in increasing margin and
    keeps the first best total. Unlike it, a threshold is only taken after every question of an equal
    margin, so that the scores returned are the ones that threshold gets.
    """
    if metric not in _COLUMNS:
        raise ValueError(f"metric must be one of {', '.join(_COLUMNS)}, got {metric!r}.")
    choices = _choices(best_spans, margins, examples)
    column, best, threshold = _COLUMNS[metric], -math.inf, math.nan
    for candidate, has_ans, no_ans in _sweep(choices, _breakpoints(choices)):
        if has_ans[column] + no_ans[column] > best + _NOISE:
            best, threshold = has_ans[column] + no_ans[column], candidate
    decided = {e.id: "" if margins[e.id] > threshold else best_spans[e.id] for e in examples}
    return BestThreshold(threshold, metric, score_v2(decided, examples))


def trade_off(
    best_spans: Mapping[str, str],
    margins: Mapping[str, float],
    examples: Sequence[Example],
    thresholds: Iterable[float] | None = None,
) -> list[TradeOffPoint]:
    """HasAns F1 against the share of unanswerable questions answered "", in increasing threshold.

    Arguments as for :func:`best_threshold`. By default the thresholds are every point where the curve
    moves: just below the lowest margin (every question answered "") and each distinct margin.
    """
    choices = _choices(best_spans, margins, examples)
    n_no_ans = sum(choice.impossible for choice in choices)
    if n_no_ans in (0, len(choices)):
        raise ValueError(
            f"a trade-off needs answerable and unanswerable questions; {n_no_ans} of {len(choices)} are "
            "unanswerable. Give a SQuAD 2.0 file that has both."
        )
    breakpoints = _breakpoints(choices) if thresholds is None else thresholds
    return [
        TradeOffPoint(threshold, 100 * has_ans[_F1] / (len(choices) - n_no_ans), no_ans[_STRICT] / n_no_ans)
        for threshold, has_ans, no_ans in _sweep(choices, breakpoints)
    ]


# Shares of the unanswerable questions a reader may want caught: the rows a model card prints.
CAUGHT_LEVELS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95)


def trade_off_rows(
    points: Sequence[TradeOffPoint], levels: Sequence[float] = CAUGHT_LEVELS
) -> list[TradeOffPoint]:
    """A few points of a curve that has one per question: for each share in ``levels``, the highest threshold
    that still catches at least that share of the unanswerable questions (so it costs the answerable ones
    least), then the point that answers every question; in increasing threshold, each point once.
    """
    reached = [catching(points, level) for level in levels]
    return sorted({p for p in [*reached, points[-1]] if p is not None}, key=lambda p: p.threshold)


def catching(points: Sequence[TradeOffPoint], share: float) -> TradeOffPoint | None:
    """The highest threshold of the curve that still answers "" to at least ``share`` of the unanswerable
    questions: the one that costs the answerable questions least (None if no point catches that many)."""
    return max((p for p in points if p.no_ans_accuracy >= share), key=lambda p: p.threshold, default=None)


def _choices(
    best_spans: Mapping[str, str], margins: Mapping[str, float], examples: Sequence[Example]
) -> list[_Choice]:
    """Every question's two outcomes, in increasing margin: what a threshold search walks through."""
    _check_scorable(best_spans, examples, v2=True)
    _check_covered("null margins", margins, examples, "give every question its margin (Answer.null_margin)")
    unordered = [example.id for example in examples if math.isnan(margins[example.id])]
    if unordered:
        raise ValueError(f"null margins of ids {_some(unordered)} are NaN; give every question a number.")
    chinese = _mostly_chinese(examples)
    choices = [
        _Choice(
            margins[e.id], e.impossible, _v2_scores(best_spans[e.id], e, chinese), _v2_scores("", e, chinese)
        )
        for e in examples
    ]
    return sorted(choices, key=lambda choice: choice.margin)


def _breakpoints(choices: Sequence[_Choice]) -> list[float]:
    """Just below the lowest margin (all answered ""), then each distinct margin (ties answered together)."""
    distinct = sorted({choice.margin for choice in choices})
    return [math.nextafter(distinct[0], -math.inf), *distinct]


def _sweep(
    choices: Sequence[_Choice], thresholds: Iterable[float]
) -> Iterator[tuple[float, Sequence[float], Sequence[float]]]:
    """For each threshold in increasing order, the summed rows of the answerable and unanswerable questions.

    ``choices`` are in increasing margin, so one pass answers each question once, as the threshold reaches it.
    """
    sums = {
        kind: [sum(c.abstained[k] for c in choices if c.impossible == kind) for k in range(3)]
        for kind in (False, True)
    }
    reached = 0
    for threshold in sorted(thresholds):
        while reached < len(choices) and choices[reached].margin <= threshold:
            choice = choices[reached]
            for k in range(3):
                sums[choice.impossible][k] += choice.answered[k] - choice.abstained[k]
            reached += 1
        yield threshold, tuple(sums[False]), tuple(sums[True])
