"""Unanswerable questions made from answerable ones: the fact is really gone, and the same seed makes the same."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from qa_core.data.negatives import answer_removed, make_negatives, other_paragraph, sentence_spans
from qa_core.data.squad import Example, GoldAnswer

TAIPEI = "台北是臺灣的首都。高雄在南部，是港口！「天氣好嗎？」\n每年颱風很多。"
PARIS = "The Eiffel Tower is in Paris. It was built in 1889 for a fair! Who climbs it?\nMillions each year."


def _example(qid: str, context: str, answer: str, title: str = "", after: int = 0) -> Example:
    return Example(qid, "問題？", context, (GoldAnswer(answer, context.index(answer, after)),), title)


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_sentences_end_at_chinese_and_english_marks_closing_quotes_and_newlines() -> None:
    assert _sentences(TAIPEI) == [
        "台北是臺灣的首都。",
        "高雄在南部，是港口！",
        "「天氣好嗎？」\n",
        "每年颱風很多。",
    ]
    assert _sentences(PARIS) == [
        "The Eiffel Tower is in Paris. ",
        "It was built in 1889 for a fair! ",
        "Who climbs it?\n",
        "Millions each year.",
    ]
    assert _sentences("Pi is 3.14, see example.com for more") == ["Pi is 3.14, see example.com for more"]
    assert _sentences("line one\nline two") == ["line one\n", "line two"]
    assert "".join(_sentences(TAIPEI)) == TAIPEI and _sentences("") == []


@pytest.mark.parametrize(
    ("context", "answer", "rest"),
    [
        (TAIPEI, "港口", "台北是臺灣的首都。「天氣好嗎？」\n每年颱風很多。"),
        (TAIPEI, "首都", "高雄在南部，是港口！「天氣好嗎？」\n每年颱風很多。"),
        (PARIS, "1889", "The Eiffel Tower is in Paris. Who climbs it?\nMillions each year."),
        (
            PARIS,
            "Millions",
            "The Eiffel Tower is in Paris. It was built in 1889 for a fair! Who climbs it?\n",
        ),
    ],
)
def test_the_sentence_holding_the_answer_is_gone_and_the_others_stay_in_order(context, answer, rest) -> None:
    example = _example("q1", context, answer, title="t")
    negative = answer_removed(example)
    assert negative == Example("q1-answer_removed", "問題？", rest, (), "t", impossible=True)
    assert answer not in negative.context
    kept = [s for s in _sentences(context) if answer not in s]
    assert negative.context == "".join(kept), "every other sentence, whole and in its order"


@pytest.mark.parametrize(
    ("context", "answer"),
    [
        ("台北是首都。首都很大。", "首都"),  # the answer's text is still in the next sentence
        ("台北是臺灣的首都。高雄在南部。", "首都。高雄"),  # the answer runs over a sentence end
        ("台北是臺灣的首都，位於島嶼北部。", "首都"),  # nothing would be left
    ],
)
def test_no_negative_when_the_fact_would_not_really_be_gone(context, answer) -> None:
    assert answer_removed(_example("q", context, answer)) is None


def test_every_answer_of_a_question_must_be_gone() -> None:
    context = "台北是臺灣的首都。臺北市也在北部。"
    example = Example("q", "?", context, (GoldAnswer("台北", 0), GoldAnswer("臺北市", 9)))
    assert answer_removed(example) is None


ARTICLE = [
    "台北是臺灣的首都。人口很多。",
    "台北有一百零一層的大樓。很高。",
    "高雄在南部，是港口。天氣熱。",
    "臺中在中部。氣候好。",
]


def test_another_paragraph_of_the_same_article_without_the_answer_is_drawn() -> None:
    example = _example("q2", ARTICLE[0], "台北", title="臺灣")
    drawn = {other_paragraph(example, ARTICLE, random.Random(seed)).context for seed in range(20)}
    assert drawn == {ARTICLE[2], ARTICLE[3]}, "never its own paragraph, never one that holds 台北"
    negative = other_paragraph(example, ARTICLE, random.Random(0))
    assert (negative.id, negative.answers, negative.impossible, negative.title) == (
        "q2-other_paragraph",
        (),
        True,
        "臺灣",
    )
    assert other_paragraph(example, ARTICLE[:2], random.Random(0)) is None


def _questions() -> list[Example]:
    """Two articles of two-sentence paragraphs, each question answerable both ways, and one without a title."""
    answers = ["首都", "大樓", "港口", "中部"]
    examples = [
        _example(f"tw-{i}", p, a, title="臺灣") for i, (p, a) in enumerate(zip(ARTICLE, answers, strict=True))
    ]
    paris = {"Paris": "The tower is in Paris. It is tall.", "Seine": "The river is the Seine. It flows west."}
    paris["Lyon"] = "Lyon is south. It is old."
    examples += [_example(f"fr-{a}", p, a, title="France") for a, p in paris.items()]
    return [*examples, _example("untitled", "沒有標題的段落。第二句。", "標題")]


def test_negatives_come_by_share_in_turns_and_the_same_seed_makes_the_same_ones() -> None:
    examples = _questions()
    made = make_negatives(examples, 0.5, ["answer_removed", "other_paragraph"], seed=3)
    assert sorted(len(m) for m in made.values()) == [2, 2], "half of 8 questions, the kinds taking turns"
    negatives = [n for kind in made.values() for n in kind]
    sources = {e.id: e for e in examples}
    for kind, kind_made in made.items():
        for negative in kind_made:
            source = sources[negative.id.removesuffix(f"-{kind}")]
            assert negative.impossible and negative.answers == () and negative.question == source.question
            assert source.answers[0].text not in negative.context
            assert negative.title == source.title
    assert len({n.id.rsplit("-", 1)[0] for n in negatives}) == 4, "each from a different question"
    assert make_negatives(examples, 0.5, ["answer_removed", "other_paragraph"], seed=3) == made
    others = [
        make_negatives(examples, 0.5, ["answer_removed", "other_paragraph"], seed=s) for s in range(4, 9)
    ]
    assert any(other != made for other in others), "another seed draws other questions"


def test_only_the_kinds_asked_for_and_none_at_share_zero() -> None:
    examples = _questions()
    made = make_negatives(examples, 1.0, ["other_paragraph"], seed=0)
    assert list(made) == ["other_paragraph"]
    assert len(made["other_paragraph"]) == 7, "every titled question; an untitled one names no article"
    assert make_negatives(examples, 0.0, ["answer_removed"], seed=0) == {"answer_removed": []}


def test_impossible_questions_are_not_made_into_negatives_again() -> None:
    impossible = replace(_example("imp", ARTICLE[0], "台北", title="臺灣"), answers=(), impossible=True)
    made = make_negatives(
        [impossible, _example("q", ARTICLE[2], "高雄", title="臺灣")], 1.0, ["other_paragraph"], 0
    )
    assert [n.id for n in made["other_paragraph"]] == ["q-other_paragraph"]
