"""Hostile text through the engine: it answers with exact characters or refuses with a documented message."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qa_core.answering.engine import QAEngine
from qa_core.settings import AnswerSettings, RequestLimits, SpanRules, WindowSettings

SMALL = AnswerSettings(
    WindowSettings(max_length=32, doc_stride=4, max_question_length=8), SpanRules(n_best=5)
)
LIMITS = RequestLimits(max_chars=20_000, max_windows=64)  # a server's policy, as the app sets it

CONTROL = "".join(map(chr, [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x200B, 0x200D, 0xFEFF, 0xE000]))
PIECES = [
    st.text(st.characters(codec="utf-8"), max_size=30),  # anything that is valid text
    st.text(CONTROL, min_size=1, max_size=5),
    st.sampled_from(["😀", "🗼", "👨\u200d👩\u200d👧", "🇹🇼", "e\u0301", "\u0308\u20dd", "Ωμέγα", "ﬁ㍿"]),
    st.sampled_from(["שלום עולם", "مرحبا بالعالم", "\u202eevil\u202c", "\u200f"]),  # right to left
    st.sampled_from(["台北是臺灣的首都", "the cat sat on the mat", "東京は日本の首都", "paris 在 france"]),
    st.text("，。？！、「」.,?!;:'\"()-", min_size=1, max_size=20),  # only punctuation
    st.text("ab台z", min_size=40, max_size=200),  # a very long word with no break
    st.sampled_from([" ", "\n", "\t", "\u3000", "\u00a0"]),
]
TEXT = st.lists(st.one_of(PIECES), min_size=1, max_size=6).map("".join)


@cache
def _engine(model_dir: Path) -> QAEngine:
    return QAEngine.load(model_dir)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=TEXT, context=TEXT)
@example(question="\x00\x01", context="台北是臺灣的首都")
@example(question="who?", context="\u0301\u0301\u0301")
@example(question="?", context="x" * 2000)
def test_any_text_is_answered_exactly_or_refused_with_the_documented_message(
    tiny_model_dir, question, context
) -> None:
    engine = _engine(tiny_model_dir)
    try:
        answer = engine.answer(question, context, SMALL, LIMITS)
    except ValueError as error:
        message = str(error)
        if not question.strip():
            assert message.startswith("The question is empty")
        elif not context.strip():
            assert message.startswith("The paragraph is empty")
        elif message.startswith("The paragraph needs"):  # one token per character of an unknown script
            assert len(engine.tokenizer(context, add_special_tokens=False)["input_ids"]) > 64 * 10
        else:  # the tokenizer drops everything (control and private-use characters)
            assert message.startswith("The paragraph has no tokens")
            assert not engine.tokenizer(context, add_special_tokens=False)["input_ids"]
        return
    assert question.strip() and context.strip()
    for candidate in answer.n_best:
        assert 0 <= candidate.start < candidate.end <= len(context)
        assert context[candidate.start : candidate.end] == candidate.text
        assert candidate.text.strip()
        assert math.isfinite(candidate.score) and 0 <= candidate.probability <= 1
    if answer.n_best:
        top = answer.n_best[0]
        assert (answer.text, answer.start, answer.end) == (top.text, top.start, top.end)
    else:  # nothing visible to point at: an empty answer, never an exception
        assert (answer.text, answer.start, answer.end) == ("", 0, 0)
    assert context[answer.start : answer.end] == answer.text


@pytest.mark.parametrize(
    "question, context",
    [
        ("who wrote the book?", "台北是臺灣的首都，位於島嶼北部。"),
        ("台北在哪裡？", "the river seine flows through paris."),
        ("?!", "，。？！、「」"),
        ("what?", "😀😀 👨\u200d👩\u200d👧 🇹🇼"),
    ],
)
def test_an_unanswerable_question_still_returns_its_best_span(tiny_model_dir, question, context) -> None:
    answer = _engine(tiny_model_dir).answer(question, context, SMALL)
    assert answer.text and context[answer.start : answer.end] == answer.text
    assert math.isfinite(answer.score) and 0 < answer.probability <= 1
