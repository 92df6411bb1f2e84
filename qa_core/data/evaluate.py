"""Measure a checkpoint on a data file: EM and F1 (SQuAD v1.1 or 2.0 / CMRC 2018), the homework's accuracy.

    python -m qa_core.data.evaluate --data assets/sample_qa.json [--checkpoint DIR] [--limit N] [--record]

The last line printed is one JSON object with exact_match, f1, accuracy, n, seconds and
unusable_offsets (gold answers scored by their text alone, because their stated offset is wrong: official
files have some), so scripts can read it with ``tail -n 1``. ``--record`` also stores the result in the
checkpoint's eval_results.json and refreshes its model card.

A file with unanswerable questions (SQuAD 2.0) is scored by the official v2.0 rules, with the engine's
own decision ("" for a question it judged unanswerable): the JSON adds has_ans and no_ans (the scores of
the questions with and without an answer, with their counts n) and, when the checkpoint gives null
margins, best_f1_threshold: the null threshold that maximises F1 on this file, with every score at it
(at_best_f1_threshold). Tuned on this file, that threshold is optimistic on this same file: tune it on
one file and measure with it on another. ``--set-null-threshold`` stores it in the checkpoint, or with
``--no-answer-rate SHARE`` the highest threshold that catches that share of the file's unanswerable questions.

When the checkpoint judged some questions unanswerable, the JSON also gives best_spans: the answerable
questions' scores had every question been answered with its best span. The gap between it and the
answerable scores above is what the "no answer" rule costs the questions that do have one.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from qa_core.answering.records import Answer, judged_unanswerable
from qa_core.data.metrics import (
    BestThreshold,
    Scores,
    ScoresV2,
    TradeOffPoint,
    best_threshold,
    catching,
    score,
    score_v2,
    trade_off,
    trade_off_rows,
)
from qa_core.data.predict import add_model_arguments, answer_all, load_from_args, predictions_by_id
from qa_core.data.squad import DataError, Example, misplaced_answers
from qa_core.files import write_text_atomically
from qa_core.flags import one_style
from qa_core.models import model_card
from qa_core.models.checkpoints import NULL_THRESHOLD_KEY


def record(checkpoint: Path, data_file: str, limit: int, result: dict) -> None:
    """Add this measurement to the checkpoint's eval_results.json and re-render its README."""
    path = checkpoint / "eval_results.json"
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results[model_card.evaluation_key(data_file, limit)] = result
    write_text_atomically(path, json.dumps(results, indent=2) + "\n")  # earlier measurements are never lost
    model_card.render(checkpoint)


def set_null_threshold(checkpoint: Path, threshold: float) -> None:
    """Record the tuned threshold in the checkpoint's config.json, which marks it as trained for "no answer"."""
    path = checkpoint / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config[NULL_THRESHOLD_KEY] = threshold  # unrounded: rounding could move it across a margin
    write_text_atomically(path, json.dumps(config, indent=2) + "\n")


@dataclass(frozen=True)
class Evaluation:
    """What one run measured: the overall scores and, for a SQuAD 2.0 file, its parts and best threshold."""

    overall: Scores
    v2: ScoresV2 | None = None
    best: BestThreshold | None = None  # only when the answers carry null margins
    best_spans: Scores | None = None  # answerable questions, never abstaining; only when some answer did
    trade_off: tuple[TradeOffPoint, ...] = ()  # a few points of the threshold's curve, with ``best``


def evaluate_answers(examples: Sequence[Example], answers: Sequence[Answer]) -> Evaluation:
    """Score the engine's decisions ("" where it judged a question unanswerable) by the file's rules.

    A file without unanswerable questions is scored as SQuAD v1.1 / CMRC 2018, exactly as before 2.0.
    """
    predictions = predictions_by_id(examples, answers)
    best_spans = _best_span_scores(examples, answers)
    if not any(example.impossible for example in examples):
        return Evaluation(score(predictions, examples), best_spans=best_spans)
    v2 = score_v2(predictions, examples)
    if all(answer.null_margin is None for answer in answers):
        return Evaluation(v2.overall, v2, best_spans=best_spans)
    search = _search(examples, answers)
    both_kinds = v2.has_ans is not None and v2.no_ans is not None  # a trade-off weighs one against the other
    rows = tuple(trade_off_rows(trade_off(*search))) if both_kinds else ()
    return Evaluation(v2.overall, v2, best_threshold(*search), best_spans, rows)


def decided_at(answers: Sequence[Answer], threshold: float) -> list[Answer]:
    """The answers as the engine gives them once ``threshold`` is the checkpoint's: what a tuned one records."""
    return [replace(a, no_answer=judged_unanswerable(a.null_margin, threshold)) for a in answers]


def tuned_threshold(
    examples: Sequence[Example], answers: Sequence[Answer], best: BestThreshold, no_answer_rate: float | None
) -> float:
    """The threshold a checkpoint stores: this file's best for F1, or the highest that catches a share of
    its unanswerable questions.

    The share is for a tuning file whose answerable questions the model was trained on: their spans are
    surer than on new text, so the best-F1 point is too eager to abstain there, while the share of
    negatives a threshold catches carries over to new text much as it is.
    """
    if no_answer_rate is None:
        return best.threshold
    point = catching(trade_off(*_search(examples, answers)), no_answer_rate)
    assert point is not None, "the curve starts with every question answered with nothing"
    return point.threshold


def _search(
    examples: Sequence[Example], answers: Sequence[Answer]
) -> tuple[dict[str, str], dict[str, float], Sequence[Example]]:
    """What a threshold search walks: each question's best span and null margin, and the questions."""
    return predictions_by_id(examples, answers, abstain=False), _margins(examples, answers), examples


def _best_span_scores(examples: Sequence[Example], answers: Sequence[Answer]) -> Scores | None:
    """The answerable questions' scores had no question been judged unanswerable (None if none was)."""
    if not any(answer.no_answer for answer in answers):
        return None
    answerable = [(e, a) for e, a in zip(examples, answers, strict=True) if not e.impossible]
    kept = [e for e, _ in answerable]
    return score(predictions_by_id(kept, [a for _, a in answerable], abstain=False), kept)


def _margins(examples: Sequence[Example], answers: Sequence[Answer]) -> dict[str, float]:
    """Each question's null margin, for a threshold search over the best spans.

    A question without a margin has no valid span, so it is answered "" at any threshold: its margin
    counts as infinite.
    """
    return {
        e.id: math.inf if a.null_margin is None else a.null_margin
        for e, a in zip(examples, answers, strict=True)
    }


def _null_fields(evaluation: Evaluation) -> dict:
    """What the "no answer" rule adds to the JSON result: nothing for a v1.1 file answered in full."""
    fields = {} if evaluation.best_spans is None else {"best_spans": asdict(evaluation.best_spans)}
    if evaluation.v2 is None:
        return fields
    fields |= _parts(evaluation.v2)
    if evaluation.best is not None:
        fields["best_f1_threshold"] = evaluation.best.threshold
        fields["at_best_f1_threshold"] = {
            **asdict(evaluation.best.scores.overall),
            **_parts(evaluation.best.scores),
        }
        fields["trade_off"] = [asdict(point) for point in evaluation.trade_off]
    return fields


def _parts(scores: ScoresV2) -> dict:
    return {
        "has_ans": None if scores.has_ans is None else asdict(scores.has_ans),
        "no_ans": None if scores.no_ans is None else asdict(scores.no_ans),
    }


def _null_lines(evaluation: Evaluation) -> list[str]:
    """What the "no answer" rule adds to the printed report, one line each (nothing for a v1.1 file
    answered in full)."""
    lines = []
    if evaluation.best_spans is not None:
        lines.append(f"  with an answer, had every question been answered: {_summary(evaluation.best_spans)}")
    if evaluation.v2 is None:
        return lines
    parts = (("with an answer", evaluation.v2.has_ans), ("without an answer", evaluation.v2.no_ans))
    lines[:0] = [f"  {label}: {_summary(part)}" for label, part in parts if part is not None]
    if evaluation.best is not None:
        at_best = evaluation.best.scores.overall
        lines.append(
            f"  best null threshold on this file (optimistic on it): {evaluation.best.threshold:.4g}, "
            f"EM {at_best.exact_match:.2f}, F1 {at_best.f1:.2f}"
        )
    return lines


def _summary(scores: Scores) -> str:
    return (
        f"{scores.n} questions, EM {scores.exact_match:.2f}, F1 {scores.f1:.2f}, "
        f"strict accuracy {scores.accuracy:.4f}"
    )


def _store(args: argparse.Namespace, source: str, threshold: float | None, result: dict) -> str | None:
    """Record the result in the checkpoint (and its tuned null threshold); what stops it, if anything."""
    if not Path(source).is_dir():
        return f"--record needs a local checkpoint folder, not {source!r}"
    if args.set_null_threshold:
        if threshold is None:
            return f"{args.data} has no unanswerable questions to tune a null threshold on"
        set_null_threshold(Path(source), threshold)
        print(f"set qa_null_threshold {threshold:.4g} in {Path(source) / 'config.json'}")
    record(Path(source), args.data, args.limit, result)
    return None


def _share(text: str) -> float:
    """A command-line share: a number above 0 and at most 1."""
    try:
        share = float(text)
    except ValueError:
        share = math.nan
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"a share above 0 and at most 1, such as 0.85, not {text!r}")
    return share


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qa_core.data.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--record",
        action="store_true",
        help="Save the result in the checkpoint folder and refresh its model card.",
    )
    parser.add_argument(
        "--set-null-threshold",
        action="store_true",
        help="Store this file's best null threshold in the checkpoint's config.json (qa_null_threshold), "
        "so that the engine answers 'not in the paragraph' with it; implies --record. Tune it on a file "
        "with unanswerable questions that you do not report scores on.",
    )
    parser.add_argument(
        "--no-answer-rate",
        type=_share,
        metavar="SHARE",
        help="With --set-null-threshold: store the highest threshold that judges at least this share (0-1] of "
        "the file's unanswerable questions unanswerable, instead of the best-F1 one. Use it when the model "
        "was trained on the file's answerable questions, whose spans are surer than on new text.",
    )
    return one_style(parser)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.no_answer_rate is not None and not args.set_null_threshold:
        parser.error("--no-answer-rate chooses the threshold that --set-null-threshold stores: give both")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        run = load_from_args(args)
        started = time.perf_counter()
        answers = answer_all(run.engine, run.examples, run.settings)
        seconds = time.perf_counter() - started
        evaluation, threshold = evaluate_answers(run.examples, answers), None
        if args.set_null_threshold and evaluation.best is not None:  # recorded as the checkpoint will answer
            threshold = tuned_threshold(run.examples, answers, evaluation.best, args.no_answer_rate)
            evaluation = evaluate_answers(run.examples, decided_at(answers, threshold))
    except (DataError, FileNotFoundError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    overall = evaluation.overall
    result = {
        **asdict(overall),
        "seconds": round(seconds, 2),
        "unusable_offsets": misplaced_answers(run.examples),
        **_null_fields(evaluation),
    }
    rate = overall.n / max(seconds, 1e-9)
    print(f"{args.data}: {_summary(overall)}, {seconds:.1f} s ({rate:.1f} questions/s)")
    for line in _null_lines(evaluation):
        print(line)
    stored = args.record or args.set_null_threshold
    if stored and (problem := _store(args, run.engine.source, threshold, result)):
        parser.exit(2, f"error: {problem}\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
