"""Windows: the paragraph pieces BERT reads, their character offsets, training placement, max context."""

from __future__ import annotations

import random
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from qa_core.answering.records import Window
from qa_core.answering.windows import (
    PairEncoding,
    answer_window,
    char_span_to_tokens,
    encode_pairs,
    make_windows,
    max_context_mask,
    window_starts,
)
from qa_core.settings import WindowSettings

QUESTION = "who sat on the mat?"
# Known words, Chinese characters, punctuation, words spelt from single letters, unknown scripts and emoji.
PARAGRAPH = (
    "the cat sat on the mat. the Eiffel tower, built in paris, is famous; many people visit it.  "
    "台北是臺灣的首都，位於島嶼北部。 Ωμέγα 😀 zqx the seine flows through paris (city of museum louvre)!"
)
CJK = "台北是臺灣的首都位於島嶼北部"


@cache
def _tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture
def tokenizer(tiny_model_dir: Path) -> PreTrainedTokenizerBase:
    return _tokenizer(tiny_model_dir)


def _encode(
    tokenizer, paragraph: str, question: str = QUESTION, max_question_length: int = 64
) -> PairEncoding:
    return encode_pairs(tokenizer, [question], [paragraph], max_question_length)[0]


def _windows(
    tokenizer, paragraph: str, max_length: int, doc_stride: int
) -> tuple[PairEncoding, list[Window]]:
    encoding = _encode(tokenizer, paragraph)
    settings_ = WindowSettings(max_length=max_length, doc_stride=doc_stride, max_question_length=8)
    return encoding, make_windows(encoding, settings_, tokenizer.pad_token_id)


def _paragraph_offsets(window: Window) -> list[tuple[int, int]]:
    return [o for o in window.offsets if o is not None]


# --- coverage and exact offsets ---------------------------------------------------------------------


def test_every_visible_character_is_covered_by_some_window(tokenizer) -> None:
    _, windows = _windows(tokenizer, PARAGRAPH, max_length=24, doc_stride=4)
    assert len(windows) > 3
    covered = {c for w in windows for a, b in _paragraph_offsets(w) for c in range(a, b)}
    missing = [(i, ch) for i, ch in enumerate(PARAGRAPH) if not ch.isspace() and i not in covered]
    assert missing == []


def test_offsets_are_the_exact_characters_each_token_stands_for(tokenizer) -> None:
    encoding = _encode(tokenizer, PARAGRAPH)
    tokens = tokenizer.convert_ids_to_tokens(list(encoding.context_ids))
    lower = tokenizer.unk_token == "[UNK]"  # the WordPiece vocabulary is uncased
    for token, (a, b) in zip(tokens, encoding.context_offsets, strict=True):
        text = PARAGRAPH[a:b]
        if token == tokenizer.unk_token:
            assert text and not text.isspace(), (token, a, b)
        else:
            piece = token.removeprefix("##").removeprefix("▁")
            assert piece == (text.lower() if lower else text), (token, a, b)


def test_chinese_characters_are_one_token_each_with_their_exact_offsets(tokenizer) -> None:
    encoding = _encode(tokenizer, PARAGRAPH)
    tokens = tokenizer.convert_ids_to_tokens(list(encoding.context_ids))
    by_offset = dict(zip(encoding.context_offsets, tokens, strict=True))
    start = PARAGRAPH.index(CJK[0])
    for i, ch in enumerate(PARAGRAPH[start : start + 8], start=start):
        assert by_offset[(i, i + 1)] == ch


def test_lone_sentencepiece_boundary_covers_no_character(tiny_unigram_dir: Path) -> None:
    """The tokenizer gives "▁" the next character's range; it must not claim that character."""
    tokenizer = _tokenizer(tiny_unigram_dir)
    paragraph = "台北 是臺灣"
    encoding = _encode(tokenizer, paragraph)
    tokens = tokenizer.convert_ids_to_tokens(list(encoding.context_ids))
    assert list(zip(tokens, encoding.context_offsets, strict=True)) == [
        ("▁", (0, 0)),
        ("台", (0, 1)),
        ("北", (1, 2)),
        ("▁", (3, 3)),
        ("是", (3, 4)),
        ("臺", (4, 5)),
        ("灣", (5, 6)),
    ]
    # An answer label starting at 是 lands on 是, not on the boundary before it.
    assert char_span_to_tokens(encoding.context_offsets, 3, 6) == (4, 6)


def test_window_char_range_is_first_and_last_paragraph_token(tokenizer) -> None:
    _, windows = _windows(tokenizer, PARAGRAPH, max_length=24, doc_stride=4)
    for w in windows:
        offsets = _paragraph_offsets(w)
        assert (w.char_start, w.char_end) == (offsets[0][0], offsets[-1][1])
    assert windows[0].char_start == 0
    assert windows[-1].char_end == len(PARAGRAPH.rstrip())


# --- window layout --------------------------------------------------------------------------------


def test_consecutive_windows_share_exactly_doc_stride_paragraph_tokens(tokenizer) -> None:
    encoding, windows = _windows(tokenizer, PARAGRAPH, max_length=24, doc_stride=5)
    assert windows[0].doc_start == 0 and windows[-1].doc_end == len(encoding.context_ids)
    for w, nxt in pairwise(windows):
        assert w.doc_end - nxt.doc_start == 5
        shared = encoding.context_ids[nxt.doc_start : w.doc_end]
        assert w.input_ids[w.context_start + nxt.doc_start - w.doc_start :][:5] == shared
        assert nxt.input_ids[nxt.context_start :][:5] == shared


def test_segments_question_zero_paragraph_one_for_wordpiece(tiny_bert_dir: Path) -> None:
    tokenizer = _tokenizer(tiny_bert_dir)
    _, windows = _windows(tokenizer, PARAGRAPH, max_length=24, doc_stride=4)
    for w in windows:
        n_real = sum(w.attention_mask)
        assert w.input_ids[0] == tokenizer.cls_token_id
        assert set(w.token_type_ids[: w.context_start]) == {0}
        assert set(w.token_type_ids[w.context_start : n_real]) == {1}
        assert w.input_ids[n_real - 1] == tokenizer.sep_token_id


def test_unigram_tokenizer_has_no_segments(tiny_unigram_dir: Path) -> None:
    tokenizer = _tokenizer(tiny_unigram_dir)
    _, windows = _windows(tokenizer, PARAGRAPH, max_length=24, doc_stride=4)
    assert all(set(w.token_type_ids) == {0} for w in windows)
    assert windows[0].input_ids[0] == tokenizer.bos_token_id


def test_padding_has_mask_zero_pad_ids_and_no_offsets(tokenizer) -> None:
    _, windows = _windows(tokenizer, PARAGRAPH, max_length=24, doc_stride=4)
    assert len({len(w.input_ids) for w in windows}) == 1
    last = windows[-1]
    n_real = sum(last.attention_mask)
    assert n_real < len(last.input_ids), "the last window is shorter and must be padded"
    assert last.attention_mask == (1,) * n_real + (0,) * (len(last.input_ids) - n_real)
    assert set(last.input_ids[n_real:]) == {tokenizer.pad_token_id}
    assert set(last.offsets[n_real:]) == {None}
    assert all(len(field) == len(last.input_ids) for field in (last.token_type_ids, last.offsets))


@pytest.mark.parametrize("max_length", [16, 24, 40])
def test_windows_fill_but_never_exceed_max_length(tokenizer, max_length: int) -> None:
    _, windows = _windows(tokenizer, PARAGRAPH, max_length=max_length, doc_stride=2)
    assert max(len(w.input_ids) for w in windows) == max_length


def test_long_question_is_truncated_reported_and_still_fits(tokenizer) -> None:
    question = " ".join(["who wrote the famous book"] * 10)
    short = _encode(tokenizer, PARAGRAPH, question="who wrote it?", max_question_length=8)
    assert not short.question_truncated
    encoding = _encode(tokenizer, PARAGRAPH, question=question, max_question_length=8)
    assert encoding.question_truncated
    assert encoding.question_tokens == 8
    full_question = tokenizer(question, add_special_tokens=False)["input_ids"]
    assert list(encoding.prefix_ids[1:9]) == full_question[:8]
    windows = make_windows(encoding, WindowSettings(32, 4, 8), tokenizer.pad_token_id)
    assert all(len(w.input_ids) <= 32 for w in windows)
    assert all(w.input_ids[: w.context_start] == encoding.prefix_ids for w in windows)


def test_doc_stride_not_below_room_is_refused(tokenizer) -> None:
    encoding = _encode(tokenizer, PARAGRAPH, max_question_length=8)
    room = encoding.room_for_context(24)
    with pytest.raises(ValueError, match=rf"doc_stride \({room}\) must be smaller"):
        make_windows(encoding, WindowSettings(24, room, 8), tokenizer.pad_token_id)


def test_empty_paragraph_is_refused(tokenizer) -> None:
    with pytest.raises(ValueError, match="paragraph has no tokens"):
        _encode(tokenizer, "  \n ")


@pytest.mark.parametrize(
    ("n", "room", "stride", "starts"),
    [
        (10, 4, 1, [0, 3, 6]),
        (9, 4, 1, [0, 3, 6]),
        (4, 4, 1, [0]),
        (3, 10, 2, [0]),
        (11, 4, 0, [0, 4, 8]),
        (12, 5, 3, [0, 2, 4, 6, 8]),
    ],
)
def test_window_starts(n: int, room: int, stride: int, starts: list[int]) -> None:
    assert window_starts(n, room, stride) == starts


def test_window_starts_refuses_doc_stride_equal_to_room() -> None:
    with pytest.raises(ValueError, match="doc_stride"):
        window_starts(10, 4, 4)


# --- training window placement -------------------------------------------------------------------


def _plain_encoding(n: int) -> PairEncoding:
    """Three prefix tokens, one suffix token and ``n`` paragraph tokens."""
    return PairEncoding(
        prefix_ids=(101, 7, 102),
        prefix_type_ids=(0, 0, 0),
        prefix_roles=("special", "question", "special"),
        question_offsets=((0, 1),),
        context_ids=tuple(range(1000, 1000 + n)),
        context_type_ids=(1,) * n,
        context_offsets=tuple((2 * i, 2 * i + 1) for i in range(n)),
        suffix_ids=(102,),
        suffix_type_ids=(1,),
        question_tokens=1,
        question_truncated=False,
    )


ROOM = 10  # max_length 14 - 3 prefix - 1 suffix


@pytest.mark.parametrize("placement", ["centre", "random"])
@pytest.mark.parametrize("answer", [(0, 0), (0, 3), (20, 21), (47, 49), (49, 49), (30, 39)])
def test_answer_window_keeps_the_answer_inside(placement: str, answer: tuple[int, int]) -> None:
    rng = random.Random(0)
    for _ in range(20):
        a, b = answer_window(_plain_encoding(50), answer, 14, placement, rng)
        assert 0 <= a <= answer[0] and answer[1] < b <= 50
        assert b - a == ROOM


def test_centre_placement_centres_the_answer() -> None:
    a, b = answer_window(_plain_encoding(50), (20, 21), 14, "centre", random.Random(0))
    assert (a, b) == (16, 26)  # four tokens before the answer, four after
    a, b = answer_window(_plain_encoding(50), (25, 25), 14, "centre", random.Random(0))
    assert abs((25 - a) - (b - 1 - 25)) <= 1


def test_random_placement_spreads_the_answer_over_the_window() -> None:
    rng = random.Random(1234)
    starts = {answer_window(_plain_encoding(50), (20, 22), 14, "random", rng)[0] for _ in range(300)}
    assert starts == set(range(13, 21))  # every start that keeps tokens 20..22 inside a 10-token window


def test_short_paragraph_is_one_window_whatever_the_placement() -> None:
    for placement in ("centre", "random"):
        assert answer_window(_plain_encoding(6), (2, 4), 14, placement, random.Random(0)) == (0, 6)


def test_answer_longer_than_a_window_starts_at_the_answer() -> None:
    assert answer_window(_plain_encoding(50), (5, 30), 14, "centre", random.Random(0)) == (5, 15)


# --- characters to tokens --------------------------------------------------------------------------

# "the cat sat." with a zero-width token (a lone "▁") between "cat" and "sat".
OFFSETS = ((0, 3), (4, 7), (8, 8), (8, 11), (11, 12))


@pytest.mark.parametrize(
    ("start", "end", "tokens"),
    [
        (4, 7, (1, 1)),  # "cat"
        (5, 6, (1, 1)),  # part of a token still selects it
        (4, 11, (1, 3)),  # "cat sat": the zero-width token neither starts nor ends it
        (8, 11, (3, 3)),  # "sat", not the zero-width token at the same place
        (0, 12, (0, 4)),
        (3, 4, None),  # only the space
        (7, 8, None),  # the space before the zero-width token
        (12, 20, None),  # past the paragraph
    ],
)
def test_char_span_to_tokens(start: int, end: int, tokens: tuple[int, int] | None) -> None:
    assert char_span_to_tokens(OFFSETS, start, end) == tokens


def test_a_zero_width_token_alone_is_no_answer() -> None:
    assert char_span_to_tokens(((0, 3), (5, 5), (6, 9)), 4, 6) is None


# --- max context ------------------------------------------------------------------------------------


def _hand_window(index: int, doc_start: int, doc_end: int) -> Window:
    """A window over paragraph tokens [doc_start, doc_end) behind a 2-token prefix, plus [SEP] and one pad."""
    n = doc_end - doc_start
    offsets = (None, None) + tuple((p, p + 1) for p in range(doc_start, doc_end)) + (None, None)
    return Window(
        index=index,
        input_ids=(0,) * (n + 4),
        token_type_ids=(0,) * (n + 4),
        attention_mask=(1,) * (n + 3) + (0,),
        offsets=offsets,
        roles=("special", "question") + ("paragraph",) * n + ("special", "padding"),
        context_start=2,
        doc_start=doc_start,
        doc_end=doc_end,
    )


def test_max_context_follows_run_squad_example() -> None:
    """run_squad.py: "the man went to the store and bought a gallon of milk" read as
    A = "the man went to the", B = "to the store and bought", C = "and bought a gallon of";
    "bought" is judged in C (1 word left, 3 right) rather than B (4 left, 0 right)."""
    windows = [_hand_window(0, 0, 5), _hand_window(1, 3, 8), _hand_window(2, 6, 11)]
    masks = max_context_mask(windows)
    chosen = {}
    for w, mask in zip(windows, masks, strict=True):
        assert len(mask) == len(w.offsets)
        assert not any(m for m, o in zip(mask, w.offsets, strict=True) if o is None)
        for t, m in enumerate(mask):
            if m:
                position = w.doc_position(t)
                assert position not in chosen, f"token {position} chosen in two windows"
                chosen[position] = w.index
    assert sorted(chosen) == list(range(11))
    assert chosen[7] == 2  # "bought"
    assert chosen[3] == 0  # "to": A (3 left, 1 right) beats B (0 left)
    assert chosen[4] == 1  # "the": B (1 left, 3 right) beats A (0 right)
    assert chosen[6] == 1  # "and": B (3 left, 1 right) beats C (0 left)


def test_max_context_tie_goes_to_the_earlier_window() -> None:
    """Token 3 has one token on its short side in both [0, 5) and [2, 7); run_squad.py keeps the first."""
    first, second = max_context_mask([_hand_window(0, 0, 5), _hand_window(1, 2, 7)])
    assert first[2 + 3] and not second[2 + 1]


# --- property: any Unicode paragraph -----------------------------------------------------------------

SCRIPTS = (
    "the cat sat on mat paris xyz"  # known words and single letters
    + "ABCÉéßİ"  # cased and accented Latin
    + "ΩμέγαПривет"  # Greek, Cyrillic
    + "שלוםمرحبا"  # right-to-left
    + "台北是臺灣的首都中文問題"  # CJK
    + "😀👍🏽🇹🇼"  # emoji, skin tone modifier, flag
    + "\u0301\u0308"  # combining marks
    + " \n\t\u3000\u00a0"  # white space of several kinds
    + ".,?!;:'\"()-，。？！「」"  # punctuation
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paragraph=st.text(alphabet=SCRIPTS, min_size=1, max_size=120).filter(lambda t: any(map(str.isalnum, t))),
    max_length=st.integers(16, 40),
    data=st.data(),
)
def test_windows_of_any_paragraph(tiny_model_dir: Path, paragraph: str, max_length: int, data) -> None:
    tokenizer = _tokenizer(tiny_model_dir)
    encoding = _encode(tokenizer, paragraph, max_question_length=8)
    room = encoding.room_for_context(max_length)
    doc_stride = data.draw(st.integers(0, room - 1), label="doc_stride")
    windows = make_windows(encoding, WindowSettings(max_length, doc_stride, 8), tokenizer.pad_token_id)

    offsets = encoding.context_offsets
    assert all(0 <= a <= b <= len(paragraph) for a, b in offsets)
    assert all(a <= c and b <= d for (a, b), (c, d) in pairwise(offsets))
    for w in windows:
        assert len(w.input_ids) <= max_length
        assert _paragraph_offsets(w) == list(offsets[w.doc_start : w.doc_end])
        assert 0 <= w.char_start <= w.char_end <= len(paragraph)
        assert all(w.char_start <= a <= b <= w.char_end for a, b in _paragraph_offsets(w))
    assert windows[0].doc_start == 0 and windows[-1].doc_end == len(offsets)
    for w, nxt in pairwise(windows):
        assert w.doc_end - nxt.doc_start == doc_stride
        assert w.char_start <= nxt.char_start and w.char_end <= nxt.char_end
        assert (nxt.char_start <= w.char_end) if doc_stride else (nxt.char_start >= w.char_end)
