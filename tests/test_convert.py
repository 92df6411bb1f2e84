"""Converting a file between Traditional and Simplified Chinese: every answer stays on its text, or is dropped and counted."""

from __future__ import annotations

import json

import pytest

from qa_core.data.convert import convert_examples, convert_file, converter, main
from qa_core.data.squad import DataError, Example, GoldAnswer, load_data

TRADITIONAL = "臺灣的首都是臺北市，發展電腦軟體與資訊產業。乾隆皇帝沒有來過。"
SIMPLIFIED = "台湾的首都是台北市，发展电脑软件与信息产业。她的头发很长。"


def _example(qid: str, context: str, *answers: str, title: str = "") -> Example:
    """Each answer at its last occurrence: the first 发 of SIMPLIFIED is in 发展, the one wanted in 头发."""
    golds = tuple(GoldAnswer(a, context.rindex(a)) for a in answers)
    return Example(qid, "哪裡？", context, golds, title)


def _on_their_text(examples: list[Example]) -> bool:
    return all(e.context[a.start : a.start + len(a.text)] == a.text for e in examples for a in e.answers)


def test_traditional_to_simplified_keeps_every_answer_at_its_offset() -> None:
    examples = [
        _example("t1", TRADITIONAL, "臺北市", "首都", title="臺灣"),
        _example("t2", TRADITIONAL, "資訊產業"),
    ]
    conversion = convert_examples(examples, converter("simplified"))
    assert (conversion.dropped_answers, conversion.dropped_questions) == ([], [])
    first, second = conversion.examples
    assert first.context == "台湾的首都是台北市，发展电脑软体与资讯产业。乾隆皇帝没有来过。", (
        "characters, not words"
    )
    assert [a.text for a in first.answers] == ["台北市", "首都"] and second.answers[0].text == "资讯产业"
    assert (first.title, first.question) == ("台湾", "哪里？")
    assert _on_their_text(conversion.examples)


def test_simplified_to_taiwan_traditional_keeps_every_answer_at_its_offset() -> None:
    conversion = convert_examples(
        [_example("s1", SIMPLIFIED, "台北市", "信息产业")], converter("traditional")
    )
    (converted,) = conversion.examples
    assert converted.context == "臺灣的首都是臺北市，發展電腦軟件與信息產業。她的頭髮很長。"
    assert [a.text for a in converted.answers] == ["臺北市", "信息產業"]
    assert _on_their_text(conversion.examples) and conversion.dropped_answers == []


def test_offsets_follow_a_conversion_that_changes_lengths_before_the_answer() -> None:
    longer = lambda text: text.replace("臺", "台灣")  # noqa: E731 - a converter that changes lengths
    conversion = convert_examples([_example("t1", TRADITIONAL, "首都", "臺北市")], longer)
    assert conversion.examples[0].answers == (GoldAnswer("首都", 4), GoldAnswer("台灣北市", 7))
    assert _on_their_text(conversion.examples)


@pytest.mark.parametrize(
    ("to", "context", "answer"),
    [
        ("simplified", TRADITIONAL, "乾"),  # 乾 alone is 干, in 乾隆 it stays
        ("traditional", SIMPLIFIED, "发"),  # 发 alone is 發, in 头发 it is 髮
    ],
)
def test_an_answer_converted_otherwise_than_in_its_paragraph_is_dropped_and_counted(
    to, context, answer
) -> None:
    examples = [_example("lost", context, answer), _example("kept", context, answer, "首都")]
    examples.append(Example("none", "?", context, (), impossible=True))
    conversion = convert_examples(examples, converter(to))
    assert conversion.dropped_answers == ["lost", "kept"]
    assert conversion.dropped_questions == ["lost"], "a question left without an answer is dropped"
    assert [(e.id, len(e.answers)) for e in conversion.examples] == [("kept", 1), ("none", 0)]
    assert conversion.summary() == (
        "kept 2 of 3 questions; dropped 2 answer(s) whose converted text is not at its converted offset "
        "(ids lost, kept) and 1 question(s) left without an answer (ids lost)"
    )


def test_a_homework_file_becomes_squad_json_written_whole_and_the_counts_are_printed(
    tmp_path, capsys
) -> None:
    source, out = tmp_path / "hw7.json", tmp_path / "out" / "simplified.json"
    questions = [
        {
            "id": 0,
            "paragraph_id": 0,
            "question_text": "首都在哪裡？",
            "answer_text": "臺北市",
            "answer_start": 6,
        }
        | {"answer_end": 8},
        {"id": 1, "paragraph_id": 0, "question_text": "誰？", "answer_text": "乾", "answer_start": 22}
        | {"answer_end": 22},
    ]
    source.write_text(json.dumps({"questions": questions, "paragraphs": [TRADITIONAL]}, ensure_ascii=False), encoding="utf-8")
    assert main(["--to", "simplified", "--in", str(source), "--out", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"{out}: kept 1 of 2 questions; dropped 1 answer(s) whose converted text is not at its converted offset "
        "(ids 1) and 1 question(s) left without an answer (ids 1).\n"
    )
    assert "data" in json.loads(out.read_text(encoding="utf-8"))
    (example,) = load_data(out).examples  # the loader refuses an answer not at its offset
    assert (example.id, example.question, example.answers) == (
        "0",
        "首都在哪里？",
        (GoldAnswer("台北市", 6),),
    )
    assert [p.name for p in out.parent.iterdir()] == ["simplified.json"], "no temporary file left"


def test_a_file_whose_every_answer_is_lost_is_refused_and_nothing_written(tmp_path) -> None:
    source, out = tmp_path / "in.json", tmp_path / "out.json"
    paragraph = {
        "context": SIMPLIFIED,
        "qas": [{"id": "q", "question": "?", "answers": [{"text": "发", "answer_start": 25}]}],
    }
    source.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [paragraph]}]}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataError, match="no question kept its answer"):
        convert_file(source, out, "traditional")
    assert not out.exists()
    with pytest.raises(ValueError, match="to must be one of simplified, traditional"):
        converter("cantonese")
