"""The loader turns every supported format into the same examples, and refuses bad files whole."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from qa_core.data.squad import DataError, Example, GoldAnswer, Repairs, load_data, load_examples, write_squad

PARIS = "Paris is the capital of France. The Seine flows through Paris."
TAIPEI = "臺北是臺灣的首都，位於島嶼北部。"


def squad_doc(*qas: dict, context: str = PARIS, title: str = "France") -> dict:
    return {
        "version": "1.1",
        "data": [{"title": title, "paragraphs": [{"context": context, "qas": list(qas)}]}],
    }


def qa(qid: str, text: str = "Paris", start: int = 0, question: str = "What is the capital?") -> dict:
    return {"id": qid, "question": question, "answers": [{"text": text, "answer_start": start}]}


def hw7_doc(*questions: dict, paragraphs: tuple[str, ...] = (TAIPEI,)) -> dict:
    return {"questions": list(questions), "paragraphs": list(paragraphs)}


def hw7_question(qid: int, text: str | None = "臺灣", start: int | None = 3, end: int | None = 4) -> dict:
    return {
        "id": qid,
        "paragraph_id": 0,
        "question_text": "臺北是哪裡的首都？",
        "answer_text": text,
        "answer_start": start,
        "answer_end": end,
    }


def write_json(tmp_path: Path, doc: object, name: str = "data.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def load_error(path: Path, **options) -> str:
    with pytest.raises(DataError) as caught:
        load_examples(path, **options)
    message = str(caught.value)
    assert str(path) in message
    return message


# --- formats -------------------------------------------------------------------------------------------


def test_squad_file_keeps_order_titles_and_all_gold_answers(tmp_path):
    doc = {
        "version": "1.1",
        "data": [
            {
                "title": "France",
                "paragraphs": [
                    {"context": PARIS, "qas": [qa("b2"), qa("a1", "Seine", 36, "Which river?")]},
                    {"context": "The Louvre is a museum.", "qas": [qa("c3", "museum", 16, "What is it?")]},
                ],
            },
            {"title": "More", "paragraphs": [{"context": PARIS, "qas": [qa("d4")]}]},
        ],
    }
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"].append({"text": "Paris", "answer_start": 56})

    examples = load_examples(write_json(tmp_path, doc))

    assert [ex.id for ex in examples] == ["b2", "a1", "c3", "d4"]
    assert [ex.title for ex in examples] == ["France", "France", "France", "More"]
    assert examples[0].answers == (GoldAnswer("Paris", 0), GoldAnswer("Paris", 56))
    assert examples[1] == Example("a1", "Which river?", PARIS, (GoldAnswer("Seine", 36),), "France")
    assert examples[2].context[16:22] == "museum"


def test_squad_integer_ids_become_strings_and_a_missing_title_is_empty(tmp_path):
    doc = {"data": [{"paragraphs": [{"context": PARIS, "qas": [qa(7)]}]}]}  # type: ignore[arg-type]

    (example,) = load_examples(write_json(tmp_path, doc))

    assert example.id == "7"
    assert example.title == ""


def test_drcd_style_chinese_file_with_extra_keys(tmp_path):
    """DRCD and CMRC add ids to articles, paragraphs and answers; they are ignored."""
    doc = {
        "version": "1.3",
        "data": [
            {
                "id": "12",
                "title": "臺北",
                "paragraphs": [
                    {
                        "id": "12-1",
                        "context": TAIPEI,
                        "qas": [
                            {
                                "id": "12-1-1",
                                "question": "臺北位於島嶼的哪裡？",
                                "answers": [
                                    {"id": "1", "text": "北部", "answer_start": 13},
                                    {"id": "2", "text": "島嶼北部", "answer_start": 11},
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }

    (example,) = load_examples(write_json(tmp_path, doc))

    assert example.id == "12-1-1"
    assert example.answers == (GoldAnswer("北部", 13), GoldAnswer("島嶼北部", 11))
    assert [example.context[a.start : a.start + len(a.text)] for a in example.answers] == ["北部", "島嶼北部"]


def test_hw7_answer_end_is_inclusive_and_ids_become_strings(tmp_path):
    # TAIPEI[3:5] == "臺灣": answer_start 3, inclusive answer_end 4.
    doc = hw7_doc(hw7_question(0), hw7_question(1, "首都", 6, 7), paragraphs=(TAIPEI,))

    examples = load_examples(write_json(tmp_path, doc), require_answers=True)

    assert [ex.id for ex in examples] == ["0", "1"]
    assert examples[0] == Example("0", "臺北是哪裡的首都？", TAIPEI, (GoldAnswer("臺灣", 3),))
    assert examples[1].answers == (GoldAnswer("首都", 6),)


def test_hw7_question_picks_its_paragraph(tmp_path):
    question = hw7_question(5, "Seine", 36, 40) | {"paragraph_id": 1}

    (example,) = load_examples(write_json(tmp_path, hw7_doc(question, paragraphs=(TAIPEI, PARIS))))

    assert example.context == PARIS
    assert example.answers == (GoldAnswer("Seine", 36),)


def test_hw7_test_file_with_null_answers_loads_unlabelled(tmp_path):
    doc = hw7_doc(hw7_question(0, None, None, None), hw7_question(1, None, None, None))

    examples = load_examples(write_json(tmp_path, doc))

    assert [(ex.id, ex.answers) for ex in examples] == [("0", ()), ("1", ())]


def test_gzip_file_loads_like_plain_json(tmp_path):
    doc = squad_doc(qa("q1"), context=PARIS)
    plain = write_json(tmp_path, doc)
    packed = tmp_path / "data.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    assert load_examples(packed) == load_examples(plain)


@pytest.mark.parametrize("name", ["sample.json", "sample.json.gz"])
def test_write_squad_round_trips_and_leaves_no_temporary_file(tmp_path, name):
    examples = [
        Example("q1", "What is the capital?", PARIS, (GoldAnswer("Paris", 0), GoldAnswer("Paris", 56)), "A"),
        Example("q2", "Which river?", PARIS, (GoldAnswer("Seine", 36),), "A"),
        Example("q3", "臺北是哪裡的首都？", TAIPEI, (GoldAnswer("臺灣", 3),), "B"),
        Example("q4", "unlabelled", TAIPEI, (), "B"),
    ]

    path = write_squad(examples, tmp_path / name)

    assert load_examples(path) == examples
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert (
        len(
            json.loads(gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_text(encoding="utf-8"))[
                "data"
            ]
        )
        == 2
    )


def test_write_squad_replaces_an_existing_file(tmp_path):
    path = write_json(tmp_path, {"old": True})

    write_squad([Example("q1", "What is the capital?", PARIS, (GoldAnswer("Paris", 0),))], path)

    assert [ex.id for ex in load_examples(path)] == ["q1"]


# --- offsets -------------------------------------------------------------------------------------------


def test_wrong_offset_is_an_error_naming_the_record(tmp_path):
    path = write_json(tmp_path, squad_doc(qa("ok"), qa("off-by-one", "Seine", 37)))

    message = load_error(path)

    assert "'off-by-one'" in message
    assert "answer 'Seine' is not at answer_start 37" in message
    assert "it occurs at 36" in message
    assert "fix_offsets_within" in message
    assert "'ok'" not in message


def test_near_offsets_are_moved_with_one_warning(tmp_path, caplog):
    # "Paris" occurs at 0 and 56; stated 55 is one off from 56 (and far from 0).
    path = write_json(tmp_path, squad_doc(qa("q1", "Seine", 35), qa("q2", "Paris", 55), qa("q3")))

    with caplog.at_level(logging.WARNING, logger="qa_core.data.squad"):
        examples = load_examples(path, fix_offsets_within=2)

    assert [ex.answers for ex in examples] == [
        (GoldAnswer("Seine", 36),),
        (GoldAnswer("Paris", 56),),
        (GoldAnswer("Paris", 0),),
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == (
        f"{path}: moved 2 answer(s) by at most 1 character(s) to where their text occurs (ids q1, q2)."
    )


def test_fix_window_includes_its_edge(tmp_path):
    path = write_json(tmp_path, squad_doc(qa("q1", "Seine", 34)))  # two characters before 36

    assert load_examples(path, fix_offsets_within=2)[0].answers == (GoldAnswer("Seine", 36),)
    assert "'q1'" in load_error(path, fix_offsets_within=1)


def test_offsets_further_than_allowed_stay_an_error(tmp_path):
    path = write_json(tmp_path, squad_doc(qa("far", "Seine", 30)))

    message = load_error(path, fix_offsets_within=2)

    assert "'far'" in message and "it occurs at 36" in message


def test_answer_missing_from_context_is_an_error(tmp_path):
    message = load_error(write_json(tmp_path, squad_doc(qa("q9", "London", 0))), fix_offsets_within=5)

    assert "'q9'" in message and "'London'" in message and "does not occur in the context" in message


def test_negative_offset_is_an_error_not_a_slice_from_the_end(tmp_path):
    context = "Rome. Paris"  # context[-5:] == "Paris" must not count as found
    message = load_error(write_json(tmp_path, squad_doc(qa("neg", "Paris", -5), context=context)))

    assert "'neg'" in message and "answer_start -5" in message


def unusable_offsets_doc() -> dict:
    """Flaws of official files: an answer_start of -1, one off by 5, one off by 1, beside good answers."""
    two_answers = qa("two", "Seine", 36) | {
        "answers": [{"text": "France", "answer_start": 29}, {"text": "Seine", "answer_start": 36}]
    }
    return squad_doc(
        qa("good"),
        qa("minus-one", "capital", -1),
        qa("off-by-5", "France", 29),
        qa("off-by-1", "Seine", 37),
        two_answers,
    )


def test_kept_offsets_leave_every_answer_for_scoring_and_are_counted_in_one_warning(tmp_path, caplog):
    path = write_json(tmp_path, unusable_offsets_doc())

    with caplog.at_level(logging.WARNING, logger="qa_core.data.squad"):
        loaded = load_data(path, bad_offsets="keep")

    assert [ex.id for ex in loaded.examples] == ["good", "minus-one", "off-by-5", "off-by-1", "two"]
    assert [[a.text for a in ex.answers] for ex in loaded.examples][1:] == [
        ["capital"],
        ["France"],
        ["Seine"],
        ["France", "Seine"],
    ]
    assert loaded.repairs == Repairs(kept_bad_offsets=4)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: 4 answer(s) are not at their answer_start (ids minus-one, off-by-5, off-by-1, two); "
        "kept for their text, since only training needs an answer's offset."
    ]


def test_skipped_offsets_keep_what_can_be_repaired_and_count_the_rest_in_one_warning(tmp_path, caplog):
    path = write_json(tmp_path, unusable_offsets_doc())

    with caplog.at_level(logging.WARNING, logger="qa_core.data.squad"):
        loaded = load_data(path, require_answers=True, fix_offsets_within=2, bad_offsets="skip")

    assert {ex.id: ex.answers for ex in loaded.examples} == {
        "good": (GoldAnswer("Paris", 0),),
        "off-by-1": (GoldAnswer("Seine", 36),),
        "two": (GoldAnswer("Seine", 36),),
    }
    assert loaded.repairs == Repairs(moved_answers=1, skipped_answers=3, skipped_questions=2)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: moved 1 answer(s) by at most 1 character(s) to where their text occurs (ids off-by-1); "
        "skipped 3 answer(s) whose text is not at their answer_start (ids minus-one, off-by-5, two); "
        "left out 2 question(s) that had no other answer (ids minus-one, off-by-5)."
    ]


def test_unusable_offsets_do_not_excuse_a_broken_file(tmp_path):
    broken = qa("no-question")
    del broken["question"]
    doc = unusable_offsets_doc()
    doc["data"][0]["paragraphs"][0]["qas"] += [broken, qa("empty", text="")]

    for bad_offsets in ("keep", "skip"):
        with pytest.raises(DataError) as caught:
            load_data(write_json(tmp_path, doc), bad_offsets=bad_offsets)
        message = str(caught.value)
        assert "2 problem(s)" in message
        assert "'no-question' (missing field 'question')" in message
        assert "'empty' (empty answer text at answer_start 0)" in message
        assert "minus-one" not in message


def test_a_file_whose_every_answer_is_skipped_says_so(tmp_path):
    path = write_json(tmp_path, squad_doc(qa("q1", "Seine", -1), qa("q2", "France", 29)))

    with pytest.raises(DataError) as caught:
        load_data(path, bad_offsets="skip")

    assert str(caught.value) == (
        f"{path}: no question has an answer at its stated answer_start; correct the offsets so that "
        "context[answer_start:answer_start + len(text)] is the answer text."
    )


def test_refusing_bad_offsets_stays_the_default_and_an_unknown_choice_is_refused(tmp_path):
    path = write_json(tmp_path, unusable_offsets_doc())

    assert "4 answers whose text is not at their stated offset" in load_error(path)
    with pytest.raises(ValueError, match="^bad_offsets must be one of refuse, keep, skip, got 'fix'.$"):
        load_data(path, bad_offsets="fix")  # type: ignore[arg-type]


# --- bad files -----------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    message = load_error(tmp_path / "nope.json")

    assert "does not exist" in message


def test_directory_is_not_a_file(tmp_path):
    assert "is a directory" in load_error(tmp_path)


def test_file_over_the_size_cap_says_size_and_cap(tmp_path):
    path = write_json(tmp_path, squad_doc(qa("q1")))
    size = path.stat().st_size

    message = load_error(path, max_bytes=100)

    assert f"is {size / 1e6:.1f} MB" in message
    assert "over the 0.0 MB cap" in message
    assert "max_bytes" in message


def test_gzip_that_decompresses_over_the_cap(tmp_path):
    path = tmp_path / "big.json.gz"
    path.write_bytes(gzip.compress(json.dumps(squad_doc(qa("q1", question="x" * 5000))).encode()))

    message = load_error(path, max_bytes=2000)

    assert "holds more than 0.0 MB of JSON" in message


def test_corrupt_gzip_cannot_be_read(tmp_path):
    path = tmp_path / "broken.json.gz"
    path.write_bytes(gzip.compress(b'{"data": []}')[:15])

    assert "cannot be read" in load_error(path)


def test_invalid_json_gives_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [\n  {"title": "x",,}\n]}', encoding="utf-8")

    message = load_error(path)

    assert "is not valid JSON" in message
    assert "line 2, column 17" in message


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"data": [], "title": "café"}'.encode("latin-1"))

    assert "is not UTF-8 text" in load_error(path)


def test_unknown_schema_lists_found_and_expected_keys(tmp_path):
    message = load_error(write_json(tmp_path, {"rows": [], "version": 2}))

    assert "['rows', 'version']" in message
    assert "'data'" in message and "'questions' and 'paragraphs'" in message


def test_top_level_array_is_not_a_known_schema(tmp_path):
    assert "a top level that is an array" in load_error(write_json(tmp_path, [1, 2]))


def test_missing_field_names_the_record_and_field(tmp_path):
    broken = qa("q2")
    del broken["question"]

    message = load_error(write_json(tmp_path, squad_doc(qa("q1"), broken)))

    assert "'q2' (missing field 'question')" in message


def test_wrong_type_names_the_record_field_and_types(tmp_path):
    broken = qa("q3")
    broken["answers"][0]["answer_start"] = "0"

    message = load_error(write_json(tmp_path, squad_doc(broken)))

    assert "'q3' (answers[0]: field 'answer_start' is a string, expected an integer)" in message


def test_record_without_id_is_named_by_its_place(tmp_path):
    broken = qa("x")
    del broken["id"]

    message = load_error(write_json(tmp_path, squad_doc(qa("q1"), broken)))

    assert "data[0].paragraphs[0].qas[1] (missing field 'id')" in message


def test_boolean_is_not_an_offset(tmp_path):
    message = load_error(write_json(tmp_path, hw7_doc(hw7_question(4, "臺", True, 1))))  # type: ignore[arg-type]

    assert "'4' (field 'answer_start' is a boolean, expected an integer or null)" in message


def test_empty_question_and_empty_context(tmp_path):
    doc = squad_doc(qa("blank", question="  "))
    doc["data"][0]["paragraphs"].append({"context": " ", "qas": [qa("nothing")]})

    message = load_error(write_json(tmp_path, doc))

    assert "'blank' (empty question)" in message
    assert "'nothing' (empty context)" in message
    assert "drop_empty_questions" in message


def test_empty_questions_can_be_dropped_with_a_warning(tmp_path, caplog):
    path = write_json(tmp_path, squad_doc(qa("q1"), qa("blank", question="")))

    with caplog.at_level(logging.WARNING, logger="qa_core.data.squad"):
        examples = load_examples(path, drop_empty_questions=True)

    assert [ex.id for ex in examples] == ["q1"]
    assert "left out 1 question(s) with an empty question text (ids blank)" in caplog.text


def test_empty_answer_text(tmp_path):
    message = load_error(write_json(tmp_path, squad_doc(qa("q1", text=""))))

    assert "'q1' (empty answer text at answer_start 0)" in message


def test_no_questions_at_all(tmp_path):
    for doc in ({"data": []}, hw7_doc()):
        assert "holds no questions" in load_error(write_json(tmp_path, doc))


def test_hw7_answer_end_inconsistent_with_text(tmp_path):
    # Exclusive end 5 instead of inclusive 4.
    message = load_error(write_json(tmp_path, hw7_doc(hw7_question(0), hw7_question(1, "臺灣", 3, 5))))

    assert "'1' (answer_end is 5 but answer_start 3 + 2 characters - 1 = 4)" in message
    assert "answer_end is inclusive" in message


def test_hw7_partly_null_answer(tmp_path):
    message = load_error(write_json(tmp_path, hw7_doc(hw7_question(2, "臺灣", None, None))))

    assert "'2' (answer_text, answer_start and answer_end must be all set or all null)" in message


def test_hw7_paragraph_id_out_of_range(tmp_path):
    question = hw7_question(3) | {"paragraph_id": 9}

    message = load_error(write_json(tmp_path, hw7_doc(question)))

    assert "'3' (paragraph_id 9 is out of range: the file has 1 paragraphs)" in message


def test_require_answers_on_a_test_file_explains_why(tmp_path):
    doc = hw7_doc(*(hw7_question(i, None, None, None) for i in range(8)))
    path = write_json(tmp_path, doc)

    message = load_error(path, require_answers=True)

    assert "8 questions without answers" in message
    assert "id '0' (no answer); id '1' (no answer); id '2' (no answer);" in message
    assert "id '4' (no answer); and 3 more." in message
    assert "test file without answers" in message
    assert "'5'" not in message
    assert len(load_examples(path)) == 8


def test_duplicate_ids(tmp_path):
    message = load_error(write_json(tmp_path, squad_doc(qa("same"), qa("other"), qa("same"))))

    assert "1 duplicate question ids: id 'same' (2 questions)" in message


def test_all_problems_are_listed_in_one_error(tmp_path):
    broken = qa("q4")
    del broken["answers"]
    doc = squad_doc(qa("q1", "Seine", 30), qa("q2", question=""), qa("q3"), broken)

    message = load_error(write_json(tmp_path, doc))

    assert "3 problem(s)" in message
    assert "'q1'" in message and "'q2'" in message and "'q4'" in message
    assert "'q3'" not in message
    assert message.count("Fix:") == 3


def test_negative_fix_window_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fix_offsets_within"):
        load_examples(write_json(tmp_path, squad_doc(qa("q1"))), fix_offsets_within=-1)


# --- naming the file -----------------------------------------------------------------------------------


def _bad_files(folder: Path) -> dict[str, tuple[Path, dict]]:
    """A file (and load options) for each message the loader can give about a whole file."""
    folder.mkdir()
    gzipped = folder / "big.json.gz"
    gzipped.write_bytes(gzip.compress(json.dumps(squad_doc(qa("q1", question="x" * 5000))).encode()))
    broken_gzip = folder / "broken.json.gz"
    broken_gzip.write_bytes(gzip.compress(b'{"data": []}')[:15])
    not_json, latin1 = folder / "bad.json", folder / "latin1.json"
    not_json.write_text("{,}", encoding="utf-8")
    latin1.write_bytes('{"data": [], "t": "café"}'.encode("latin-1"))
    return {
        "missing": (folder / "nope.json", {}),
        "directory": (folder, {}),
        "too big": (write_json(folder, squad_doc(qa("q1")), "a.json"), {"max_bytes": 10}),
        "gzip over the cap": (gzipped, {"max_bytes": 2000}),
        "corrupt gzip": (broken_gzip, {}),
        "not JSON": (not_json, {}),
        "not UTF-8": (latin1, {}),
        "unknown format": (write_json(folder, {"rows": []}, "b.json"), {}),
        "bad records": (
            write_json(folder, squad_doc(qa("q1", "Seine", 30), qa("q2", text="")), "c.json"),
            {},
        ),
        "no questions": (write_json(folder, {"data": []}, "d.json"), {}),
        "no answers": (
            write_json(folder, hw7_doc(hw7_question(1, None, None, None)), "e.json"),
            {"require_answers": True},
        ),
        "every answer skipped": (
            write_json(folder, squad_doc(qa("q1", "Seine", -1)), "f.json"),
            {"bad_offsets": "skip"},
        ),
    }


WHOLE_FILE_PROBLEMS = [
    "missing",
    "directory",
    "too big",
    "gzip over the cap",
    "corrupt gzip",
    "not JSON",
    "not UTF-8",
    "unknown format",
    "bad records",
    "no questions",
    "no answers",
    "every answer skipped",
]


@pytest.mark.parametrize("kind", WHOLE_FILE_PROBLEMS)
def test_messages_name_the_file_by_the_name_given_and_never_by_its_folder(tmp_path, kind):
    files = _bad_files(tmp_path / "server-side-folder")
    assert sorted(files) == sorted(WHOLE_FILE_PROBLEMS)
    path, options = files[kind]

    with pytest.raises(DataError) as caught:
        load_data(path, name="my upload.json", **options)

    message = str(caught.value)
    assert message.startswith("my upload.json")
    assert "server-side-folder" not in message and str(tmp_path) not in message


def test_a_file_that_cannot_be_opened_is_named_without_the_path_the_system_error_carries(
    tmp_path, monkeypatch
):
    path = write_json(tmp_path, squad_doc(qa("q1")))

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(DataError) as caught:
        load_data(path, name="mine.json")

    assert str(caught.value) == (
        "mine.json cannot be read (Permission denied); check that it is a readable, complete file."
    )


# --- SQuAD 2.0 -----------------------------------------------------------------------------------------


def unanswerable(qid: str, question: str = "What is the capital of Spain?") -> dict:
    """A SQuAD 2.0 question whose paragraph does not hold the answer, with the near miss 2.0 files carry."""
    plausible = [{"text": "Paris", "answer_start": 0}]
    return {
        "id": qid,
        "question": question,
        "answers": [],
        "plausible_answers": plausible,
        "is_impossible": True,
    }


def test_squad2_unanswerable_question_loads_as_impossible_labelled_data(tmp_path):
    answerable = {**qa("a1"), "is_impossible": False}
    doc = {**squad_doc(answerable, unanswerable("n1")), "version": "v2.0"}

    examples = load_examples(write_json(tmp_path, doc), require_answers=True)

    assert examples == [
        Example("a1", "What is the capital?", PARIS, (GoldAnswer("Paris", 0),), "France"),
        Example("n1", "What is the capital of Spain?", PARIS, (), "France", impossible=True),
    ]


def test_squad2_question_marked_impossible_but_answered_is_refused_by_its_id(tmp_path):
    contradictory = {**qa("both"), "is_impossible": True}
    path = write_json(tmp_path, squad_doc(unanswerable("n1"), contradictory))

    message = load_error(path)

    assert "1 questions marked \"is_impossible\": true that have answers: id 'both' (1 answer(s))." in message
    assert '"answers": []' in message and "plausible_answers" in message
    assert "'n1'" not in message


def test_squad2_answerable_question_without_answers_is_refused_where_answers_are_required(tmp_path):
    unlabelled = {"id": "u1", "question": "What is the capital?", "answers": [], "is_impossible": False}
    path = write_json(tmp_path, squad_doc(unanswerable("n1"), unlabelled))

    message = load_error(path, require_answers=True)

    assert "1 questions without answers: id 'u1' (no answer)." in message
    assert '"is_impossible": true' in message
    assert [(ex.id, ex.impossible) for ex in load_examples(path)] == [("n1", True), ("u1", False)]


def test_squad2_is_impossible_must_be_a_boolean(tmp_path):
    message = load_error(write_json(tmp_path, squad_doc({**unanswerable("n1"), "is_impossible": "yes"})))

    assert "id 'n1' (field 'is_impossible' is a string, expected a boolean)" in message


def test_write_squad_writes_v2_when_a_question_is_impossible_and_round_trips(tmp_path):
    examples = [
        Example("a1", "What is the capital?", PARIS, (GoldAnswer("Paris", 0),), "A"),
        Example("n1", "What is the capital of Spain?", PARIS, (), "A", impossible=True),
    ]

    path = write_squad(examples, tmp_path / "v2.json")

    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["version"] == "v2.0"
    assert [(q["id"], q["answers"], q["is_impossible"]) for q in doc["data"][0]["paragraphs"][0]["qas"]] == [
        ("a1", [{"text": "Paris", "answer_start": 0}], False),
        ("n1", [], True),
    ]
    assert load_examples(path, require_answers=True) == examples


def test_write_squad_stays_v1_without_impossible_questions(tmp_path):
    path = write_squad(
        [Example("a1", "What is the capital?", PARIS, (GoldAnswer("Paris", 0),))], tmp_path / "v1.json"
    )

    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["version"] == "1.1"
    assert doc["data"][0]["paragraphs"][0]["qas"] == [
        {"id": "a1", "question": "What is the capital?", "answers": [{"text": "Paris", "answer_start": 0}]}
    ]
