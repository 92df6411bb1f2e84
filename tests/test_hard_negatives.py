"""Hard negatives: the key entity is really swapped, the answer's sentence really replaced, the rest intact."""

from __future__ import annotations

import random

from qa_core.answering.sentences import sentence_around, sentence_spans
from qa_core.data.hard_negatives import SwapPool, entity_swapped, key_entity, sentence_replaced
from qa_core.data.negatives import DEFAULT_KINDS, make_negatives
from qa_core.data.squad import Example, GoldAnswer

TOWER = "The Eiffel Tower is in Paris. It was built in 1889 for a fair. Millions visit it each year."
TAIPEI = "台北是臺灣的首都。台北101在1999年動工。每年颱風很多。"


def _example(qid: str, question: str, context: str, answer: str, title: str = "t") -> Example:
    return Example(qid, question, context, (GoldAnswer(answer, context.index(answer)),), title)


def _pool() -> SwapPool:
    """A file whose other questions and answers give numbers, English names and Chinese names to swap in."""
    others = [
        _example("a", "When was 1875 mentioned?", "Built in 1875.", "1875"),
        _example("b", "Who?", "Victor Hugo wrote it.", "Victor Hugo"),
        _example("c", "Where?", "It is in London.", "London"),
        _example("d", "哪裡？", "高雄市在南部。", "高雄市"),
        _example("e", "哪裡？", "臺中市在中部。", "臺中市"),
        _example("f", "幾個？", "有一個。", "一個"),  # a counting word, never a name to swap in
    ]
    return SwapPool.of(others)


def test_a_number_the_paragraph_writes_is_swapped_for_one_of_the_same_form_it_never_writes() -> None:
    example = _example("q", "What was built in 1889 in Paris?", TOWER, "It")
    negative = entity_swapped(example, _pool(), random.Random(0))
    assert negative.question == "What was built in 1875 in Paris?"
    assert (negative.id, negative.context, negative.answers, negative.impossible) == (
        "q-entity_swapped",
        TOWER,
        (),
        True,
    )
    assert "1875" not in negative.context


def test_an_english_name_is_swapped_when_the_question_has_no_number() -> None:
    example = _example("q", "In which city is the tower, Paris?", TOWER, "Paris")
    negative = entity_swapped(example, _pool(), random.Random(0))
    assert negative.question == "In which city is the tower, London?"


def test_a_chinese_name_is_swapped_for_one_that_ends_alike_and_counting_words_are_no_names() -> None:
    context = "高雄市是港口。它在南部。"
    example = _example("q", "高雄市是什麼？", context, "港口")
    negative = entity_swapped(example, _pool(), random.Random(0))
    assert negative.question == "臺中市是什麼？", "the same last character, never a counting word like 一個"
    assert "一個" not in SwapPool.of([_example("f", "?", "有一個。", "一個")]).chinese.get(2, ())


def test_no_swap_without_a_key_entity_the_paragraph_writes_or_without_a_replacement() -> None:
    pool = _pool()
    assert key_entity("What does it do?", TOWER, pool) is None
    assert entity_swapped(_example("q", "What does it do?", TOWER, "It"), pool, random.Random(0)) is None
    one = SwapPool.of([_example("a", "In 1889?", "In 1889.", "1889")])
    assert entity_swapped(_example("q", "Built in 1889?", TOWER, "It"), one, random.Random(0)) is None


def test_the_answer_sentence_is_replaced_by_the_closest_sentence_of_another_paragraph() -> None:
    article = [
        TAIPEI,
        "台北的天氣很好。台北101是高樓。",
        "高雄在南部。",
    ]
    example = _example("q", "台北101在哪一年動工？", TAIPEI, "1999年")
    negative = sentence_replaced(example, article)
    old = sentence_around(TAIPEI, TAIPEI.index("1999"), TAIPEI.index("1999") + 5)
    start = TAIPEI.index(old)
    assert negative.context == TAIPEI[:start] + "台北101是高樓。" + TAIPEI[start + len(old) :]
    assert "1999年" not in negative.context
    assert negative.context[:start] == TAIPEI[:start], "the text before keeps its offsets"
    assert negative.context.endswith(TAIPEI[start + len(old) :]), "the text after is whole"
    assert (negative.id, negative.question, negative.impossible) == (
        "q-sentence_replaced",
        example.question,
        True,
    )


def test_the_new_sentence_takes_the_old_ones_trailing_white_space() -> None:
    article = [TOWER, "The tower was built of iron"]
    example = _example("q", "When was the tower built?", TOWER, "1889")
    negative = sentence_replaced(example, article)
    assert (
        negative.context
        == "The Eiffel Tower is in Paris. The tower was built of iron Millions visit it each year."
    )
    assert [negative.context[a:b] for a, b in sentence_spans(negative.context)][
        0
    ] == "The Eiffel Tower is in Paris. "


def test_no_replacement_when_every_other_sentence_holds_the_answer_or_there_is_no_other_paragraph() -> None:
    example = _example("q", "When was it built?", TOWER, "1889")
    assert sentence_replaced(example, [TOWER]) is None
    assert sentence_replaced(example, [TOWER, "Again in 1889 it was."]) is None


def test_the_hard_kinds_take_turns_with_the_others_and_are_not_made_by_default() -> None:
    assert DEFAULT_KINDS == ("answer_removed", "other_paragraph")
    examples = [
        _example("q1", "What was built in 1889 in Paris?", TOWER, "fair", title="Paris"),
        _example("q2", "When was it built?", TOWER, "1889", title="Paris"),
        _example("q3", "Where is Lyon?", "Lyon is south. It is old.", "south", title="Paris"),
        _example("q4", "In 1875?", "The Seine flows west in 1875. It is long.", "west", title="Paris"),
    ]
    kinds = ["entity_swapped", "sentence_replaced"]
    made = make_negatives(examples, 1.0, kinds, seed=0)
    assert made == make_negatives(examples, 1.0, kinds, seed=0), "the same seed makes the same negatives"
    assert made["entity_swapped"] and made["sentence_replaced"]
    for negative in made["sentence_replaced"]:
        source = next(e for e in examples if negative.id.startswith(e.id + "-"))
        assert source.answers[0].text not in negative.context
