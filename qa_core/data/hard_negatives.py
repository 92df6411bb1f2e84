"""Hard unanswerable questions: on the paragraph's own topic, so word overlap alone cannot tell them apart.

The easy negatives of ``negatives.py`` (the answer's sentence cut out, another paragraph) share few words
with the question once the answer is gone. People ask about the paragraph's own topic, and a check that
only learned "the words do not match" does not catch them. Two harder kinds, from one file alone:

- ``entity_swapped``: the question's key number or name, one the paragraph also writes, replaced by
  another of the same kind and form from elsewhere in the file that the paragraph never writes ("built in
  1889" asked as "built in 1875"; 日本 asked as 法國). The paragraph is untouched.
- ``sentence_replaced``: the answer's sentence replaced by the sentence of another paragraph of the same
  article that shares the most words (CJK: characters) with the question, so the paragraph stays on the
  question's topic but no longer holds the answer. The text before it keeps its offsets.

Deterministic: the same file and seed make the same negatives. Nothing here imports torch.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from qa_core.answering.answer_check import units
from qa_core.answering.sentences import sentence_spans
from qa_core.data.squad import Example

_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*(?![\d.,]*\d)")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*\b")
_CHINESE_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]{2,6}$")
# characters of question words, counting and grammar: an answer holding one ("一個", "多少") is no name
_NOT_IN_NAMES = frozenset(
    "一二三四五六七八九十百千萬万億亿兩两幾几個个哪什麼么誰谁何多少第年月日的是在了和與与及"
)
_LONGEST_CHINESE = 6  # characters: longer answers are phrases, not names


@dataclass(frozen=True)
class SwapPool:
    """What a question's key number or name may be swapped for, drawn from the whole file, by form.

    Numbers by digit count ("1889" for "1875", never "3"), English names by word count, Chinese names
    (answers of 2 to 6 CJK characters) by length, so the new question reads like one a person would ask.
    """

    numbers: dict[int, tuple[str, ...]]
    names: dict[int, tuple[str, ...]]
    chinese: dict[int, tuple[str, ...]]

    @classmethod
    def of(cls, examples: Iterable[Example]) -> SwapPool:
        numbers, names, chinese = defaultdict(set), defaultdict(set), defaultdict(set)
        for example in examples:
            for number in _NUMBER.findall(example.question):
                numbers[len(number)].add(number)
            for answer in example.answers:
                if _NAME.fullmatch(answer.text):
                    names[answer.text.count(" ") + 1].add(answer.text)
                if _CHINESE_NAME.match(answer.text) and not _NOT_IN_NAMES.intersection(answer.text):
                    chinese[len(answer.text)].add(answer.text)
        return cls(*({k: tuple(sorted(v)) for k, v in group.items()} for group in (numbers, names, chinese)))

    def is_chinese_name(self, text: str) -> bool:
        return text in self.chinese.get(len(text), ())


def key_entity(question: str, context: str, pool: SwapPool) -> tuple[int, int, tuple[str, ...]] | None:
    """Where the question's key number or name is (characters ``[start, end)``), and what it may become.

    The first number the paragraph also writes; else the first English name it writes (not the question's
    first word); else the longest Chinese name of the pool found in both. None when there is none.
    """
    for match in _NUMBER.finditer(question):
        if match.group() in context:
            return match.start(), match.end(), pool.numbers.get(len(match.group()), ())
    for match in _NAME.finditer(question):
        if match.start() > 0 and match.group() in context:
            return match.start(), match.end(), pool.names.get(match.group().count(" ") + 1, ())
    found = [
        (length, start)
        for length in range(_LONGEST_CHINESE, 1, -1)
        for start in range(len(question) - length + 1)
        if pool.is_chinese_name(question[start : start + length])
        and question[start : start + length] in context
    ]
    if not found:
        return None
    length, start = max(found, key=lambda f: (f[0], -f[1]))
    return start, start + length, pool.chinese.get(length, ())


def entity_swapped(example: Example, pool: SwapPool, rng: random.Random) -> Example | None:
    """The question with its key number or name swapped for one the paragraph never writes, or None.

    None when the question has no such entity, or no replacement of its form is absent from the paragraph
    and the question.
    """
    found = key_entity(example.question, example.context, pool)
    if found is None:
        return None
    start, end, options = found
    old = example.question[start:end]
    fits = [o for o in options if o != old and o not in example.context and o not in example.question]
    if not fits:
        return None
    if _CHINESE_NAME.match(old):  # a name of the same kind where one ends alike: 臺北市 for 高雄市
        fits = [o for o in fits if o[-1] == old[-1]] or fits
    question = example.question[:start] + rng.choice(fits) + example.question[end:]
    return replace(example, id=f"{example.id}-entity_swapped", question=question, answers=(), impossible=True)


def sentence_replaced(example: Example, paragraphs: Sequence[str]) -> Example | None:
    """The paragraph with the answer's sentence replaced by the closest on-topic sentence, or None.

    ``paragraphs`` are the article's paragraphs. None when the answer runs over a sentence end or no other
    paragraph has a sentence without the answer. The new sentence comes from another paragraph, shares the most of the question's words, holds no answer
    text, and takes the old one's trailing white space, so the text around it reads as before.
    """
    gold = example.answers[0]
    spans = sentence_spans(example.context)
    around = next(((a, b) for a, b in spans if a <= gold.start and gold.start + len(gold.text) <= b), None)
    if around is None:
        return None
    asked = set(units(example.question))
    candidates = [s for p in paragraphs if p != example.context for s in _sentences_of(p)]
    candidates = [s for s in candidates if s.strip() and not holds_an_answer(example, s)]
    if not candidates or not asked:
        return None
    chosen = max(candidates, key=lambda s: len(asked & set(units(s))))  # the first of equals
    old = example.context[around[0] : around[1]]
    new = chosen.strip() + old[len(old.rstrip()) :]
    context = example.context[: around[0]] + new + example.context[around[1] :]
    if holds_an_answer(example, context):
        return None
    return replace(
        example, id=f"{example.id}-sentence_replaced", context=context, answers=(), impossible=True
    )


def _sentences_of(paragraph: str) -> list[str]:
    return [paragraph[a:b] for a, b in sentence_spans(paragraph)]


def holds_an_answer(example: Example, text: str) -> bool:
    """Whether any of the question's answers is written in ``text``: then it is no negative."""
    return any(answer.text in text for answer in example.answers)
