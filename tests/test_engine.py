"""The engine: exact answers in Chinese and English, the trace, windows, batching, int8 and safe loading."""

from __future__ import annotations

import math
import re
import shutil
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from qa_core.answering.engine import QAEngine, validate_pair
from qa_core.answering.records import Answer
from qa_core.settings import AnswerSettings, RequestLimits, SpanRules, WindowSettings

LIMITS = RequestLimits(max_chars=20_000, max_windows=64)  # a server's policy, as the app sets it

# Unknown characters (Greek, kana, emoji, accents), mixed scripts, full-width punctuation, unspaced Chinese.
CHINESE = "台北是臺灣的首都，位於島嶼北部。東京🗼は日本の首都；上海東方明珠塔在上海。Ωμέγα台北天氣很好！"
ENGLISH = "The Eiffel tower, built in Paris, is famous; many people visit it. Ωμέγα zqx the Seine flows."
MIXED = "the louvre museum 在 paris 是 famous 的 city。東京🗼 ünïcödé (capital) 2024年"
PAIRS = [
    ("台北在哪裡？", CHINESE),
    ("臺灣的首都是什麼？", CHINESE),
    ("where is the eiffel tower?", ENGLISH),
    ("what flows", ENGLISH),
    ("which museum is famous?", MIXED),
]
LONG = (
    "台北是臺灣的首都，位於島嶼北部。" * 6
    + "the seine flows through paris. " * 4
    + "上海東方明珠塔很好。" * 4
)
SMALL = AnswerSettings(WindowSettings(max_length=48, doc_stride=8, max_question_length=16))
TOKEN_MARKS = ("[UNK]", "<unk>", "##", "▁", "[CLS]", "[SEP]", "<s>", "</s>", "[PAD]", "<pad>")


@cache
def _engine(model_dir: Path, int8: bool = False) -> QAEngine:
    return QAEngine.load(model_dir, int8=int8)


@pytest.fixture
def engine(tiny_model_dir: Path) -> QAEngine:
    return _engine(tiny_model_dir)


def assert_exact(answer: Answer, context: str) -> None:
    """Every candidate is a slice of the paragraph with real characters, never rebuilt from tokens."""
    assert answer.n_best, "an answerable paragraph always gives candidates"
    assert (answer.text, answer.start, answer.end) == (
        answer.n_best[0].text,
        answer.n_best[0].start,
        answer.n_best[0].end,
    )
    for candidate in answer.n_best:
        assert 0 <= candidate.start < candidate.end <= len(context)
        assert context[candidate.start : candidate.end] == candidate.text
        assert candidate.text == candidate.text.strip()
        for mark in TOKEN_MARKS:
            assert mark not in candidate.text or mark in context


# --- exact characters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, context", PAIRS, ids=["zh-where", "zh-capital", "en-where", "en-what", "mixed"]
)
def test_every_candidate_is_cut_from_the_paragraph_by_offsets(engine, question, context) -> None:
    answer = engine.answer(question, context, SMALL)
    assert_exact(answer, context)
    assert len(answer.n_best) == SMALL.spans.n_best
    assert len({(c.start, c.end) for c in answer.n_best}) == len(answer.n_best), "no duplicate spans"
    assert [c.score for c in answer.n_best] == sorted((c.score for c in answer.n_best), reverse=True)
    assert sum(c.probability for c in answer.n_best) == pytest.approx(1.0)


def test_chinese_answers_get_no_spaces_even_across_unknown_characters(engine) -> None:
    context = "東京🗼は日本の首都台北是臺灣的首都"  # kana and emoji are unknown to both vocabularies
    answer = engine.answer("首都在哪裡？", context, AnswerSettings(spans=SpanRules(n_best=20)))
    assert_exact(answer, context)
    multi = [c.text for c in answer.n_best if len(c.text) > 1]
    assert multi, "some candidates span several tokens"
    assert all(" " not in text for text in multi)


def test_an_unknown_word_comes_back_as_its_own_characters(tiny_bert_dir) -> None:
    # WordPiece reads the whole word as one [UNK]; its offsets still cover the original, accented letters.
    answer = _engine(tiny_bert_dir).answer("what is it?", "Ωμέγα")
    assert (answer.text, answer.start, answer.end) == ("Ωμέγα", 0, 5)


def test_an_unanswerable_question_still_gets_the_best_span_with_a_score(engine) -> None:
    answer = engine.answer("who wrote the book about the river?", "上海東方明珠塔很好。", SMALL)
    assert_exact(answer, "上海東方明珠塔很好。")
    assert math.isfinite(answer.score) and 0 < answer.probability <= 1


# --- the trace ------------------------------------------------------------------------------------


def test_trace_has_one_consistent_record_per_window(engine) -> None:
    answer = engine.answer("台北在哪裡？", LONG, SMALL)
    trace = answer.trace
    windows = engine.preview_windows("台北在哪裡？", LONG, SMALL)
    assert len(trace.windows) == len(windows) >= 3
    assert [wt.window for wt in trace.windows] == windows
    for wt in trace.windows:
        w = wt.window
        n = len(w.input_ids)
        assert n <= SMALL.windows.max_length
        assert len(wt.tokens) == len(w.token_type_ids) == len(w.attention_mask) == len(w.offsets) == n
        assert list(wt.tokens) == engine.tokenizer.convert_ids_to_tokens(list(w.input_ids))
        for array in (wt.start_logits, wt.end_logits, wt.allowed_starts, wt.allowed_ends):
            assert array.shape == (n,)
        assert not (wt.allowed_ends & np.array([o is None for o in w.offsets])).any()
    assert (trace.question, trace.context, trace.settings) == ("台北在哪裡？", LONG, SMALL)
    assert trace.paragraph_tokens == windows[-1].doc_end


def test_winning_window_holds_the_answer_and_its_matrix_agrees(engine) -> None:
    settings = AnswerSettings(
        WindowSettings(max_length=48, doc_stride=8, max_question_length=16), SpanRules(top_k=64)
    )
    answer = engine.answer("台北在哪裡？", LONG, settings)
    top = answer.n_best[0]
    assert answer.trace.winning_window == top.window
    wt = answer.trace.windows[top.window]
    assert wt.window.offsets[top.start_token][0] == answer.start
    assert wt.window.offsets[top.end_token][1] == answer.end
    assert (wt.best.start_char, wt.best.end_char) == (answer.start, answer.end)
    matrix = answer.trace.span_matrix
    n = len(wt.window.input_ids)
    assert matrix.shape == (n, n)
    assert np.isnan(matrix[np.tril_indices(n, -1)]).all(), "end before start is impossible"
    assert np.isnan(matrix[~wt.allowed_starts, :]).all() and np.isnan(matrix[:, ~wt.allowed_ends]).all()
    assert matrix[top.start_token, top.end_token] == pytest.approx(answer.score)
    assert np.nanmax(matrix) == pytest.approx(answer.score), "with top_k >= window length the best cell wins"
    assert np.nanargmax(matrix) == top.start_token * n + top.end_token


def test_candidates_come_from_windows_that_hold_them(engine) -> None:
    answer = engine.answer("the seine flows through which city?", LONG, SMALL)
    assert_exact(answer, LONG)
    for c in answer.n_best:
        w = answer.trace.windows[c.window].window
        assert (w.offsets[c.start_token][0], w.offsets[c.end_token][1]) == (c.start, c.end)
        assert w.char_start <= c.start < c.end <= w.char_end


def test_windows_overlap_by_doc_stride_and_cover_the_paragraph(engine) -> None:
    windows = [wt.window for wt in engine.answer("台北在哪裡？", LONG, SMALL).trace.windows]
    assert windows[0].doc_start == 0
    for a, b in pairwise(windows):
        assert b.doc_start == a.doc_end - SMALL.windows.doc_stride
    covered = {c for w in windows for o in w.offsets if o is not None for c in range(*o)}
    assert {i for i, ch in enumerate(LONG) if not ch.isspace()} <= covered


def test_a_long_question_is_truncated_and_reported(engine) -> None:
    question = "what is the capital city of france and which river flows through it and who built the tower"
    long = engine.answer(question, ENGLISH, SMALL)
    assert long.question_truncated and long.trace.question_truncated
    assert long.trace.question_tokens == SMALL.windows.max_question_length
    assert_exact(long, ENGLISH)
    short = engine.answer("what flows", ENGLISH, SMALL)
    assert not short.question_truncated and short.trace.question_tokens < SMALL.windows.max_question_length


# --- batching -------------------------------------------------------------------------------------


def test_answer_many_gives_the_same_answers_as_one_at_a_time(engine) -> None:
    pairs = [*PAIRS, ("台北在哪裡？", LONG), ("what city", "paris")]
    one = [engine.answer(q, c, SMALL) for q, c in pairs]
    for batch_windows in (1, 3, 64):
        many = engine.answer_many(pairs, SMALL, batch_windows=batch_windows)
        for a, b in zip(one, many, strict=True):
            assert b.trace is None
            assert [(c.text, c.start, c.end, c.window) for c in a.n_best] == [
                (c.text, c.start, c.end, c.window) for c in b.n_best
            ]
            assert [c.score for c in a.n_best] == pytest.approx([c.score for c in b.n_best], abs=1e-5)
            assert a.question_truncated == b.question_truncated


def test_answer_many_of_nothing_is_nothing(engine) -> None:
    assert engine.answer_many([]) == []


# --- model variants and loading ---------------------------------------------------------------------


def test_int8_engine_quantises_linear_layers_and_answers_exactly(tiny_model_dir) -> None:
    engine = _engine(tiny_model_dir, int8=True)
    kinds = {type(m).__module__ for m in engine.model.modules()}
    assert any("quantized" in k for k in kinds) and engine.int8
    assert not _engine(tiny_model_dir).int8
    for question, context in PAIRS:
        assert_exact(engine.answer(question, context, SMALL), context)


def test_a_float16_checkpoint_is_computed_in_float32(tiny_bert_dir, tmp_path) -> None:
    folder = shutil.copytree(tiny_bert_dir, tmp_path / "half")
    QAEngine.load(tiny_bert_dir).model.half().save_pretrained(folder)
    assert {t.dtype for t in load_file(folder / "model.safetensors").values()} == {torch.float16}
    engine = QAEngine.load(folder)
    assert {p.dtype for p in engine.model.parameters()} == {torch.float32}
    assert_exact(engine.answer("台北在哪裡？", CHINESE, SMALL), CHINESE)


def test_pickled_weights_are_refused_with_a_clear_message(tiny_bert_dir, tmp_path) -> None:
    folder = shutil.copytree(tiny_bert_dir, tmp_path / "pickled")
    # transformers 5 ignores safe_serialization=False and writes safetensors anyway: pickle the weights here.
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError) as error:
        QAEngine.load(folder)
    message = str(error.value)
    assert str(folder) in message and "model.safetensors" in message and "pytorch_model.bin" in message


def test_a_tokenizer_without_offsets_is_refused(tiny_bert_dir) -> None:
    class SlowTokenizer:
        is_fast = False

    with pytest.raises(ValueError, match="somewhere: the engine needs a fast tokenizer"):
        QAEngine(_engine(tiny_bert_dir).model, SlowTokenizer(), source="somewhere")


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, context, message",
    [
        ("", ENGLISH, "question is empty"),
        (" \n\t ", ENGLISH, "question is empty"),
        ("who?", "", "paragraph is empty"),
        ("who?", "   \n", "paragraph is empty"),
        ("who?", "x" * (LIMITS.max_chars + 1), f"the limit is {LIMITS.max_chars:,}"),
        ("who\ud800?", ENGLISH, "question contains U+D800 at character 3"),
        ("who?", "the cat \udfff sat", "paragraph contains U+DFFF at character 8"),
        (12345, ENGLISH, "The question must be text, got a number (12345)."),
        ("who?", ["the", "cat"], "The paragraph must be text, got a list (['the', 'cat'])."),
        (None, ENGLISH, "question is empty"),
    ],
    ids=[
        "no-question",
        "blank-question",
        "no-paragraph",
        "blank-paragraph",
        "too-long",
        "surrogate-q",
        "surrogate-p",
        "number-question",
        "list-paragraph",
        "none-question",
    ],
)
def test_unusable_input_is_refused_with_a_message(engine, question, context, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_pair(question, context, LIMITS)
    with pytest.raises(ValueError, match=re.escape(message)):
        engine.answer(question, context, limits=LIMITS)
    with pytest.raises(ValueError, match=re.escape(message)):
        engine.answer_many([("fine?", ENGLISH), (question, context)], limits=LIMITS)


def test_a_paragraph_at_the_character_limit_is_accepted() -> None:
    validate_pair("who?", "x" * LIMITS.max_chars, LIMITS)


def test_without_a_servers_limits_a_long_paragraph_is_answered(engine) -> None:
    """Batch prediction and evaluation pass no limits: a web server's policy must not bind them."""
    context = "台北是臺灣的首都" * 400
    validate_pair("who?", "x" * (LIMITS.max_chars + 1))
    answer = engine.answer("台北在哪裡？", context, SMALL)
    assert len(answer.trace.windows) > LIMITS.max_windows
    assert context[answer.start : answer.end] == answer.text


def test_a_paragraph_needing_too_many_windows_is_refused(engine) -> None:
    with pytest.raises(ValueError, match=r"needs \d+ windows .* the limit is 64\. Shorten the paragraph"):
        engine.answer("台北在哪裡？", "台北是臺灣的首都" * 400, SMALL, LIMITS)


@pytest.mark.parametrize(
    ("max_length", "doc_stride", "advice"),
    [
        (48, 8, "Shorten the paragraph, lower doc_stride or raise max_length (up to 512)."),
        (48, 0, "Shorten the paragraph or raise max_length (up to 512)."),
        (512, 8, "Shorten the paragraph or lower doc_stride."),
        (512, 0, "Shorten the paragraph."),
    ],
)
def test_too_many_windows_advises_only_changes_that_can_still_help(engine, max_length, doc_stride, advice):
    """A stride of 0 cannot go lower and a window of 512 tokens cannot grow: advice to do so would mislead."""
    settings = AnswerSettings(WindowSettings(max_length=max_length, doc_stride=doc_stride))
    context = "台北是臺灣的首都" * 400 * (max_length // 32)  # over 64 windows at every setting
    with pytest.raises(ValueError, match=r"needs \d+ windows") as refused:
        engine.answer("台北在哪裡？", context, settings, RequestLimits(max_chars=10**6, max_windows=64))
    assert str(refused.value).endswith(f"the limit is 64. {advice}")


def test_a_stride_too_large_for_the_window_is_refused(engine) -> None:
    with pytest.raises(ValueError, match="doc_stride"):
        engine.answer("台北在哪裡？", LONG, AnswerSettings(WindowSettings(max_length=48, doc_stride=40)))
    with pytest.raises(ValueError, match="max_length must be at least 16"):
        WindowSettings(max_length=8)
    with pytest.raises(ValueError, match="n_best must be at least 1"):
        SpanRules(n_best=0)


def test_the_trace_records_each_tokens_role_and_why_it_may_not_start_or_end(engine) -> None:
    """The figures read these records; nothing about a token is rebuilt from its text."""
    trace = engine.answer("台北在哪裡？", LONG, SMALL).trace
    assert len(trace.windows) > 1
    for wt in trace.windows:
        w, roles = wt.window, wt.window.roles
        assert roles[0] == "special" and roles[w.context_start - 1] == "special"
        assert roles[: w.context_start].count("question") == trace.question_tokens
        assert set(roles[w.context_start : w.context_end]) == {"paragraph"}
        assert set(roles[w.context_end :]) <= {"special", "padding"}
        assert [r == "padding" for r in roles] == [m == 0 for m in w.attention_mask]
        for role, start, end in zip(roles, wt.start_blocks, wt.end_blocks, strict=True):
            assert (role != "paragraph") == (start == "not paragraph") == (end == "not paragraph")
        judged_elsewhere = [s == "max context" for s in wt.start_blocks]
        assert judged_elsewhere == [
            r == "paragraph" and not m for r, m in zip(roles, wt.max_context, strict=True)
        ]
    assert any("max context" in wt.start_blocks for wt in trace.windows), "overlapping windows share starts"


def test_without_the_max_context_rule_no_start_is_blocked_for_it(engine) -> None:
    rules_off = AnswerSettings(SMALL.windows, SpanRules(use_max_context=False))
    trace = engine.answer("台北在哪裡？", LONG, rules_off).trace
    assert all(wt.max_context is None and "max context" not in wt.start_blocks for wt in trace.windows)


def _with_null_threshold(model_dir, folder, threshold):
    import json
    import shutil

    shutil.copytree(model_dir, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, "qa_null_threshold": threshold}), encoding="utf-8")
    return folder


def test_a_checkpoint_without_a_null_threshold_answers_every_question_with_its_best_span(tiny_bert_dir):
    engine = QAEngine.load(tiny_bert_dir)
    answer = engine.answer("where is the cat?", "the cat sat on the mat")
    assert engine.null_threshold is None and not answer.no_answer and answer.text
    assert isinstance(answer.null_margin, float), "the margin is measured for every checkpoint"
    null = answer.trace.null
    assert answer.null_margin == pytest.approx(null.null_score - null.span_score)


@pytest.mark.parametrize(("threshold", "no_answer"), [(-1e6, True), (1e6, False)])
def test_the_checkpoints_null_threshold_decides_and_a_requested_one_overrides_it(
    tiny_bert_dir, tmp_path, threshold, no_answer
):
    engine = QAEngine.load(_with_null_threshold(tiny_bert_dir, tmp_path / "null", threshold))
    assert engine.null_threshold == threshold
    answer = engine.answer("where is the cat?", "the cat sat on the mat")
    assert answer.no_answer is no_answer and answer.text, "the best span is still given"
    flipped = AnswerSettings(spans=SpanRules(null_threshold=30.0 if no_answer else -30.0))
    assert engine.answer("where is the cat?", "the cat sat on the mat", flipped).no_answer is not no_answer
