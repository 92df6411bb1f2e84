"""The Lecture tab: BERT explained by contextual embeddings and multilingual BERT's cross-lingual transfer.

Four views, each computed once by ``qa_core.explaining.lecture`` and redrawn per layer from the kept
record: the same character in different contexts, embedding arithmetic between languages, the word
pairs projected in two dimensions, and one question asked in two languages.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr
import pandas as pd

from qa_core.answering.engine import QAEngine
from qa_core.explaining import lecture, lecture_figures, trace_figures
from qa_core.explaining.lecture_records import ContextualEmbeddings
from qa_core.settings import require_number, require_text
from ui import lecture_pairs
from ui.page import (
    LIMITS,
    NARROW_MIN_WIDTH,
    SESSION_TTL_S,
    Page,
    asset,
    computed_view,
    layer_redraws,
    layer_slider,
    load_engine,
    refuse,
    within,
    write_csv,
)
from ui.words import key, text, worded

LECTURE = asset("lecture_examples.json")
# sentence sets sharing a target, each line "group: sentence"; the first whose target a model knows is its default
LECTURE_EXAMPLES = LECTURE["contexts"]
SAME_QUESTION = LECTURE["same_question"]  # a paragraph and one question in Chinese and in English


class LectureView(NamedTuple):
    """What "same character, different contexts" fills in; the sentences and target only when left blank."""

    sentences: Any
    target: Any
    layer: Any
    heatmap: Any
    separation: Any
    note: Any
    csv: Any
    record: Any


class SameQuestionView(NamedTuple):
    """What "the same question in two languages" fills in."""

    note: Any
    first_matrix: Any
    second_matrix: Any
    csv: Any


def lecture_example_text(example: dict) -> str:
    return "\n".join(example["sentences"])


def lecture_default(engine: QAEngine) -> dict:
    """The first example set whose target the model knows: the English one for an English-only model."""
    return next((e for e in LECTURE_EXAMPLES if lecture.knows(engine, e["target"])), LECTURE_EXAMPLES[-1])


def lecture_context(sentences: str, target: str, model: str | None, layer: float) -> LectureView:
    """The target's similarity across the sentences at every layer, computed once; blank: the model's example."""
    try:
        sentences, target = require_text("The sentences", sentences), require_text("The target", target)
        layer = int(require_number("layer", layer))
        name, engine = load_engine(model)
        blank = not sentences.strip() and not target.strip()
        if blank:
            example = lecture_default(engine)
            sentences, target = lecture_example_text(example), example["target"]
        record = lecture.contextual_embeddings(engine, *lecture.parse_sentences(sentences), target)
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    layers = record.similarity.shape[0] - 1
    layer = within(layer, 0, layers)
    return LectureView(
        sentences=sentences if blank else gr.skip(),
        target=target if blank else gr.skip(),
        layer=gr.Slider(maximum=layers, value=layer),
        heatmap=lecture_figures.similarity_figure(record, layer),
        separation=lecture_figures.separation_figure(record, layer),
        note=lecture_note(record, name, layers),
        csv=write_csv("similarity", record.key, lecture_figures.similarity_table(record)),
        record=record,
    )


def lecture_note(record: ContextualEmbeddings, model: str, layers: int) -> str:
    """Which tokens stand for the target in each sentence: a student checks the view reads the right thing."""
    tokens = "; ".join(f"{i} `{' '.join(t)}`" for i, t in enumerate(record.tokens, start=1))
    return text(
        "lecture.note",
        target=record.target,
        count=len(record.sentences),
        model=model,
        layers=layers,
        tokens=tokens,
    )


def lecture_layer(record: ContextualEmbeddings | None, layer: float):
    """Another layer of the kept record: the slider runs no model."""
    if record is None:
        return gr.skip(), gr.skip()
    layer = within(layer, 0, record.similarity.shape[0] - 1)
    return (
        lecture_figures.similarity_figure(record, layer),
        lecture_figures.separation_figure(record, layer),
    )


def lecture_same_question(context: str, first: str, second: str, model: str | None) -> SameQuestionView:
    """One question in two languages over one paragraph, both traced for their span matrices."""
    try:
        context, first = require_text("The paragraph", context), require_text("The Chinese question", first)
        second = require_text("The English question", second)
        name, engine = load_engine(model)
        record = lecture.same_question(engine, context, (first, second), limits=LIMITS)
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    one, other = record.answers
    verdict = (
        text("lecture.same_span")
        if record.same_span
        else text("lecture.different_span", overlap=record.overlap)
    )
    table = pd.concat(
        [
            trace_figures.nbest_table(a).assign(question=q)
            for q, a in zip(record.questions, record.answers, strict=True)
        ]
    )
    return SameQuestionView(
        note=text(
            "lecture.same_note", first=one.text or "∅", second=other.text or "∅", verdict=verdict, model=name
        ),
        first_matrix=trace_figures.span_matrix_figure(one.trace),
        second_matrix=trace_figures.span_matrix_figure(other.trace),
        csv=write_csv("same-question", str(abs(hash((context, first, second, name)))), table),
    )


def _contexts(page: Page, model_picker: Any) -> None:
    """Same character, different contexts: the sentences, the target and their similarity per layer."""
    with gr.Row():
        with gr.Column(scale=3):
            sentences = worded(
                gr.Textbox,
                lecture_example_text(LECTURE_EXAMPLES[0]),
                label=key("lecture.sentences"),
                info=key("lecture.sentences_info"),
                lines=10,
                max_lines=lecture.MAX_SENTENCES,
                elem_id="lecture-sentences",
            )
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
            target = worded(
                gr.Textbox, LECTURE_EXAMPLES[0]["target"], label=key("lecture.target"), elem_id="lecture-target"
            )
            worded(gr.Markdown, value=key("lecture.model"))
            button = worded(gr.Button, value=key("lecture.button"), variant="primary", elem_id="lecture-button")
    worded(
        gr.Examples,
        [[lecture_example_text(e), e["target"]] for e in LECTURE_EXAMPLES],
        inputs=[sentences, target],
        example_labels=[e["label"] for e in LECTURE_EXAMPLES],
        label=key("lecture.examples"),
    )
    layer = layer_slider(key("lecture.layer"), "lecture-layer")
    view = LectureView(
        sentences=sentences,
        target=target,
        layer=layer,
        note=gr.Markdown(elem_id="lecture-note"),
        heatmap=worded(gr.Plot, label=key("lecture.heatmap"), elem_id="lecture-heatmap"),
        separation=worded(gr.Plot, label=key("lecture.separation"), elem_id="lecture-separation"),
        csv=worded(gr.DownloadButton, label=key("lecture.csv"), size="sm"),
        record=gr.State(None, time_to_live=SESSION_TTL_S),
    )
    worded(gr.Markdown, value=key("explain.contextual"))
    computed_view(page, button, lecture_context, [sentences, target, model_picker, layer], view)
    layer_redraws(layer, lecture_layer, view.record, [view.heatmap, view.separation])


def _same_question(page: Page, model_picker: Any) -> None:
    """One question in Chinese and in English over one paragraph: their span matrices side by side."""
    worded(gr.Markdown, value=key("lecture.same_intro"), elem_id="same-intro")
    with gr.Row():
        context = worded(gr.Textbox, SAME_QUESTION["context"], label=key("lecture.same_paragraph"), lines=5, scale=2)
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
            first = worded(gr.Textbox, SAME_QUESTION["questions"][0], label=key("lecture.same_first"))
            second = worded(gr.Textbox, SAME_QUESTION["questions"][1], label=key("lecture.same_second"))
            button = worded(gr.Button, value=key("lecture.same_button"), variant="primary", elem_id="same-button")
    note = gr.Markdown(elem_id="same-note")
    with gr.Row():  # side by side: the same cells light up when both questions mean the same
        first_matrix = worded(gr.Plot, label=key("lecture.same_first_matrix"), elem_id="same-first")
        second_matrix = worded(gr.Plot, label=key("lecture.same_second_matrix"), elem_id="same-second")
    view = SameQuestionView(
        note=note,
        first_matrix=first_matrix,
        second_matrix=second_matrix,
        csv=worded(gr.DownloadButton, label=key("lecture.same_csv"), size="sm"),
    )
    computed_view(page, button, lecture_same_question, [context, first, second, model_picker], view)


def render(page: Page, model_picker: Any) -> None:
    """Declare the Lecture tab and wire its views; each runs the model picked in the Ask tab."""
    with worded(gr.Tab, label=key("tab.lecture"), id="lecture"):
        worded(gr.Markdown, value=key("lecture.intro"))
        _contexts(page, model_picker)
        lecture_pairs.render(page, model_picker)
        _same_question(page, model_picker)
