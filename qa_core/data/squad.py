"""Load extractive reading-comprehension data: SQuAD (v1.1 and 2.0), CMRC 2018, DRCD and the homework's HW7.

Every format becomes the same list of :class:`Example`, in file order, so training, evaluation and the
homework's CSV share one code path. A bad file fails whole and loudly: a :class:`DataError` lists every
kind of problem at once (the first few record ids of each and a count), so a person can fix the file in
one pass instead of meeting one crash at a time, and no caller ever trains on half a file.

Answers whose text is not at their stated offset are the commonest flaw of official releases (CMRC
2018's dev file has about 170), so the caller chooses (``bad_offsets``): refuse the file, keep such answers
for their text (answering and scoring read only the text) or skip them (training needs the offset). What
was kept, moved or skipped is counted in :class:`Repairs` and logged, never done silently.

A SQuAD 2.0 question whose paragraph does not hold its answer (``"is_impossible": true``, ``"answers": []``)
is labelled data, not a test question: it loads as ``impossible`` with no answers, and its
``plausible_answers`` are ignored, since neither training nor scoring uses them.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from qa_core.files import write_bytes_atomically

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 200_000_000
_SHOWN = 5  # records named per kind of problem; the rest are only counted
_GZIP_MAGIC = b"\x1f\x8b"
_REQUIRED = object()
BadOffsets = Literal["refuse", "keep", "skip"]  # what loading does with an answer not at its offset


@dataclass(frozen=True)
class GoldAnswer:
    """One annotated answer; after loading, ``context[start:start + len(text)] == text`` holds.

    The one exception: an answer kept with ``bad_offsets="keep"`` has the start its file states.
    """

    text: str
    start: int


@dataclass(frozen=True)
class Example:
    """One question about one context, with its gold answers (none for an unlabelled test file)."""

    id: str
    question: str
    context: str
    answers: tuple[GoldAnswer, ...]
    title: str = ""
    impossible: bool = False  # SQuAD 2.0's is_impossible: the paragraph does not hold the answer


class DataError(ValueError):
    """A data file cannot be used as it is; the message names the file, the records, and the fix."""


@dataclass(frozen=True)
class Repairs:
    """What loading changed or left out, counted so that a caller can report it as well as the log."""

    moved_answers: int = 0  # moved onto their text, found within fix_offsets_within characters
    kept_bad_offsets: int = 0  # not at their offset, kept for their text (bad_offsets="keep")
    skipped_answers: int = 0  # not at their offset, left out (bad_offsets="skip")
    skipped_questions: int = 0  # left without any answer by the skipping, so left out too
    dropped_questions: int = 0  # an empty question text, left out (drop_empty_questions)


@dataclass(frozen=True)
class LoadedData:
    """The examples of a file, in file order, and what loading repaired on the way."""

    examples: list[Example]
    repairs: Repairs


@dataclass(frozen=True)
class _Kind:
    what: str
    fix: str


_STRUCTURE = _Kind(
    "records with a missing field or a field of the wrong type",
    "give every record the fields of its format, with the types the format uses",
)
_EMPTY = _Kind("records with an empty context or answer text", "fill in the text or remove the record")
_EMPTY_QUESTION = _Kind(
    "questions with an empty question text",
    "write the question, or pass drop_empty_questions=True to leave these questions out",
)
_OFFSET = _Kind(
    "answers whose text is not at their stated offset",
    "correct answer_start so that context[answer_start:answer_start + len(text)] is the answer text, "
    "or pass fix_offsets_within=N to move answers found within N characters of their offset",
)
_HW7_END = _Kind(
    "HW7 answers whose answer_end does not match answer_text",
    "answer_end is inclusive: make it answer_start + len(answer_text) - 1",
)
_NO_ANSWERS = _Kind(
    "questions without answers",
    "this looks like a test file without answers (such as the homework's test file); training and "
    "scoring need a file whose questions have answers. In a SQuAD 2.0 file, mark a question whose "
    'paragraph does not hold the answer with "is_impossible": true',
)
_IMPOSSIBLE_ANSWERED = _Kind(
    'questions marked "is_impossible": true that have answers',
    'give an unanswerable question "answers": [] (SQuAD 2.0 keeps its near misses in "plausible_answers"), '
    'or set "is_impossible" to false if the paragraph does hold the answer',
)
_DUPLICATE = _Kind("duplicate question ids", "give every question its own id: predictions are keyed by id")


class _BadRecord(Exception):
    def __init__(self, kind: _Kind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass
class _Findings:
    """Problems and repairs gathered over the whole file, reported once at the end."""

    problems: dict[_Kind, list[str]] = field(default_factory=dict)
    moved: list[tuple[str, int]] = field(default_factory=list)  # (question id, shift) per moved answer
    kept: list[str] = field(default_factory=list)  # question id per answer kept despite its offset
    skipped: list[str] = field(default_factory=list)  # question id per answer skipped for its offset
    skipped_questions: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @contextmanager
    def record(self, label: str) -> Iterator[None]:
        """Note a bad record and carry on with the next one, so a single error can list them all."""
        try:
            yield
        except _BadRecord as bad:
            self.add(bad.kind, label, bad.detail)

    def add(self, kind: _Kind, label: str, detail: str) -> None:
        self.problems.setdefault(kind, []).append(f"{label} ({detail})")

    def error(self, name: str) -> DataError:
        total = sum(len(items) for items in self.problems.values())
        lines = [f"{name}: cannot load reading-comprehension data, {total} problem(s):"]
        for kind, items in self.problems.items():
            more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            lines.append(f"- {len(items)} {kind.what}: {'; '.join(items[:_SHOWN])}{more}.")
            lines.append(f"  Fix: {kind.fix}.")
        return DataError("\n".join(lines))

    def repairs(self) -> Repairs:
        return Repairs(
            moved_answers=len(self.moved),
            kept_bad_offsets=len(self.kept),
            skipped_answers=len(self.skipped),
            skipped_questions=len(self.skipped_questions),
            dropped_questions=len(self.dropped),
        )

    def log(self, name: str) -> None:
        """One warning for what was done about offsets, one for dropped questions: a person reads both."""
        if notes := self._offset_notes():
            logger.warning("%s: %s.", name, "; ".join(notes))
        if self.dropped:
            logger.warning(
                "%s: left out %d question(s) with an empty question text (ids %s).",
                name,
                len(self.dropped),
                _ids(self.dropped),
            )

    def _offset_notes(self) -> list[str]:
        notes = []
        if self.moved:
            shift = max(shift for _id, shift in self.moved)
            notes.append(
                f"moved {len(self.moved)} answer(s) by at most {shift} character(s) to where their text "
                f"occurs (ids {_ids(i for i, _shift in self.moved)})"
            )
        if self.kept:
            notes.append(
                f"{len(self.kept)} answer(s) are not at their answer_start (ids {_ids(self.kept)}); kept for "
                "their text, since only training needs an answer's offset"
            )
        if self.skipped:
            notes.append(
                f"skipped {len(self.skipped)} answer(s) whose text is not at their answer_start "
                f"(ids {_ids(self.skipped)})"
            )
        if self.skipped_questions:
            notes.append(
                f"left out {len(self.skipped_questions)} question(s) that had no other answer "
                f"(ids {_ids(self.skipped_questions)})"
            )
        return notes


def _ids(ids: Iterable[str]) -> str:
    """The first few distinct ids, and how many more there are."""
    distinct = list(dict.fromkeys(ids))
    more = f" and {len(distinct) - _SHOWN} more" if len(distinct) > _SHOWN else ""
    return ", ".join(distinct[:_SHOWN]) + more


def load_examples(path: str | Path, **options: Any) -> list[Example]:
    """The examples of :func:`load_data` (same options), for callers that need not report repairs."""
    return load_data(path, **options).examples


@dataclass(frozen=True)
class _Rules:
    """What a caller allows; every repair is opt-in, because silently repairing would hide a broken export."""

    require_answers: bool
    fix_offsets_within: int
    bad_offsets: BadOffsets
    drop_empty_questions: bool


def load_data(
    path: str | Path,
    *,
    require_answers: bool = False,
    fix_offsets_within: int = 0,
    bad_offsets: BadOffsets = "refuse",
    max_bytes: int = DEFAULT_MAX_BYTES,
    drop_empty_questions: bool = False,
    name: str | None = None,
) -> LoadedData:
    """Read a SQuAD-style or HW7 file (``.json`` or gzip ``.json.gz``) into examples in file order.

    Raises :class:`DataError` naming every problem found; nothing is returned from a bad file. Real
    releases need the repairs (the CMRC 2018 trial file has answers one character off and two questions
    with no text), so they are offered, counted and logged. ``name`` is how messages name the file
    (default: the path), so a server can name an upload as its owner called it, not by a server path.
    """
    if fix_offsets_within < 0:
        raise ValueError(f"fix_offsets_within must be 0 or more characters, got {fix_offsets_within}.")
    if bad_offsets not in get_args(BadOffsets):
        raise ValueError(
            f"bad_offsets must be one of {', '.join(get_args(BadOffsets))}, got {bad_offsets!r}."
        )
    path, name = Path(path), name or str(path)
    rules = _Rules(require_answers, fix_offsets_within, bad_offsets, drop_empty_questions)
    findings = _Findings()
    parsed = _parse(_read_json(path, max_bytes, name), name, findings)
    examples = _checked(parsed, findings, rules)
    _check_unique_ids(parsed, findings)
    if findings.problems:
        raise findings.error(name)
    if not examples and findings.skipped_questions:
        raise DataError(
            f"{name}: no question has an answer at its stated answer_start; correct the offsets so that "
            "context[answer_start:answer_start + len(text)] is the answer text."
        )
    if not examples:
        raise DataError(f"{name} holds no questions; give it at least one question with its context.")
    findings.log(name)
    return LoadedData(examples, findings.repairs())


def _read_json(path: Path, max_bytes: int, name: str) -> Any:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"{name} {what}; give the path of a SQuAD-style or HW7 .json or .json.gz file.")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_big(name, f"is {_megabytes(size)}", max_bytes)
        with path.open("rb") as raw:
            opener = gzip.open if raw.read(2) == _GZIP_MAGIC else open
        with opener(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{name} cannot be read ({_reason(err)}); check that it is a readable, complete file."
        ) from err
    if len(data) > max_bytes:
        raise _too_big(name, f"holds more than {_megabytes(max_bytes)} of JSON", max_bytes)
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{name} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}; "
            "fix the file there or export it again."
        ) from err
    except UnicodeDecodeError as err:
        raise DataError(f"{name} is not UTF-8 text ({err.reason}); save it again as UTF-8.") from err


def _reason(err: BaseException) -> str:
    """Why reading failed, without the path an OSError carries: the message names the file its own way."""
    if isinstance(err, OSError) and err.filename is not None:
        return err.strerror or type(err).__name__
    return str(err) or type(err).__name__


def _too_big(name: str, amount: str, max_bytes: int) -> DataError:
    return DataError(
        f"{name} {amount}, over the {_megabytes(max_bytes)} cap (max_bytes); "
        "pass a larger max_bytes if the file really is this big, or split it."
    )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _parse(doc: Any, name: str, findings: _Findings) -> list[Example]:
    if isinstance(doc, dict) and "data" in doc:
        return _squad_examples(doc, findings)
    if isinstance(doc, dict) and {"questions", "paragraphs"} <= doc.keys():
        return _hw7_examples(doc, findings)
    found = (
        f"top-level keys {sorted(doc)}" if isinstance(doc, dict) else f"a top level that is {_json_type(doc)}"
    )
    raise DataError(
        f"{name}: unrecognised format: found {found}; expected an object with 'data' (SQuAD, CMRC 2018, "
        "DRCD) or with 'questions' and 'paragraphs' (HW7). Convert the file to one of these formats."
    )


def _squad_examples(doc: dict, findings: _Findings) -> list[Example]:
    examples: list[Example] = []
    with findings.record("top level"):
        for a, article in enumerate(_field(doc, "data", list)):
            with findings.record(f"data[{a}]"):
                title = _field(article, "title", str, default="")
                for p, paragraph in enumerate(_field(article, "paragraphs", list)):
                    examples += _squad_paragraph(paragraph, title, f"data[{a}].paragraphs[{p}]", findings)
    return examples


def _squad_paragraph(paragraph: Any, title: str, where: str, findings: _Findings) -> list[Example]:
    examples: list[Example] = []
    with findings.record(where):
        context = _field(paragraph, "context", str)
        for q, qa in enumerate(_field(paragraph, "qas", list)):
            with findings.record(_label(qa, f"{where}.qas[{q}]")):
                examples.append(_squad_question(qa, context, title))
    return examples


def _squad_question(qa: Any, context: str, title: str) -> Example:
    """One question; SQuAD 2.0's ``is_impossible`` (v1.1 has none: answerable) must agree with its answers."""
    answers = tuple(
        GoldAnswer(
            _field(answer, "text", str, where=f"answers[{i}]"),
            _field(answer, "answer_start", int, where=f"answers[{i}]"),
        )
        for i, answer in enumerate(_field(qa, "answers", list))
    )
    impossible = _field(qa, "is_impossible", bool, default=False)
    if impossible and answers:
        raise _BadRecord(_IMPOSSIBLE_ANSWERED, f"{len(answers)} answer(s)")
    question = _field(qa, "question", str)
    return Example(str(_field(qa, "id", (str, int))), question, context, answers, title, impossible)


def _hw7_examples(doc: dict, findings: _Findings) -> list[Example]:
    examples: list[Example] = []
    with findings.record("top level"):
        paragraphs = _field(doc, "paragraphs", list)
        for i, record in enumerate(_field(doc, "questions", list)):
            with findings.record(_label(record, f"questions[{i}]")):
                examples.append(_hw7_example(record, paragraphs))
    return examples


def _hw7_example(record: Any, paragraphs: list) -> Example:
    paragraph_id = _field(record, "paragraph_id", int)
    if not 0 <= paragraph_id < len(paragraphs):
        raise _BadRecord(
            _STRUCTURE,
            f"paragraph_id {paragraph_id} is out of range: the file has {len(paragraphs)} paragraphs",
        )
    context = paragraphs[paragraph_id]
    if not isinstance(context, str):
        raise _BadRecord(
            _STRUCTURE, f"paragraphs[{paragraph_id}] is {_json_type(context)}, expected a string"
        )
    question = _field(record, "question_text", str)
    return Example(str(_field(record, "id", (int, str))), question, context, _hw7_answers(record))


def _hw7_answers(record: dict) -> tuple[GoldAnswer, ...]:
    """The single HW7 answer, whose ``answer_end`` is inclusive; all-null answer fields mean unlabelled."""
    text = _field(record, "answer_text", (str, type(None)))
    start = _field(record, "answer_start", (int, type(None)))
    end = _field(record, "answer_end", (int, type(None)))
    if text is None and start is None and end is None:
        return ()
    if text is None or start is None or end is None:
        raise _BadRecord(_STRUCTURE, "answer_text, answer_start and answer_end must be all set or all null")
    if end != start + len(text) - 1:
        raise _BadRecord(
            _HW7_END,
            f"answer_end is {end} but answer_start {start} + {len(text)} characters - 1 "
            f"= {start + len(text) - 1}",
        )
    return (GoldAnswer(text, start),)


def _checked(examples: list[Example], findings: _Findings, rules: _Rules) -> list[Example]:
    """The checks every format shares, with the answers each question keeps under the rules."""
    valid = []
    for example in examples:
        with findings.record(f"id {example.id!r}"):
            if not example.context.strip():
                raise _BadRecord(_EMPTY, "empty context")
            if not example.question.strip() and rules.drop_empty_questions:
                findings.dropped.append(example.id)
                continue
            if not example.question.strip():
                raise _BadRecord(_EMPTY_QUESTION, "empty question")
            if rules.require_answers and not example.answers and not example.impossible:
                raise _BadRecord(_NO_ANSWERS, "no answer")
            answers = _usable_answers(example, findings, rules)
            if example.answers and not answers:  # every answer skipped: nothing left to learn from
                findings.skipped_questions.append(example.id)
                continue
            valid.append(replace(example, answers=answers))
    return valid


def _usable_answers(example: Example, findings: _Findings, rules: _Rules) -> tuple[GoldAnswer, ...]:
    """The answers on their text, moved where allowed; one not at its offset is refused, kept or skipped."""
    usable = []
    for answer in example.answers:
        try:
            placed = _placed(answer, example.context, rules.fix_offsets_within)
        except _BadRecord as bad:
            if bad.kind is not _OFFSET or rules.bad_offsets == "refuse":
                raise
            if rules.bad_offsets == "keep":
                findings.kept.append(example.id)
                usable.append(answer)
            else:
                findings.skipped.append(example.id)
            continue
        if placed.start != answer.start:
            findings.moved.append((example.id, abs(placed.start - answer.start)))
        usable.append(placed)
    return tuple(usable)


def _placed(answer: GoldAnswer, context: str, fix_offsets_within: int) -> GoldAnswer:
    """The answer itself if its text is at its offset, else moved to the nearest occurrence allowed."""
    if not answer.text:
        raise _BadRecord(_EMPTY, f"empty answer text at answer_start {answer.start}")
    if answer.start >= 0 and context.startswith(answer.text, answer.start):
        return answer
    nearest = _nearest_occurrence(context, answer.text, answer.start)
    if nearest is not None and abs(nearest - answer.start) <= fix_offsets_within:
        return replace(answer, start=nearest)
    there = context[max(answer.start, 0) : max(answer.start, 0) + len(answer.text)]
    where = "it does not occur in the context" if nearest is None else f"it occurs at {nearest}"
    raise _BadRecord(
        _OFFSET,
        f"answer {_clip(answer.text)!r} is not at answer_start {answer.start}, "
        f"which reads {_clip(there)!r}; {where}",
    )


def _nearest_occurrence(context: str, text: str, start: int) -> int | None:
    start = max(start, 0)
    candidates = [
        p for p in (context.rfind(text, 0, start + len(text) - 1), context.find(text, start)) if p >= 0
    ]
    return min(candidates, key=lambda p: (abs(p - start), p)) if candidates else None


def misplaced_answers(examples: Iterable[Example]) -> int:
    """How many gold answers are not at their stated offset: kept for their text with bad_offsets="keep"."""
    return sum(
        answer.start < 0 or not example.context.startswith(answer.text, answer.start)
        for example in examples
        for answer in example.answers
    )


def _check_unique_ids(examples: list[Example], findings: _Findings) -> None:
    for example_id, count in Counter(ex.id for ex in examples).items():
        if count > 1:
            findings.add(_DUPLICATE, f"id {example_id!r}", f"{count} questions")


def _field(
    record: Any, key: str, kinds: type | tuple[type, ...], *, default: Any = _REQUIRED, where: str = ""
) -> Any:
    """``record[key]`` if it has one of the JSON types wanted (never a boolean posing as a number)."""
    prefix = f"{where}: " if where else ""
    if not isinstance(record, dict):
        raise _BadRecord(_STRUCTURE, f"{prefix}is {_json_type(record)}, expected an object")
    if key not in record and default is not _REQUIRED:
        return default
    if key not in record:
        raise _BadRecord(_STRUCTURE, f"{prefix}missing field {key!r}")
    value = record[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        wanted = " or ".join(_JSON_TYPES[kind] for kind in kinds)
        raise _BadRecord(_STRUCTURE, f"{prefix}field {key!r} is {_json_type(value)}, expected {wanted}")
    return value


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _label(record: Any, fallback: str) -> str:
    record_id = record.get("id") if isinstance(record, dict) else None
    if isinstance(record_id, (str, int)) and not isinstance(record_id, bool):
        return f"id {str(record_id)!r}"
    return fallback


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_squad(examples: Iterable[Example], path: str | Path) -> Path:
    """Write SQuAD JSON (gzip if the name ends in ``.gz``), atomically: a crash leaves no half file.

    The file is SQuAD v1.1 unless a question is ``impossible``: then it is v2.0, where every question
    says whether it is, so the official v2.0 script can score against it.
    """
    path, examples = Path(path), list(examples)
    v2 = any(ex.impossible for ex in examples)
    articles: list[dict] = []
    for ex in examples:
        if not articles or articles[-1]["title"] != ex.title:
            articles.append({"title": ex.title, "paragraphs": []})
        paragraphs = articles[-1]["paragraphs"]
        if not paragraphs or paragraphs[-1]["context"] != ex.context:
            paragraphs.append({"context": ex.context, "qas": []})
        answers = [{"text": a.text, "answer_start": a.start} for a in ex.answers]
        qa = {"id": ex.id, "question": ex.question, "answers": answers}
        paragraphs[-1]["qas"].append({**qa, "is_impossible": ex.impossible} if v2 else qa)
    version = "v2.0" if v2 else "1.1"
    payload = json.dumps({"version": version, "data": articles}, ensure_ascii=False).encode("utf-8")
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    return write_bytes_atomically(path, payload)
