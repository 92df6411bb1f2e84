"""Fit and measure the answer check (``qa_core.answering.answer_check``) of a checkpoint, with forward passes run once.

    python -m qa_core.train.answer_check sample --data TRAINING_FILE --questions N --out runs/data/NAME.json
    python -m qa_core.train.answer_check extract --checkpoint DIR --data FILE --out runs/checks/NAME [--every N]
    python -m qa_core.train.answer_check fit --checkpoint DIR --train runs/checks/A runs/checks/B ...
    python -m qa_core.train.answer_check measure --checkpoint DIR --cache runs/checks/C [--threshold P]
    python -m qa_core.train.answer_check timing --checkpoint DIR --data FILE [--questions 64]

Forward passes are the slow part (a few questions a second on a CPU), so ``extract`` answers a file's
questions once and keeps, per question, the check's evidence and whether the best span is right, in chunk
files that are each written whole: a stopped run resumes where it stopped. ``fit`` and ``measure`` then
read only those caches. Fit on caches of training files only; measure on evaluation files.

A best span counts as right when its F1 against the gold answers is at least ``RIGHT_F1`` (SQuAD rules
for English, CMRC 2018 rules for Chinese); a question made unanswerable is never right.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa_core.answering.answer_check import FEATURES, AnswerCheck, Evidence, features, gather_evidence
from qa_core.answering.records import Answer
from qa_core.data.calibration import (
    RIGHT_F1,
    CoveragePoint,
    ReliabilityBin,
    calibration_error,
    coverage_risk,
    reliability,
)
from qa_core.data.metrics import exact_match, f1, is_chinese
from qa_core.data.negatives import DEFAULT_KINDS
from qa_core.data.squad import Example
from qa_core.files import write_text_atomically

if TYPE_CHECKING:  # the engine imports torch; fitting and measuring never need it
    from qa_core.answering.engine import QAEngine

CHUNK = 32  # questions per cache file: a stopped run loses at most one chunk


@dataclass(frozen=True)
class Observation:
    """One question as the check sees it: its evidence, and what is true about its best span."""

    id: str
    kind: str  # "answerable", or how the question was made unanswerable (negatives' kinds)
    question: str
    context: str
    evidence: Evidence | None  # None: no valid span at all
    f1: float | None  # the best span's F1 (0-1) against the gold answers; None for an unanswerable one
    exact: float | None

    @property
    def right(self) -> bool:
        return self.f1 is not None and self.f1 >= RIGHT_F1


def kind_of(example: Example) -> str:
    """ "answerable", or the kind a made-up negative's id ends with (``qid-kind``); "unanswerable" otherwise."""
    if not example.impossible:
        return "answerable"
    suffix = example.id.rsplit("-", 1)[-1]
    return suffix if "_" in suffix else "unanswerable"


def observe(examples: Sequence[Example], answers: Sequence[Answer], chinese: bool) -> list[Observation]:
    """Observations of answered examples (answers with their trace)."""
    found = []
    for example, answer in zip(examples, answers, strict=True):
        evidence = gather_evidence(answer.trace.windows, answer.n_best) if answer.n_best else None
        golds = [a.text for a in example.answers]
        right = None if example.impossible or not golds else f1(answer.text, golds, chinese=chinese)
        exact = None if right is None else exact_match(answer.text, golds, chinese=chinese)
        found.append(
            Observation(
                example.id, kind_of(example), example.question, example.context, evidence, right, exact
            )
        )
    return found


def _observation(record: dict) -> Observation:
    evidence = record["evidence"]
    return Observation(**{**record, "evidence": None if evidence is None else Evidence(**evidence)})


def read_cache(folder: str | Path) -> list[Observation]:
    """Every observation extracted into ``folder``, in file order."""
    parts = sorted(Path(folder).glob("part-*.json"))
    if not parts:
        raise ValueError(
            f"{folder} holds no extracted questions: run python -m qa_core.train.answer_check extract --out {folder}."
        )
    return [_observation(r) for p in parts for r in json.loads(p.read_text(encoding="utf-8"))]


def extract(engine: QAEngine, examples: Sequence[Example], out: Path, every: int, first: int = 0) -> int:
    """Answer every ``every``-th example from the ``first`` and cache its observation; chunks already there are kept.

    Two caches with ``first`` 0 and 1 of ``every`` 2 hold the whole file between them, for ``measure`` to join.
    """
    from qa_core.settings import AnswerSettings

    chosen = list(examples)[first::every]
    chinese = sum(is_chinese(e.context) for e in chosen) * 2 > len(chosen)
    engine.check = None  # the evidence is the span model's alone
    done = 0
    for number, at in enumerate(range(0, len(chosen), CHUNK)):
        path = out / f"part-{number:05d}.json"
        chunk = chosen[at : at + CHUNK]
        if not path.exists():
            answers = engine.answer_many(
                [(e.question, e.context) for e in chunk], AnswerSettings(), with_trace=True
            )
            records = [asdict(o) for o in observe(chunk, answers, chinese)]
            write_text_atomically(path, json.dumps(records, ensure_ascii=False) + "\n")
        done += len(chunk)
        print(f"{out}: {done}/{len(chosen)}", file=sys.stderr, flush=True)
    return done


def training_sample(examples: Sequence[Example], questions: int, seed: int) -> list[Example]:
    """``questions`` answerable questions drawn with ``seed``, then about as many negatives of every kind.

    The negatives are made from the whole file (other paragraphs and swapped names come from all of it),
    the kinds taking turns; a file without titles gives only the kinds that need no article.
    """
    from qa_core.data.negatives import NegativeKind, make_negatives

    answerable = [e for e in examples if e.answers and not e.impossible]
    if not 0 < questions <= len(answerable):
        raise ValueError(
            f"--questions must be from 1 to {len(answerable)} (the file's answerable questions)."
        )
    kinds: list[NegativeKind] = ["answer_removed", "other_paragraph", "entity_swapped", "sentence_replaced"]
    made = make_negatives(examples, questions / len(answerable), kinds, seed)
    drawn = random.Random(seed).sample(answerable, questions)
    return [*drawn, *(n for kind in kinds for n in made[kind])]


def feature_rows(observations: Sequence[Observation], names: Sequence[str]) -> np.ndarray:
    """(n, features) the named features of observations that have a span (the others need no check)."""
    return np.array(
        [[features(o.evidence, o.question, o.context)[name] for name in names] for o in observations],
        dtype=float,
    ).reshape(len(observations), len(names))


def fit_logistic(rows: np.ndarray, labels: np.ndarray, l2: float) -> tuple[np.ndarray, ...]:
    """Standardised logistic regression with an L2 penalty, by Newton's method (a few dozen features).

    Returns means, scales, weights and the bias (as a 1-element array). Newton's method converges in
    a handful of steps here and needs no step size; the penalty keeps it finite when a feature
    separates the classes. Constant features get scale 1, so they standardise to 0 and drop out.
    """
    means, scales = rows.mean(axis=0), rows.std(axis=0)
    scales = np.where(scales > 1e-9, scales, 1.0)
    x = np.hstack([(rows - means) / scales, np.ones((len(rows), 1))])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    w = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - labels) + penalty * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return means, scales, w[:-1], w[-1:]


def out_of_fold(
    rows: np.ndarray, labels: np.ndarray, groups: Sequence[str], l2: float, folds: int = 5
) -> np.ndarray:
    """Each question's probability from a check fitted without its fold (folds by source question)."""
    fold = np.array([zlib.crc32(g.encode("utf-8")) % folds for g in groups])
    found = np.zeros(len(rows))
    for k in range(folds):
        held = fold == k
        means, scales, weights, bias = fit_logistic(rows[~held], labels[~held], l2)
        z = (rows[held] - means) / scales @ weights + bias[0]
        found[held] = 1.0 / (1.0 + np.exp(-z))
    return found


def catching_threshold(probabilities: np.ndarray, negative: np.ndarray, share: float) -> float:
    """The lowest threshold that flags (probability under it) at least ``share`` of the negatives."""
    ranked = np.sort(probabilities[negative])
    k = min(int(np.ceil(share * len(ranked))), len(ranked)) - 1
    return float(np.nextafter(ranked[k], 1.0))


@dataclass(frozen=True)
class Measurement:
    """How a check does on one cache at one threshold, beside the best spans and the null rule."""

    questions: int
    threshold: float
    best_span_f1: float | None  # answerable questions, always answered with the best span (percent)
    checked_f1: float | None  # the same, with "" where the check says "no answer"
    null_rule_f1: float | None  # the same, with the checkpoint's null rule instead
    caught: dict[str, float]  # share of each kind of negative the check flags
    null_rule_caught: dict[str, float]
    answered_answerable: float | None  # share of the answerable questions the check answers
    calibration_error: float
    reliability: tuple[ReliabilityBin, ...]
    coverage: tuple[CoveragePoint, ...]  # every question, answerable or not, at thresholds 0.1, ..., 0.9
    # answerable F1 when the check, or the null margin, flags 85% of this file's negatives (read on the file
    # itself, so a comparison of the two orderings, not a threshold to ship)
    f1_at_85: dict[str, float]


def measure(
    check: AnswerCheck, observations: Sequence[Observation], threshold: float, null_threshold: float | None
) -> Measurement:
    """Catch rates by kind, answerable F1 with and without the check, and calibration, on one cache."""
    p = probabilities(check, observations)
    flagged = p < threshold
    margins = np.array(
        [
            np.inf if o.evidence is None else o.evidence.null_score - o.evidence.span_score
            for o in observations
        ]
    )
    null_flagged = margins > (np.inf if null_threshold is None else null_threshold)
    answerable = np.array([o.f1 is not None for o in observations])
    scores = np.array([o.f1 or 0.0 for o in observations])

    def f1_with(flags: np.ndarray) -> float | None:
        return float(100 * np.where(flags, 0.0, scores)[answerable].mean()) if answerable.any() else None

    right = [o.right for o in observations]
    bins = reliability(p, right)
    return Measurement(
        questions=len(observations),
        threshold=threshold,
        best_span_f1=f1_with(np.zeros(len(p), dtype=bool)),
        checked_f1=f1_with(flagged),
        null_rule_f1=f1_with(null_flagged) if null_threshold is not None else None,
        caught=_caught(observations, flagged),
        null_rule_caught=_caught(observations, null_flagged) if null_threshold is not None else {},
        answered_answerable=float(1 - flagged[answerable].mean()) if answerable.any() else None,
        calibration_error=calibration_error(bins),
        reliability=bins,
        coverage=coverage_risk(p, right, np.round(np.arange(0.1, 1.0, 0.1), 2)),
        f1_at_85={
            "check": _f1_catching(-p, observations, 0.85),
            "null rule": _f1_catching(margins, observations, 0.85),
        }
        if answerable.any() and not answerable.all()
        else {},
    )


def _f1_catching(suspicion: np.ndarray, observations: Sequence[Observation], share: float) -> float:
    """Answerable F1 (percent) when the most suspicious questions are flagged until ``share`` of negatives are."""
    negative = np.array([o.f1 is None for o in observations])
    ranked = np.sort(suspicion[negative])[::-1]
    flagged = suspicion >= ranked[int(np.ceil(share * len(ranked))) - 1]
    scores = np.array(
        [0.0 if f or o.f1 is None else o.f1 for o, f in zip(observations, flagged, strict=True)]
    )
    return float(100 * scores[~negative].mean())


def probabilities(check: AnswerCheck, observations: Sequence[Observation]) -> np.ndarray:
    """(n,) the check's probability for each observation; 0 where there was no span at all."""
    have = [o for o in observations if o.evidence is not None]
    found = iter(check.probabilities(feature_rows(have, check.features)) if have else [])
    return np.array([next(found) if o.evidence is not None else 0.0 for o in observations])


def _caught(observations: Sequence[Observation], flagged: np.ndarray) -> dict[str, float]:
    """The share of each kind of negative flagged, and of all of them together ("all negatives")."""
    kinds = sorted({o.kind for o in observations if o.kind != "answerable"})
    caught = {
        kind: float(np.mean([f for o, f in zip(observations, flagged, strict=True) if o.kind == kind]))
        for kind in kinds
    }
    negative = np.array([o.kind != "answerable" for o in observations])
    return {**caught, "all negatives": float(flagged[negative].mean())} if negative.any() else caught


def _sample(args: argparse.Namespace) -> int:
    from qa_core.data.squad import load_examples, write_squad

    examples = load_examples(args.data, bad_offsets="skip", drop_empty_questions=True)
    chosen = training_sample(examples, args.questions, args.seed)
    write_squad(chosen, args.out)
    counts = Counter(kind_of(e) for e in chosen)
    print(f"{args.out}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()), file=sys.stderr)
    return 0


def fit_check(
    observations: Sequence[Observation],
    names: Sequence[str],
    l2: float,
    catch: tuple[float, Sequence[str]],
    sources: dict[str, int],
) -> tuple[AnswerCheck, np.ndarray]:
    """Fit the check on training observations; its threshold flags a share of their negatives of some kinds.

    ``catch`` is (share, kinds). The threshold is read on out-of-fold probabilities (each fold scored by
    a check fitted without it), so it is not set on questions the check has fitted. The hard kinds teach
    the check but do not set its threshold: catching most of them would turn away many answerable
    questions, so they are measured apart. Returns the check and the out-of-fold probabilities.
    """
    have = [o for o in observations if o.evidence is not None]
    rows, labels = feature_rows(have, names), np.array([o.right for o in have], dtype=float)
    if labels.min() == labels.max():
        raise ValueError(
            "the training caches need both right answers and wrong ones (or negatives) to fit a check."
        )
    held = out_of_fold(rows, labels, [o.id.split("-")[0] for o in have], l2)
    share, kinds_caught = catch
    threshold = catching_threshold(held, np.array([o.kind in kinds_caught for o in have]), share)
    means, scales, weights, bias = fit_logistic(rows, labels, l2)
    kinds = Counter(o.kind for o in observations)
    about = {
        "label": f"the best span is right: F1 >= {RIGHT_F1} against the gold answers; negatives are never right",
        "threshold_rule": f"flags {share:.0%} of the training negatives of kinds {', '.join(kinds_caught)}, out of "
        "fold (5 folds by source question)",
        "l2": l2,
        "training": sources,
        "counts": dict(sorted(kinds.items())),
        "out_of_fold_calibration_error": round(calibration_error(reliability(held, labels.astype(bool))), 4),
    }
    check = AnswerCheck(
        tuple(names),
        *(tuple(map(float, v)) for v in (means, scales, weights)),
        float(bias[0]),
        threshold,
        about,
    )
    return check, held


def _fit(args: argparse.Namespace) -> int:
    observations, sources = [], {}
    for cache in args.train:
        found = read_cache(cache)
        observations += found
        sources[_source_of(cache)] = len(found)
    check, held = fit_check(observations, args.features, args.l2, (args.catch, args.catch_kinds), sources)
    path = check.save(args.checkpoint)
    print(json.dumps({"saved": str(path), "threshold": check.threshold, **check.about}, ensure_ascii=False))
    return 0


def _source_of(cache: str | Path) -> str:
    """The data file a cache was extracted from (its source.json), by file name."""
    record = json.loads((Path(cache) / "source.json").read_text(encoding="utf-8"))
    return Path(record["data"]).name


def _measure(args: argparse.Namespace) -> int:
    from qa_core.answering.answer_check import load_check

    check = load_check(args.checkpoint)
    if check is None:
        raise ValueError(f"{args.checkpoint} has no answer_check.json: fit one first (the fit command).")
    config = json.loads((Path(args.checkpoint) / "config.json").read_text(encoding="utf-8"))
    threshold = check.threshold if args.threshold is None else args.threshold
    caches: dict[str, list[str]] = {}
    for cache in args.cache:  # parts of one file (--first) are measured together
        caches.setdefault(_source_of(cache), []).append(cache)
    results = {}
    for source, parts in caches.items():
        observations = [o for cache in parts for o in read_cache(cache)]
        found = measure(check, observations, threshold, config.get("qa_null_threshold"))
        results[f"{source} ({', '.join(Path(c).name for c in parts)})"] = found
        _report(source, found)
    print(json.dumps({k: asdict(v) for k, v in results.items()}, ensure_ascii=False))
    return 0


def _report(name: str, found: Measurement) -> None:
    """One measurement in words, a line per figure, on stderr (the JSON goes to stdout)."""

    def say(text: str) -> None:
        print(text, file=sys.stderr)

    say(
        f"{name}: {found.questions} questions, threshold {found.threshold:.3f}, ECE {found.calibration_error:.3f}"
    )
    if found.best_span_f1 is not None:
        say(
            f"  answerable F1: best spans {found.best_span_f1:.2f}, with the check {found.checked_f1:.2f}, "
            f"with the null rule {_number(found.null_rule_f1)}; answered {found.answered_answerable:.1%}"
        )
    for rule, f1_then in found.f1_at_85.items():
        say(f"  {rule} flagging 85% of this file's negatives: answerable F1 {f1_then:.2f}")
    for kind, share in found.caught.items():
        say(f"  {kind}: {share:.1%} flagged (null rule {found.null_rule_caught.get(kind, float('nan')):.1%})")
    for point in found.coverage:
        right = "-" if point.accuracy is None else f"{point.accuracy:.1%}"
        say(
            f"  at {point.threshold:.1f}: {point.answered:.1%} of all questions answered, {right} of them right"
        )
    for b in found.reliability:
        if b.n:
            say(
                f"  p in [{b.low:.1f}, {b.high:.1f}): {b.n} questions, mean p {b.confidence:.3f}, right {b.accuracy:.3f}"
            )


def timing(engine: QAEngine, pairs: Sequence[tuple[str, str]], rounds: int = 3) -> dict[str, float]:
    """Seconds per question with and without the engine's check (best of ``rounds``), and the check's own work.

    The whole-answer times take turns so that a busy machine slows both alike; the check's own work
    (evidence, features, probability) is also timed alone, which a shared machine disturbs far less.
    """
    import time

    check, best = engine.check, {"without": math.inf, "with": math.inf}
    for _ in range(rounds):
        for name, used in (("without", None), ("with", check)):
            engine.check = used
            started = time.perf_counter()
            engine.answer_many(pairs)
            best[name] = min(best[name], (time.perf_counter() - started) / len(pairs))
    engine.check = None
    answers = engine.answer_many(pairs, with_trace=True)
    engine.check = check
    started = time.perf_counter()
    for (question, context), answer in zip(pairs, answers, strict=True):
        check.probability(features(gather_evidence(answer.trace.windows, answer.n_best), question, context))
    own = (time.perf_counter() - started) / len(pairs)
    return {**best, "check_alone": own, "check_share": own / best["without"]}


def _timing(args: argparse.Namespace) -> int:
    import torch

    from qa_core.answering.engine import QAEngine
    from qa_core.data.squad import load_examples

    torch.set_num_threads(args.threads)
    engine = QAEngine.load(args.checkpoint)
    if engine.check is None:
        raise ValueError(f"{args.checkpoint} has no answer_check.json: fit one first (the fit command).")
    examples = load_examples(args.data, bad_offsets="keep", drop_empty_questions=True)[: args.questions]
    found = timing(engine, [(e.question, e.context) for e in examples])
    print(json.dumps({"questions": len(examples), "threads": args.threads, **found}))
    return 0


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _extract(args: argparse.Namespace) -> int:
    import torch

    from qa_core.answering.engine import QAEngine
    from qa_core.data.squad import load_examples

    torch.set_num_threads(args.threads)
    examples = load_examples(args.data, bad_offsets="keep", drop_empty_questions=True)
    if args.negatives_only:
        examples = [e for e in examples if e.impossible]
    source = {
        "first": args.first,
        "data": args.data,
        "checkpoint": args.checkpoint,
        "every": args.every,
        "negatives_only": args.negatives_only,
    }
    write_text_atomically(Path(args.out) / "source.json", json.dumps(source, ensure_ascii=False) + "\n")
    done = extract(QAEngine.load(args.checkpoint), examples, Path(args.out), args.every, args.first)
    print(f"{args.out}: {done} questions extracted", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qa_core.train.answer_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sample = commands.add_parser("sample", help="Questions and negatives of every kind from a training file.")
    sample.add_argument("--data", required=True, help="A training file (SQuAD or homework JSON).")
    sample.add_argument("--out", required=True, help="Where to write them (SQuAD 2.0 JSON, outside git).")
    sample.add_argument("--questions", type=int, required=True, help="Answerable questions to draw.")
    sample.add_argument("--seed", type=int, default=0)
    run = commands.add_parser("extract", help="Answer a file once and cache what the check reads.")
    run.add_argument("--checkpoint", required=True, help="The span model's folder.")
    run.add_argument("--data", required=True, help="SQuAD (2.0) or homework JSON.")
    run.add_argument(
        "--out", required=True, help="A folder for the cache (outside git, e.g. runs/checks/NAME)."
    )
    run.add_argument("--every", type=int, default=1, help="Only every N-th question in file order (1: all).")
    run.add_argument(
        "--first", type=int, default=0, help="Start at this question (with --every: another part)."
    )
    run.add_argument("--negatives-only", action="store_true", help="Only the file's unanswerable questions.")
    run.add_argument("--threads", type=int, default=1, help="Torch threads (1 leaves the other cores free).")
    _add_offline_commands(commands)
    return parser


def _add_offline_commands(commands) -> None:  # noqa: ANN001 (argparse's private subparsers type)
    """The commands that read caches (fit, measure) and the timing of the engine with its check."""
    fit = commands.add_parser("fit", help="Fit the check on training caches; store it in the checkpoint.")
    fit.add_argument("--checkpoint", required=True, help="Where answer_check.json goes (beside config.json).")
    fit.add_argument("--train", nargs="+", required=True, help="Caches of training files only.")
    fit.add_argument("--features", nargs="+", default=list(FEATURES), choices=FEATURES)
    fit.add_argument("--l2", type=float, default=10.0, help="L2 penalty on the standardised weights.")
    fit.add_argument(
        "--catch",
        type=float,
        default=0.88,
        help="The stored threshold flags this share of the training negatives of --catch-kinds.",
    )
    fit.add_argument(
        "--catch-kinds",
        nargs="+",
        default=list(DEFAULT_KINDS),
        help="The kinds of negatives the threshold is read on; the others only teach the check.",
    )
    check = commands.add_parser("measure", help="Catch rates, answerable F1 and calibration on caches.")
    check.add_argument("--checkpoint", required=True, help="A folder with answer_check.json.")
    check.add_argument("--cache", nargs="+", required=True, help="Caches of evaluation files.")
    check.add_argument("--threshold", type=float, help="Instead of the stored threshold (0 to 1).")
    times = commands.add_parser("timing", help="Seconds per question with and without the check.")
    times.add_argument("--checkpoint", required=True, help="A folder with answer_check.json.")
    times.add_argument("--data", required=True, help="Questions to time (the first --questions of the file).")
    times.add_argument("--questions", type=int, default=64)
    times.add_argument("--threads", type=int, default=1, help="Torch threads.")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {"sample": _sample, "extract": _extract, "fit": _fit, "measure": _measure, "timing": _timing}
    try:
        return commands[args.command](args)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())
