"""The Lessons tab's "what a confidence number means": a file's questions answered once by a model with an
answer check, then the threshold moved over the kept record (no model run) to show what it buys and costs."""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

from qa_core.data.squad import load_examples
from qa_core.explaining import calibration_figures, confidence
from qa_core.explaining.confidence import ConfidenceRecord
from qa_core.settings import SpanRules, bound_of, require_number
from qa_core.train.jobs import SAMPLE_DATA
from ui.page import NARROW_MIN_WIDTH, SESSION_TTL_S, Page, load_engine, model_run, refuse
from ui.words import in_page_language, key, text, worded

QUESTIONS = (10, 300, 10, 60)  # answerable questions measured: low, high, step, start (about 10 s at 60)


class ConfidenceView(NamedTuple):
    """What a measurement fills in; the threshold slider moves to the model's own."""

    record: Any
    threshold: Any
    note: Any
    coverage: Any
    reliability: Any


def measure(
    data_file: str | None, model: str | None, questions: float, share: float
) -> ConfidenceView:
    """Answer the file's first questions and as many made unanswerable, and draw them at the model's threshold."""
    try:
        count = int(require_number("questions", questions))
        share = float(require_number("unanswerable share", share))
        name, engine = load_engine(model)
        examples = load_examples(data_file or SAMPLE_DATA)
        record = confidence.answer_file(engine, confidence.with_negatives(examples, count, share))
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    bins, error = record.reliability()
    return ConfidenceView(
        record=record,
        threshold=gr.Slider(value=round(record.threshold, 2)),
        reliability=calibration_figures.reliability_figure(bins, error),
        **redraw(record, record.threshold)._asdict(),
    )


class ThresholdView(NamedTuple):
    note: Any
    coverage: Any


def redraw(record: ConfidenceRecord | None, threshold: float) -> ThresholdView:
    """The coverage plot and the note at another threshold, from the kept record."""
    if record is None:
        return ThresholdView(note=gr.skip(), coverage=gr.skip())
    caught, lost = record.flagged(threshold)
    answered = record.probabilities >= threshold
    right = float(record.right[answered].mean()) if answered.any() else float("nan")
    note = text(
        "confidence.note",
        threshold=threshold,
        stored=record.threshold,
        count=len(record.probabilities),
        unanswerable=int(record.unanswerable.sum()),
        answered=100 * answered.mean(),
        right=100 * right,
        caught=100 * caught,
        lost=100 * lost,
    )
    return ThresholdView(note=note, coverage=calibration_figures.coverage_risk_figure(record.coverage(), threshold))


def render(page: Page, model_picker: Any) -> None:
    """Declare the section and wire it: measuring runs the model, the threshold slider does not."""
    worded(gr.Markdown, value=key("confidence.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            data_file = worded(gr.File, label=key("confidence.file"), file_types=[".json", ".gz"])
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
            low, high, step, start = QUESTIONS
            questions = worded(gr.Slider, low, high, start, step=step, label=key("confidence.questions"))
            share = worded(gr.Slider, 0, 1, 0.5, step=0.1, label=key("confidence.share"))
            button = worded(gr.Button, value=key("confidence.button"), variant="primary", elem_id="confidence-button")
    bound = bound_of(SpanRules, "answer_threshold")
    threshold = worded(
        gr.Slider, bound.low, bound.high, 0.5, step=bound.step, label=key("confidence.threshold"), elem_id="confidence-threshold"
    )
    view = ConfidenceView(
        record=gr.State(None, time_to_live=SESSION_TTL_S),
        threshold=threshold,
        note=gr.Markdown(elem_id="confidence-note"),
        coverage=worded(gr.Plot, label=key("confidence.coverage"), elem_id="confidence-coverage"),
        reliability=worded(gr.Plot, label=key("confidence.reliability"), elem_id="confidence-reliability"),
    )
    button.click(
        model_run(measure),
        [data_file, model_picker, questions, share, page.language],
        list(view),
        api_name="confidence",
        concurrency_id="model",
    )
    threshold.release(
        in_page_language(redraw),
        [view.record, threshold, page.language],
        [view.note, view.coverage],
        api_visibility="private",
        show_progress="hidden",
    )
