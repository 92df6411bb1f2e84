"""Same character, different contexts: the target's vectors across sentences, on tiny random models of both tokenizer families."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from qa_core.answering.engine import QAEngine
from qa_core.explaining import lecture, lecture_figures
from qa_core.explaining.lecture_records import ContextualEmbeddings

SENTENCES = ("the cat sat on the mat", "the cat is in paris", "a dog and the cat", "the river flows")
TARGET_SENTENCES = SENTENCES[:3]


@cache
def _engine(model_dir: Path) -> QAEngine:
    return QAEngine.load(model_dir)


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> QAEngine:
    return _engine(tiny_model_dir)


def compute(engine: QAEngine, sentences: tuple[str, ...], target: str, labels=None) -> ContextualEmbeddings:
    return lecture.contextual_embeddings(engine, sentences, labels or ("",) * len(sentences), target)


def test_the_matrix_is_symmetric_with_ones_on_the_diagonal_at_every_layer(engine):
    record = compute(engine, TARGET_SENTENCES, "cat")
    layers = engine.model.config.num_hidden_layers
    assert record.similarity.shape == (layers + 1, 3, 3)
    np.testing.assert_allclose(record.similarity, record.similarity.transpose(0, 2, 1), atol=1e-6)
    np.testing.assert_allclose(np.diagonal(record.similarity, axis1=1, axis2=2), 1.0, atol=1e-5)
    assert record.occurrences == ((4, 7), (4, 7), (14, 17))


def test_the_same_tokens_at_the_same_position_are_identical_only_at_the_input_embeddings(engine):
    record = compute(engine, ("the cat sat on the mat", "the cat is in paris"), "cat")
    assert record.similarity[0, 0, 1] == pytest.approx(1.0, abs=1e-5), "same token, same position"
    # a random tiny model mixes in little of the context, but it does mix it in
    assert record.similarity[-1, 0, 1] < 1 - 1e-6, "after the layers, the different sentence shows"


def test_a_longer_sentence_in_the_same_batch_changes_no_similarity(engine):
    """Sentences are read together, padded to the longest: the padding must not leak into any vector."""
    pair = compute(engine, SENTENCES[:2], "the")
    more = compute(
        engine, (*SENTENCES[:2], "the cat sat on the mat in paris and the dog sat on the mat"), "the"
    )
    np.testing.assert_allclose(more.similarity[:, :2, :2], pair.similarity, atol=1e-5)


def test_the_same_tokens_at_another_position_differ_already_at_the_input_embeddings(engine):
    """BERT adds a position embedding to every token's own vector, so layer 0 is not 1 here."""
    record = compute(engine, ("the cat sat on the mat", "a dog and the cat"), "cat")
    assert record.tokens[0] == record.tokens[1], "the same tokens stand for the target"
    assert record.similarity[0, 0, 1] < 0.999


def test_a_sentence_without_the_target_is_refused_with_its_number(engine):
    with pytest.raises(ValueError, match=r"Sentence\(s\) 4 do not contain “cat”"):
        compute(engine, SENTENCES, "cat")


def test_a_blank_target_and_a_single_sentence_are_refused_together(engine):
    with pytest.raises(ValueError, match="Type the target") as error:
        compute(engine, ("the cat",), " ")
    assert "between 2 and" in str(error.value), "every problem at once"


def test_a_target_the_vocabulary_does_not_know_is_refused(engine):
    with pytest.raises(ValueError, match="does not know “蘋果”"):
        compute(engine, ("蘋果很甜", "我的蘋果"), "蘋果")
    assert not lecture.knows(engine, "蘋果") and lecture.knows(engine, "cat")


def test_a_sentence_starting_with_the_target_does_not_average_in_the_word_boundary(engine):
    record = compute(engine, ("台北是城市", "我在台北"), "台北")
    assert all("▁" not in token for tokens in record.tokens for token in tokens), record.tokens
    assert record.tokens[0] == record.tokens[1]


def test_only_tokens_that_cover_a_character_of_the_target_are_averaged(engine):
    """In "cats" the piece "s" covers no character of "cat": the target's vector is the "cat" piece alone."""
    record = compute(engine, ("the cats sat", "the cat sat"), "cat")
    assert record.tokens[0] == record.tokens[1] and len(record.tokens[0]) == 1
    assert record.similarity[0, 0, 1] == pytest.approx(1.0, abs=1e-5), "same piece, same position"


def test_lines_are_parsed_into_sentences_and_optional_group_labels():
    text = "fruit: I ate an apple\n\n  company：蘋果發表了新手機\nno label here\n"
    assert lecture.parse_sentences(text) == (
        ("I ate an apple", "蘋果發表了新手機", "no label here"),
        ("fruit", "company", ""),
    )


def record_of(similarity: np.ndarray, labels: tuple[str, ...]) -> ContextualEmbeddings:
    n = len(labels)
    return ContextualEmbeddings(
        model="m",
        target="x",
        sentences=tuple(f"x {i}" for i in range(n)),
        labels=labels,
        occurrences=((0, 1),) * n,
        tokens=(("x",),) * n,
        similarity=similarity,
    )


def test_separation_is_within_group_minus_between_group_similarity_of_labelled_pairs():
    one = np.eye(4)
    one[0, 1] = one[1, 0] = 0.8  # the two "a" sentences
    one[2, 3] = one[3, 2] = 0.5  # "b" with an unlabelled sentence: left out
    one[0, 2] = one[2, 0] = 0.2
    one[1, 2] = one[2, 1] = 0.4
    record = record_of(np.stack([np.eye(4), one]), ("a", "a", "b", ""))
    within, between = record.group_means()
    np.testing.assert_allclose(within, [0.0, 0.8])
    np.testing.assert_allclose(between, [0.0, 0.3])
    np.testing.assert_allclose(record.separation(), [0.0, 0.5])


def test_without_two_groups_there_is_no_separation_and_the_chart_says_how_to_get_one():
    record = record_of(np.stack([np.eye(3)]), ("a", "a", ""))
    assert record.separation() is None
    message = lecture_figures.separation_figure(record).layout.annotations[0].text
    assert "Label at least two groups" in message


def test_a_record_with_a_matrix_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(layers \+ 1, 3, 3\)"):
        record_of(np.ones((2, 3, 2)), ("a", "b", "c"))


def test_the_heatmap_shows_the_chosen_layer_and_the_table_every_layer(engine):
    labels = ("pet", "pet", "other")
    record = compute(engine, TARGET_SENTENCES, "cat", labels)
    figure = lecture_figures.similarity_figure(record, 1)
    assert "“cat” at layer 1" in figure.layout.title.text
    np.testing.assert_allclose(figure.data[0].z, record.similarity[1])
    assert list(figure.layout.yaxis.ticktext) == ["1 pet", "2 pet", "3 other"]
    assert "same meaning minus different meaning" in figure.layout.title.subtitle.text
    table = lecture_figures.similarity_table(record)
    assert list(table.columns) == list(lecture_figures.SIMILARITY_COLUMNS)
    assert len(table) == record.similarity.size
    cell = table.query("layer == 1 and row == 1 and column == 3")
    assert cell.similarity.item() == pytest.approx(record.similarity[1, 0, 2])
    assert cell.row_label.item() == "pet" and cell.column_sentence.item() == TARGET_SENTENCES[2]
    lines = lecture_figures.separation_figure(record, 1).data
    np.testing.assert_allclose(lines[-1].y, record.separation())


def test_the_example_sets_contain_their_target_in_every_sentence_and_label_two_groups():
    from qa_core.files import REPO_ROOT

    sets = json.loads((REPO_ROOT / "assets" / "lecture_examples.json").read_text(encoding="utf-8"))[
        "contexts"
    ]
    assert {s["target"] for s in sets} == {"蘋果", "bank"}
    for example in sets:
        sentences, labels = lecture.parse_sentences("\n".join(example["sentences"]))
        assert all(example["target"] in s for s in sentences)
        assert len(set(labels)) == 2 and "" not in labels
        assert lecture.MAX_SENTENCES >= len(sentences) >= 10


def test_the_command_prints_every_layer_of_the_sets_a_model_knows(tiny_bert_dir, capsys):
    assert lecture.main(["--checkpoint", str(tiny_bert_dir)]) == 0
    out = capsys.readouterr().out
    assert "does not know '蘋果': skipped" in out, "the tiny WordPiece vocabulary has no 蘋果"
    assert "target 'bank'" in out or "does not know 'bank'" in out


def test_one_question_in_two_forms_is_answered_over_one_paragraph_with_both_traces(engine):
    paragraph = "the cat sat on the mat in paris"
    record = lecture.same_question(engine, paragraph, ("where is the cat?", "where is the cat?"))
    first, second = record.answers
    assert first.trace is not None and second.trace is not None, "each answer keeps its span matrix"
    assert paragraph[first.start : first.end] == first.text
    assert record.same_span and record.overlap == 1.0, "the same question reads into the same span"
    other = lecture.same_question(engine, paragraph, ("where is the cat?", "what sat on the mat?"))
    assert other.same_span == (
        (other.answers[0].start, other.answers[0].end) == (other.answers[1].start, other.answers[1].end)
    )
    assert 0.0 <= other.overlap <= 1.0


def test_span_overlap_counts_shared_characters_of_the_longer_span():
    from qa_core.answering.records import Answer
    from qa_core.explaining.lecture_records import SameQuestion

    def answer(start: int, end: int) -> Answer:
        return Answer("x" * (end - start), start, end, 0.0, 1.0, (), False)

    assert SameQuestion("", ("a", "b"), (answer(0, 10), answer(5, 10))).overlap == 0.5
    assert SameQuestion("", ("a", "b"), (answer(0, 4), answer(6, 10))).overlap == 0.0
    assert not SameQuestion("", ("a", "b"), (answer(0, 4), answer(0, 5))).same_span
