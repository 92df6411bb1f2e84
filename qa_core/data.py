"""Load extractive reading-comprehension data: SQuAD v1.1, CMRC 2018, DRCD and the HW7 homework format.

Every format becomes the same list of :class:`Example`, in file order, so training, evaluation and the
homework's CSV share one code path. A bad file fails whole and loudly: a :class:`DataError` lists every
kind of problem at once (the first few record ids of each and a count), so a person can fix the file in
one pass instead of meeting one crash at a time, and no caller ever trains on half a file.
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
from typing import Any

from .files import write_bytes_atomically

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 200_000_000
_SHOWN = 5  # records named per kind of problem; the rest are only counted
_GZIP_MAGIC = b"\x1f\x8b"
_REQUIRED = object()


@dataclass(frozen=True)
class GoldAnswer:
    """One annotated answer; after loading, ``context[start:start + len(text)] == text`` always holds."""

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


class DataError(ValueError):
    """A data file cannot be used as it is; the message names the file, the records, and the fix."""


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
    "scoring need a file whose questions have answers",
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
    moved: dict[str, int] = field(default_factory=dict)  # id -> largest shift of one of its answers
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

    def error(self, path: Path) -> DataError:
        total = sum(len(items) for items in self.problems.values())
        lines = [f"{path}: cannot load reading-comprehension data, {total} problem(s):"]
        for kind, items in self.problems.items():
            more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            lines.append(f"- {len(items)} {kind.what}: {'; '.join(items[:_SHOWN])}{more}.")
            lines.append(f"  Fix: {kind.fix}.")
        return DataError("\n".join(lines))

    def log(self, path: Path) -> None:
        if self.moved:
            logger.warning(
                "%s: moved the answer offsets of %d question(s), by at most %d character(s), to where the "
                "answer text occurs (ids %s).",
                path,
                len(self.moved),
                max(self.moved.values()),
                ", ".join(list(self.moved)[:_SHOWN]),
            )
        if self.dropped:
            logger.warning(
                "%s: left out %d question(s) with an empty question text (ids %s).",
                path,
                len(self.dropped),
                ", ".join(self.dropped[:_SHOWN]),
            )


def load_examples(
    path: str | Path,
    *,
    require_answers: bool = False,
    fix_offsets_within: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    drop_empty_questions: bool = False,
) -> list[Example]:
    """Read a SQuAD-style or HW7 file (``.json`` or gzip ``.json.gz``) into examples in file order.

    Raises :class:`DataError` naming every problem found; nothing is returned from a bad file. The two
    repairs are opt-in because real releases need them (the CMRC 2018 trial file has answers one character
    off and two questions with no text) and silently repairing a file would hide a broken export.
    """
    if fix_offsets_within < 0:
        raise ValueError(f"fix_offsets_within must be 0 or more characters, got {fix_offsets_within}.")
    path = Path(path)
    findings = _Findings()
    parsed = _parse(_read_json(path, max_bytes), path, findings)
    examples = _checked(
        parsed,
        findings,
        fix_offsets_within=fix_offsets_within,
        drop_empty_questions=drop_empty_questions,
        require_answers=require_answers,
    )
    _check_unique_ids(parsed, findings)
    if findings.problems:
        raise findings.error(path)
    if not examples:
        raise DataError(f"{path} holds no questions; give it at least one question with its context.")
    findings.log(path)
    return examples


def _read_json(path: Path, max_bytes: int) -> Any:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"{path} {what}; give the path of a SQuAD-style or HW7 .json or .json.gz file.")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_big(path, f"is {_megabytes(size)}", max_bytes)
        with path.open("rb") as raw:
            opener = gzip.open if raw.read(2) == _GZIP_MAGIC else open
        with opener(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path} cannot be read ({err}); check that it is a readable, complete file."
        ) from err
    if len(data) > max_bytes:
        raise _too_big(path, f"holds more than {_megabytes(max_bytes)} of JSON", max_bytes)
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}; "
            "fix the file there or export it again."
        ) from err
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text ({err.reason}); save it again as UTF-8.") from err


def _too_big(path: Path, amount: str, max_bytes: int) -> DataError:
    return DataError(
        f"{path} {amount}, over the {_megabytes(max_bytes)} cap (max_bytes); "
        "pass a larger max_bytes if the file really is this big, or split it."
    )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _parse(doc: Any, path: Path, findings: _Findings) -> list[Example]:
    if isinstance(doc, dict) and "data" in doc:
        return _squad_examples(doc, findings)
    if isinstance(doc, dict) and {"questions", "paragraphs"} <= doc.keys():
        return _hw7_examples(doc, findings)
    found = (
        f"top-level keys {sorted(doc)}" if isinstance(doc, dict) else f"a top level that is {_json_type(doc)}"
    )
    raise DataError(
        f"{path}: unrecognised format: found {found}; expected an object with 'data' (SQuAD v1.1, CMRC 2018, "
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
                answers = tuple(
                    GoldAnswer(
                        _field(answer, "text", str, where=f"answers[{i}]"),
                        _field(answer, "answer_start", int, where=f"answers[{i}]"),
                    )
                    for i, answer in enumerate(_field(qa, "answers", list))
                )
                question = _field(qa, "question", str)
                examples.append(Example(str(_field(qa, "id", (str, int))), question, context, answers, title))
    return examples


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


def _checked(
    examples: list[Example],
    findings: _Findings,
    *,
    fix_offsets_within: int,
    drop_empty_questions: bool,
    require_answers: bool,
) -> list[Example]:
    """The checks every format shares, with answers moved onto their text where that is allowed."""
    valid = []
    for example in examples:
        with findings.record(f"id {example.id!r}"):
            if not example.context.strip():
                raise _BadRecord(_EMPTY, "empty context")
            if not example.question.strip() and drop_empty_questions:
                findings.dropped.append(example.id)
                continue
            if not example.question.strip():
                raise _BadRecord(_EMPTY_QUESTION, "empty question")
            if require_answers and not example.answers:
                raise _BadRecord(_NO_ANSWERS, "no answer")
            answers = tuple(
                _placed(answer, example.context, fix_offsets_within) for answer in example.answers
            )
            shifts = [abs(new.start - old.start) for old, new in zip(example.answers, answers, strict=True)]
            if any(shifts):
                findings.moved[example.id] = max(shifts)
            valid.append(replace(example, answers=answers))
    return valid


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
    if isinstance(value, bool) or not isinstance(value, kinds):
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
    """Write SQuAD v1.1 JSON (gzip if the name ends in ``.gz``), atomically: a crash leaves no half file."""
    path = Path(path)
    articles: list[dict] = []
    for ex in examples:
        if not articles or articles[-1]["title"] != ex.title:
            articles.append({"title": ex.title, "paragraphs": []})
        paragraphs = articles[-1]["paragraphs"]
        if not paragraphs or paragraphs[-1]["context"] != ex.context:
            paragraphs.append({"context": ex.context, "qas": []})
        answers = [{"text": a.text, "answer_start": a.start} for a in ex.answers]
        paragraphs[-1]["qas"].append({"id": ex.id, "question": ex.question, "answers": answers})
    payload = json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False).encode("utf-8")
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    return write_bytes_atomically(path, payload)
