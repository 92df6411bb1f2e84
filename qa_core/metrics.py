"""Score predicted answers the way published extractive-QA numbers are scored.

English follows the official SQuAD v1.1 script and Chinese the CMRC 2018 script, so a number printed here
can stand next to a paper's. The homework's strict accuracy is kept alongside because its leaderboard
thresholds were measured with it, and it is far harsher: a trailing full stop makes an answer wrong.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from qa_core.data import Example

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_CHARACTER = re.compile(f"[{_CJK}]")
# CMRC 2018 reads each CJK character as a token and a run of other characters (a number, a Latin word) as one.
_CHINESE_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_SHOWN = 5


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
    """
    _check_scorable(predictions, examples)
    chinese = 2 * sum(is_chinese(example.context) for example in examples) > len(examples)
    rows = [_example_scores(predictions[example.id], example, chinese) for example in examples]
    em, f1_sum, correct = (sum(column) for column in zip(*rows, strict=True))
    n = len(examples)
    return Scores(exact_match=100 * em / n, f1=100 * f1_sum / n, accuracy=correct / n, n=n)


def _example_scores(prediction: str, example: Example, chinese: bool) -> tuple[float, float, float]:
    golds = [answer.text for answer in example.answers]
    strict = float(prediction == golds[0])
    return exact_match(prediction, golds, chinese=chinese), f1(prediction, golds, chinese=chinese), strict


def _check_scorable(predictions: Mapping[str, str], examples: Sequence[Example]) -> None:
    if not examples:
        raise ValueError("there is nothing to score: no examples were given.")
    unlabelled = [example.id for example in examples if not example.answers]
    if unlabelled:
        raise ValueError(
            f"{len(unlabelled)} of {len(examples)} examples have no gold answers (ids {_some(unlabelled)}), "
            "so there is nothing to compare with; score a file with answers, not a test file without them."
        )
    missing = [example.id for example in examples if example.id not in predictions]
    if missing:
        raise ValueError(
            f"predictions lack {len(missing)} of {len(examples)} example ids ({_some(missing)}); "
            "predict every example first, or score only the examples that were predicted."
        )


def _some(ids: Sequence[str]) -> str:
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return ", ".join(repr(i) for i in ids[:_SHOWN]) + more
