"""Post-processing: which spans a window may answer with, merging windows, softmax, the score matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from qa_core.answering.postprocess import (
    best_spans,
    end_blocks,
    null_decision,
    probabilities,
    span_score_matrix,
    start_blocks,
    unblocked,
    window_spans,
)
from qa_core.answering.records import Span, Window
from qa_core.answering.windows import encode_pairs, make_windows
from qa_core.settings import SpanRules, WindowSettings

PARAGRAPH = "the cat sat on the mat"
WORDS = [(0, 3), (4, 7), (8, 11), (12, 14), (15, 18), (19, 22)]
# [CLS] who sat [SEP] the cat sat on the mat [SEP] [PAD] [PAD]
OFFSETS = (None, None, None, None, *WORDS, None, None, None)
CAT, MAT = 5, 9  # window positions of "cat" and "mat"


def _window(offsets=OFFSETS, index: int = 0) -> Window:
    n = len(offsets)
    context_start = next(t for t, o in enumerate(offsets) if o is not None)
    n_context = sum(o is not None for o in offsets)
    return Window(
        index=index,
        input_ids=tuple(range(n)),
        token_type_ids=(0,) * n,
        attention_mask=(1,) * n,
        offsets=tuple(offsets),
        roles=tuple("special" if o is None else "paragraph" for o in offsets),
        context_start=context_start,
        doc_start=0,
        doc_end=n_context,
    )


def _logits(n: int, **peaks: float) -> np.ndarray:
    """Zeros with the given values at positions named like ``p5=3.0``."""
    logits = np.zeros(n)
    for name, value in peaks.items():
        logits[int(name[1:])] = value
    return logits


def _spans(
    window: Window,
    start: np.ndarray,
    end: np.ndarray,
    rules: SpanRules | None = None,
    paragraph: str = PARAGRAPH,
) -> list[Span]:
    allowed = unblocked(end_blocks(window, paragraph))
    return window_spans(window, start, end, allowed, allowed, rules or SpanRules())


def _text(span: Span, paragraph: str = PARAGRAPH) -> str:
    return paragraph[span.start_char : span.end_char]


def test_end_before_start_is_never_chosen() -> None:
    """The end logit peaks on "cat", before the start peak on "mat": the best pair is invalid."""
    n = len(OFFSETS)
    spans = _spans(_window(), _logits(n, p9=10.0), _logits(n, p5=10.0, p9=1.0))
    assert spans and all(s.start_token <= s.end_token for s in spans)
    best = best_spans(spans, 1)[0]
    assert (best.start_token, best.end_token, best.score) == (MAT, MAT, 11.0)
    assert _text(best) == "mat"


@pytest.mark.parametrize(("max_answer_length", "expected"), [(6, "cat sat on the mat"), (3, "cat")])
def test_maximum_answer_length_is_respected(max_answer_length: int, expected: str) -> None:
    n = len(OFFSETS)
    start, end = _logits(n, p5=10.0, p7=1.0), _logits(n, p9=10.0, p5=5.0)  # best: "cat ... mat", 6 tokens
    spans = _spans(_window(), start, end, SpanRules(max_answer_length=max_answer_length))
    assert all(s.end_token - s.start_token + 1 <= max_answer_length for s in spans)
    assert _text(best_spans(spans, 1)[0]) == expected


def test_question_special_and_padding_tokens_are_never_part_of_a_span() -> None:
    n = len(OFFSETS)
    outside = [t for t, o in enumerate(OFFSETS) if o is None]
    start = _logits(n, p7=1.0) + np.isin(np.arange(n), outside) * 100.0
    end = _logits(n, p8=1.0) + np.isin(np.arange(n), outside) * 100.0
    spans = _spans(_window(), start, end)
    assert spans
    assert all(OFFSETS[s.start_token] is not None and OFFSETS[s.end_token] is not None for s in spans)
    assert _text(best_spans(spans, 1)[0]) == "on the"


def test_white_space_never_bounds_a_span_and_a_lone_boundary_may_only_start_one() -> None:
    """A token over a space covers nothing visible; a zero-width one (a lone "▁") may start a span,
    whose text then begins at the next character, but never end one."""
    offsets = (None, (0, 3), (3, 4), (4, 4), (4, 7), None)  # "the", " ", "▁" (empty), "cat"
    window = _window(offsets)
    starts, ends = unblocked(start_blocks(window, PARAGRAPH)), unblocked(end_blocks(window, PARAGRAPH))
    assert ends.tolist() == [False, True, False, False, True, False]
    assert starts.tolist() == [False, True, False, True, True, False]
    n = len(offsets)
    start, end = _logits(n, p2=50.0, p3=40.0, p1=1.0), _logits(n, p2=50.0, p3=40.0, p4=1.0)
    spans = window_spans(window, start, end, starts, ends, SpanRules())
    assert {(s.start_token, s.end_token) for s in spans} == {(1, 1), (1, 4), (3, 4), (4, 4)}
    best = best_spans(spans, 1)[0]
    assert (best.start_token, best.score, _text(best)) == (3, 41.0, "cat")


def test_lone_sentencepiece_boundary_starts_but_never_ends_an_answer(tiny_unigram_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_unigram_dir)
    paragraph = "台北 是臺灣"
    encoding = encode_pairs(tokenizer, ["誰"], [paragraph], 8)[0]
    window = make_windows(encoding, WindowSettings(32, 4, 8), tokenizer.pad_token_id)[0]
    tokens = tokenizer.convert_ids_to_tokens(list(window.input_ids))
    ends = unblocked(end_blocks(window, paragraph))
    starts = unblocked(start_blocks(window, paragraph))
    assert [t for t, ok in zip(tokens, ends, strict=True) if ok] == list("台北是臺灣")
    assert [t for t, ok in zip(tokens, starts, strict=True) if ok] == ["▁", "台", "北", "▁", "是", "臺", "灣"]
    boundary = tokens.index("是") - 1
    assert tokens[boundary] == "▁" and window.offsets[boundary] == (3, 3) and paragraph[3] == "是"


# --- merging windows ---------------------------------------------------------------------------------

LONG = (
    "the cat sat on the mat . paris is the capital of france . the seine flows through paris . "
    "the louvre museum is in paris . the eiffel tower was built in paris . many people visit it ."
)


@pytest.mark.parametrize("winner", [1, 2])
def test_best_span_may_come_from_any_window(tiny_bert_dir: Path, winner: int) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    encoding = encode_pairs(tokenizer, ["what flows through paris?"], [LONG], 16)[0]
    windows = make_windows(encoding, WindowSettings(24, 4, 16), tokenizer.pad_token_id)
    assert len(windows) >= 3
    target = windows[winner].context_start + (windows[winner].doc_end - windows[winner].doc_start) // 2
    spans = []
    for w in windows:
        rng = np.random.default_rng(w.index)
        start, end = rng.normal(size=len(w.input_ids)), rng.normal(size=len(w.input_ids))
        if w.index == winner:
            start[target], end[target + 1] = 20.0, 20.0
        spans += _spans(w, start, end, paragraph=LONG)
    best = best_spans(spans, 5)[0]
    assert (best.window, best.start_token, best.end_token) == (winner, target, target + 1)
    offsets = windows[winner].offsets
    assert _text(best, LONG) == LONG[offsets[target][0] : offsets[target + 1][1]]
    assert len(_text(best, LONG).split()) == 2


def test_windows_compare_raw_scores_or_per_window_probabilities() -> None:
    """Window 0 has the higher raw score but shares its mass with a rival; window 1 is sure of its span."""
    n = len(OFFSETS)
    crowded = (_window(index=0), _logits(n, p5=6.0, p9=6.0), _logits(n, p5=6.0, p9=6.0))
    sure = (_window(index=1), _logits(n, p7=5.0), _logits(n, p7=5.0))
    rules = {name: SpanRules(max_answer_length=1, window_scores=name) for name in ("logits", "softmax")}
    best = {
        name: best_spans([s for w, st, en in (crowded, sure) for s in _spans(w, st, en, rule)], 1)[0]
        for name, rule in rules.items()
    }
    assert (best["logits"].window, best["logits"].score) == (0, 12.0)
    assert best["softmax"].window == 1
    # softmax score = log p_start + log p_end within the window, over its paragraph tokens and [CLS]
    keep = [0, 4, 5, 6, 7, 8, 9]
    p = np.exp(5.0) / (np.exp(5.0) + len(keep) - 1)
    assert best["softmax"].score == pytest.approx(2 * np.log(p))
    assert (best["softmax"].start_logit, best["softmax"].end_logit) == (5.0, 5.0), "raw logits are kept"
    with pytest.raises(ValueError, match="window_scores must be one of logits, softmax"):
        SpanRules(window_scores="probabilities")


def _span(window: int, start_char: int, end_char: int, score: float) -> Span:
    return Span(window, 0, 0, start_char, end_char, start_logit=score, end_logit=0.0)


def test_best_spans_counts_a_range_seen_in_two_windows_once_keeping_its_best() -> None:
    spans = [_span(0, 4, 7, 3.0), _span(1, 4, 7, 5.0), _span(0, 0, 7, 4.0), _span(1, 8, 11, 1.0)]
    best = best_spans(spans, 10)
    assert [(s.window, s.start_char, s.end_char, s.score) for s in best] == [
        (1, 4, 7, 5.0),
        (0, 0, 7, 4.0),
        (1, 8, 11, 1.0),
    ]
    assert best_spans(spans, 2) == best[:2]
    assert best_spans([], 3) == []


# --- probabilities --------------------------------------------------------------------------------


def test_probabilities_sum_to_one_and_follow_the_scores() -> None:
    p = probabilities([_span(0, 0, 3, 2.0), _span(0, 4, 7, 1.0), _span(0, 8, 11, 1.0)])
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[1] == pytest.approx(np.e)
    assert p[1] == p[2]


def test_probabilities_are_stable_for_large_logits() -> None:
    p = probabilities([_span(0, 0, 3, 1e4), _span(0, 4, 7, 1e4 - 1.0), _span(0, 8, 11, -1e4)])
    assert np.all(np.isfinite(p))
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[1] == pytest.approx(np.e)
    assert p[2] == 0.0


def test_probabilities_of_no_spans_is_empty() -> None:
    assert probabilities([]).shape == (0,)


# --- score matrix ---------------------------------------------------------------------------------


def test_span_score_matrix_masks_impossible_cells_and_sums_the_rest() -> None:
    rng = np.random.default_rng(0)
    n, max_len = 8, 3
    start, end = rng.normal(size=n), rng.normal(size=n)
    allowed_starts = np.array([0, 1, 1, 1, 0, 1, 1, 1], dtype=bool)
    allowed_ends = np.array([0, 1, 1, 0, 1, 1, 1, 0], dtype=bool)
    matrix = span_score_matrix(start, end, allowed_starts, allowed_ends, max_len)
    assert matrix.shape == (n, n)
    for s in range(n):
        for e in range(n):
            possible = s <= e < s + max_len and allowed_starts[s] and allowed_ends[e]
            if possible:
                assert matrix[s, e] == start[s] + end[e]
            else:
                assert np.isnan(matrix[s, e]), (s, e)
    assert not np.isnan(matrix[2, 4]) and np.isnan(matrix[2, 5])  # 3 tokens allowed, 4 are too long
    assert np.isnan(matrix[2, 1])  # end before start


def test_span_score_matrix_agrees_with_window_spans() -> None:
    n = len(OFFSETS)
    rng = np.random.default_rng(1)
    start, end = rng.normal(size=n), rng.normal(size=n)
    allowed = unblocked(end_blocks(_window(), PARAGRAPH))
    matrix = span_score_matrix(start, end, allowed, allowed, 4)
    spans = window_spans(_window(), start, end, allowed, allowed, SpanRules(max_answer_length=4, top_k=n))
    valid_cells = set(zip(*np.nonzero(~np.isnan(matrix)), strict=True))
    assert {(s.start_token, s.end_token) for s in spans} == valid_cells
    best = best_spans(spans, 1)[0]
    assert best.score == pytest.approx(np.nanmax(matrix))


# --- rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["max_answer_length", "top_k", "n_best"])
def test_span_rules_reject_zero(field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be at least 1 and at most \d+( tokens)?, got 0\.$"):
        SpanRules(**{field: 0})


def test_without_post_processing_the_raw_argmaxes_answer_and_a_reversed_pair_is_empty() -> None:
    """The homework's lesson: the best end ("cat") before the best start ("mat") gives no answer at all."""
    n = len(OFFSETS)
    start, end = _logits(n, p9=10.0), _logits(n, p5=10.0, p9=1.0)
    off = best_spans(_spans(_window(), start, end, SpanRules(post_processing=False)), 1)[0]
    assert (off.start_token, off.end_token, off.score) == (MAT, CAT, 20.0)
    assert _text(off) == ""
    on = best_spans(_spans(_window(), start, end), 1)[0]
    assert _text(on) == "mat"


def test_without_post_processing_the_length_limit_is_off_too() -> None:
    n = len(OFFSETS)
    start, end = _logits(n, p5=10.0), _logits(n, p9=10.0)
    rules = SpanRules(max_answer_length=2, post_processing=False)
    assert _text(best_spans(_spans(_window(), start, end, rules), 1)[0]) == "cat sat on the mat"


def _best(start_logit: float, end_logit: float) -> Span:
    return Span(0, 5, 5, 4, 7, start_logit, end_logit)


@pytest.mark.parametrize(("threshold", "no_answer"), [(0.5, True), (1.5, False), (None, False)])
def test_the_null_decision_compares_the_lowest_window_null_score_with_the_best_span(threshold, no_answer):
    # window 1 finds the answer (its [CLS] scores low), window 0 does not: the question's null is window 1's
    decision = null_decision([(6.0, 5.0), (3.0, 3.0)], _best(2.0, 3.0), threshold)
    assert (decision.null_score, decision.null_window, decision.span_score) == (6.0, 1, 5.0)
    assert decision.margin == 1.0 and decision.no_answer is no_answer


def test_without_any_valid_span_a_decision_says_no_answer_and_has_no_margin():
    decision = null_decision([(1.0, 1.0)], None, 0.0)
    assert decision.margin is None and decision.no_answer
    assert not null_decision([(1.0, 1.0)], None, None).no_answer, "no threshold: no decision"
