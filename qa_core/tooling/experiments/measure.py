"""What the experiments measure beyond EM/F1: where in its window an answer sits, and what post-processing is worth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from transformers import PreTrainedTokenizerBase

from qa_core.answering.engine import QAEngine
from qa_core.answering.records import Answer
from qa_core.answering.windows import char_span_to_tokens, encode_pairs, window_starts
from qa_core.data.metrics import score
from qa_core.data.predict import answer_all
from qa_core.data.squad import Example
from qa_core.explaining.lessons_records import PositionBin, PostProcessingEffect
from qa_core.models.curve import RunScores
from qa_core.settings import AnswerSettings, WindowSettings

POSITION_BINS = 5


def run_scores(answers: Sequence[Answer], examples: Sequence[Example]) -> RunScores:
    scores = score({e.id: a.text for e, a in zip(examples, answers, strict=True)}, examples)
    return RunScores(round(scores.exact_match, 2), round(scores.f1, 2), scores.n)


def answer_positions(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], windows: WindowSettings
) -> list[float | None]:
    """Where each first gold answer starts in the first inference window that holds it whole.

    A share of the window's paragraph tokens (0: its first, 1: its last), so that windows next to
    questions of different lengths compare; None for an answer whose stated offset is not its text.
    """
    encodings = encode_pairs(
        tokenizer, [e.question for e in examples], [e.context for e in examples], windows.question_limit
    )
    positions: list[float | None] = []
    for example, encoding in zip(examples, encodings, strict=True):
        gold = example.answers[0]
        end = gold.start + len(gold.text)
        tokens = char_span_to_tokens(encoding.context_offsets, gold.start, end)
        if tokens is None or example.context[gold.start : end] != gold.text:
            positions.append(None)
            continue
        room = encoding.room_for_context(windows.max_length)
        first, last = tokens
        starts = window_starts(len(encoding.context_ids), room, windows.doc_stride)
        a = next((s for s in starts if s <= first and last < s + room), first)
        positions.append((first - a) / max(1, room - 1))
    return positions


def by_position(
    answers: Sequence[Answer], examples: Sequence[Example], positions: Sequence[float | None]
) -> tuple[PositionBin, ...]:
    """EM/F1 of the questions in each fifth of the window, by where their answer starts."""
    bins = []
    for b in range(POSITION_BINS):
        low, high = b / POSITION_BINS, (b + 1) / POSITION_BINS
        inside = [
            i
            for i, p in enumerate(positions)
            if p is not None and low <= p and (p < high or b == POSITION_BINS - 1)
        ]
        if inside:
            bins.append(
                PositionBin(
                    low, high, run_scores([answers[i] for i in inside], [examples[i] for i in inside])
                )
            )
    return tuple(bins)


def post_processing_effect(
    engine: QAEngine, examples: Sequence[Example], settings: AnswerSettings, run: str
) -> PostProcessingEffect:
    """The same model and questions with the start <= end and length rules on, then off."""
    on = answer_all(engine, examples, settings)
    rules = settings.spans
    off = answer_all(engine, examples, replace(settings, spans=replace(rules, post_processing=False)))
    tops = [a.n_best[0] for a in off if a.n_best]
    return PostProcessingEffect(
        run=run,
        on=run_scores(on, examples),
        off=run_scores(off, examples),
        reversed=sum(c.start_token > c.end_token for c in tops),
        too_long=sum(c.end_token - c.start_token + 1 > rules.max_answer_length for c in tops),
        changed=sum(a.text != b.text for a, b in zip(on, off, strict=True)),
    )
