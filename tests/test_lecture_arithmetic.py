"""Embedding arithmetic: one mean difference between the languages, tested on held-out pairs, on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_lecture import _engine as loaded

from qa_core.answering.engine import QAEngine
from qa_core.explaining import lecture, lecture_figures
from qa_core.explaining.lecture_records import WordArithmetic
from qa_core.files import REPO_ROOT

# words the tiny vocabularies know (tests/tiny_models.py); the pairing is arbitrary, the arithmetic does not care
CHINESE = "台北 臺灣 首都 島嶼 北部 天氣 中文 問題 答案 城市 河流 上海 東方 明珠 塔 年 月 日 人口 誰 哪裡 什麼 很好 位於"
ENGLISH = (
    "paris france capital museum tower river city seine flows born year book writer people who where "
    "what famous many visit built wrote louvre eiffel"
)
PAIRS = tuple(zip(CHINESE.split(), ENGLISH.split(), strict=True))


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> QAEngine:
    return loaded(tiny_model_dir)  # the same models as the contexts' tests, loaded once


def test_a_constant_difference_between_the_languages_translates_every_held_out_word():
    rng = np.random.default_rng(1)
    english = rng.normal(size=(30, 2))  # in two dimensions, unshifted directions crowd together
    chinese = english + np.array([4.0, -3.0])  # every Chinese vector: its English one plus one constant
    train, held = lecture.split_pairs(30)
    neighbours, rank = lecture.translate(english, chinese, train, held)
    assert (rank[1] == 1).all() and (neighbours[1, :, 0] == held).all(), "shifted: always the translation"
    assert (rank[0] > 1).any(), "raw: the constant is large enough that the baseline misses some"
    _, back = lecture.translate(chinese, english, train, held)
    assert (back[1] == 1).all(), "the reverse direction subtracts the same difference"


def test_rank_counts_the_candidates_closer_than_the_translation():
    # two held-out words on a circle; candidates at known angles, so the ranks are known
    source = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.1]])
    neighbours, rank = lecture.translate(source, target, train=(2,), held_out=(0, 1), k=3)
    # raw: word 0 (1, 0) is nearest to target 1, then 2, then its translation 0
    assert rank[0].tolist() == [3, 3] and neighbours[0, 0].tolist() == [1, 2, 0]


def test_the_split_is_disjoint_complete_seeded_and_three_quarters_training():
    train, held = lecture.split_pairs(40, seed=7)
    assert not set(train) & set(held) and sorted(train + held) == list(range(40))
    assert len(train) == 30 and list(train) == sorted(train)
    assert lecture.split_pairs(40, seed=7) == (train, held), "the same seed, the same split"
    assert lecture.split_pairs(40, seed=8) != (train, held)
    assert held != tuple(range(30, 40)), "shuffled: not simply the end of the list"


def test_pairs_are_parsed_with_a_space_comma_or_equals_and_bad_lines_named():
    assert lecture.parse_pairs("貓 cat\n\n狗, dog\n 書=book \n學校，school") == (
        ("貓", "cat"),
        ("狗", "dog"),
        ("書", "book"),
        ("學校", "school"),
    )
    with pytest.raises(ValueError, match=r"Line\(s\) 2 are not a pair"):
        lecture.parse_pairs("貓 cat\n狗")


def test_a_word_the_vocabulary_reads_as_unknown_leaves_its_pair_out_by_name(engine):
    record = lecture.word_arithmetic(engine, (*PAIRS, ("貓", "cat"), ("台北", "蘋果")))
    assert record.left_out == ("貓 cat", "台北 蘋果")
    assert record.chinese == tuple(CHINESE.split()) and record.english == tuple(ENGLISH.split())
    layers = engine.model.config.num_hidden_layers
    assert record.rank.shape == (layers + 1, 2, 2, len(record.held_out))
    assert record.neighbours.shape == (*record.rank.shape, lecture.TOP_K)
    first = np.array(record.held_out)[None, None, None, :]
    np.testing.assert_array_equal(record.rank == 1, record.neighbours[..., 0] == first)


def test_too_few_known_pairs_are_refused_with_the_unknown_words(engine):
    unknown = [("貓", "cat"), ("狗", "dog")]
    with pytest.raises(ValueError, match="cannot run this view") as error:
        lecture.word_arithmetic(engine, (*PAIRS[: lecture.MIN_PAIRS - 1], *unknown))
    assert "貓, 狗 as unknown" in str(error.value) and f"leaves {lecture.MIN_PAIRS - 1} of" in str(
        error.value
    )


def test_a_word_paired_with_itself_is_its_own_nearest_word_at_every_layer(engine):
    """Each word is read alone, so the same word gives the same vector: rank 1 raw and shifted (by zero)."""
    words = ENGLISH.split()
    record = lecture.word_arithmetic(engine, tuple(zip(words, words, strict=True)))
    assert (record.rank == 1).all()
    np.testing.assert_array_equal(record.accuracy(1), 1.0)


def test_a_record_whose_parts_overlap_is_refused():
    with pytest.raises(ValueError, match="disjoint"):
        WordArithmetic(
            model="m",
            chinese=("a", "b"),
            english=("x", "y"),
            left_out=(),
            train=(0, 1),
            held_out=(1,),
            seed=0,
            neighbours=np.zeros((1, 2, 2, 1, 1), dtype=int),
            rank=np.ones((1, 2, 2, 1), dtype=int),
        )


def test_the_chart_shows_the_records_accuracy_and_the_tables_its_ranks(engine):
    record = lecture.word_arithmetic(engine, PAIRS)
    layer, held = 1, len(record.held_out)
    figure = lecture_figures.accuracy_figure(record, layer)
    shifted, raw = figure.data
    assert list(shifted.y) == [record.accuracy(k)[layer, d, 1] for d in (0, 1) for k in (1, 5)]
    assert list(raw.y) == [record.accuracy(k)[layer, d, 0] for d in (0, 1) for k in (1, 5)]
    assert "at layer 1" in figure.layout.title.text
    table = lecture_figures.neighbour_table(record, layer)
    assert len(table) == 2 * held and list(table.columns) == list(lecture_figures.NEIGHBOUR_COLUMNS)
    assert table["shifted: rank"].tolist() == record.rank[layer, :, 1].ravel().tolist()
    assert table["word"].iloc[0] == record.english[record.held_out[0]]
    assert table["translation"].iloc[held] == record.english[record.held_out[0]], "then Chinese to English"
    every = lecture_figures.arithmetic_table(record)
    assert len(every) == record.rank.size and list(every.columns) == list(lecture_figures.ARITHMETIC_COLUMNS)
    assert (
        every.query("layer == 1 and vector == 'shifted'")["rank"].tolist() == table["shifted: rank"].tolist()
    )


def test_the_example_list_is_forty_or_more_distinct_pairs():
    examples = json.loads((REPO_ROOT / "assets" / "lecture_examples.json").read_text(encoding="utf-8"))
    pairs = lecture.parse_pairs("\n".join(examples["word_pairs"]))
    assert len(pairs) == len(examples["word_pairs"]) >= 40
    assert len({c for c, _ in pairs}) == len({e for _, e in pairs}) == len(pairs)


def test_the_command_says_when_a_model_cannot_run_the_arithmetic(tiny_bert_dir, capsys):
    assert lecture.main(["--checkpoint", str(tiny_bert_dir)]) == 0
    assert "cannot run this view on these words" in capsys.readouterr().out, (
        "the tiny vocabulary has little Chinese"
    )


# ---------------------------------------------------------------- meaning across languages


def distances(points: np.ndarray) -> np.ndarray:
    """(n, n) Euclidean distance between every two rows."""
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


def test_vectors_that_vary_in_two_directions_keep_all_their_distances_and_variance_in_the_projection():
    rng = np.random.default_rng(2)
    plane = np.linalg.qr(rng.normal(size=(12, 2)))[0]  # (12, 2) two orthonormal directions
    vectors = 5.0 + rng.normal(size=(20, 2)) @ plane.T  # (20, 12), all variance in that plane
    points, explained = lecture.project(vectors)
    assert points.shape == (20, 2) and explained.sum() == pytest.approx(1.0)
    assert explained[0] >= explained[1]
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(distances(points), distances(vectors), atol=1e-9)
    assert (points[np.abs(points).argmax(axis=0), [0, 1]] > 0).all(), "each axis's sign is fixed"
    flipped, _ = lecture.project(-vectors)
    np.testing.assert_allclose(flipped, points, atol=1e-9)  # the same picture however SVD's signs fall


def test_each_pair_projects_to_one_point_when_a_word_is_paired_with_itself(engine):
    words = ENGLISH.split()
    record = lecture.word_projection(engine, (*zip(words, words, strict=True), ("貓", "cat")))
    n, layers = len(words), engine.model.config.num_hidden_layers
    assert record.points.shape == (layers + 1, 2 * n, 2) and record.left_out == ("貓 cat",)
    np.testing.assert_allclose(record.points[:, :n], record.points[:, n:], atol=1e-5)


def test_the_projection_draws_both_languages_and_a_line_per_pair_and_exports_every_layer(engine):
    record = lecture.word_projection(engine, PAIRS)
    n = len(PAIRS)
    lines, chinese, english = lecture_figures.projection_figure(record, 1).data
    assert list(chinese.text) == list(CHINESE.split()) and list(english.text) == list(ENGLISH.split())
    np.testing.assert_allclose(np.c_[english.x, english.y], record.points[1, n:])
    assert list(lines.x[:3]) == [record.points[1, 0, 0], record.points[1, n, 0], None], "word to translation"
    table = lecture_figures.projection_table(record)
    assert len(table) == (record.layers + 1) * 2 * n
    row = table.query("layer == 1 and language == 'English'").iloc[0]
    assert (row.word, row.translation) == (PAIRS[0][1], PAIRS[0][0])
    assert (row.x, row.y) == pytest.approx(tuple(record.points[1, n]))
