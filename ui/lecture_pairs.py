"""The Lecture tab's word-pair views: embedding arithmetic between Chinese and English, and the pairs
projected in two dimensions, both computed at every layer at once and redrawn per layer from the record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import gradio as gr

from qa_core.explaining import lecture, lecture_figures
from qa_core.explaining.lecture_records import WordArithmetic, WordProjection
from qa_core.settings import require_number, require_text
from ui.page import (
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

WORD_PAIRS = "\n".join(asset("lecture_examples.json")["word_pairs"])  # "Chinese English" a line, for embedding arithmetic


class ArithmeticView(NamedTuple):
    """What "embedding arithmetic" fills in; the word pairs only when left blank."""

    pairs: Any
    layer: Any
    accuracy: Any
    table: Any
    note: Any
    csv: Any
    record: Any


class ProjectionView(NamedTuple):
    """What "meaning across languages" fills in; the word pairs only when left blank."""

    pairs: Any
    layer: Any
    plot: Any
    note: Any
    csv: Any
    record: Any


def word_pairs_view(
    compute: Callable, pairs: str, model: str | None, layer: float
) -> tuple[str, Any, int, bool]:
    """(model name, record, layer within the model, whether the example list was used) for a word-pairs view.

    The pairs and layer are checked here because an API client may send anything.
    """
    try:
        require_text("The word pairs", pairs)
        layer = int(require_number("layer", layer))
        name, engine = load_engine(model)
        blank = not pairs.strip()
        record = compute(engine, lecture.parse_pairs(WORD_PAIRS if blank else pairs))
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    return name, record, within(layer, 0, record.layers), blank


def lecture_arithmetic(pairs: str, model: str | None, layer: float) -> ArithmeticView:
    """Translation by one mean difference between the languages, at every layer at once; blank: the example list."""
    name, record, layer, blank = word_pairs_view(lecture.word_arithmetic, pairs, model, layer)
    return ArithmeticView(
        pairs=WORD_PAIRS if blank else gr.skip(),
        layer=gr.Slider(maximum=record.layers, value=layer),
        accuracy=lecture_figures.accuracy_figure(record, layer),
        table=lecture_figures.neighbour_table(record, layer),
        note=arithmetic_note(record, name),
        csv=write_csv("arithmetic", record.key, lecture_figures.arithmetic_table(record)),
        record=record,
    )


def arithmetic_note(record: WordArithmetic, model: str) -> str:
    """Which pairs were used and which left out: a student sees what the accuracy is a share of."""
    return text(
        "lecture.arithmetic_note",
        pairs=len(record.chinese),
        train=len(record.train),
        held=len(record.held_out),
        seed=record.seed,
        model=model,
        layers=record.layers,
        left_out=", ".join(record.left_out) or text("lecture.arithmetic_none_left_out"),
    )


def arithmetic_layer(record: WordArithmetic | None, layer: float):
    """Another layer of the kept record: the slider runs no model."""
    if record is None:
        return gr.skip(), gr.skip()
    layer = within(layer, 0, record.layers)
    return (
        lecture_figures.accuracy_figure(record, layer),
        lecture_figures.neighbour_table(record, layer),
    )


def lecture_projection(pairs: str, model: str | None, layer: float) -> ProjectionView:
    """The pairs' vectors in two dimensions at every layer, computed once; blank: the example list."""
    name, record, layer, blank = word_pairs_view(lecture.word_projection, pairs, model, layer)
    return ProjectionView(
        pairs=WORD_PAIRS if blank else gr.skip(),
        layer=gr.Slider(maximum=record.layers, value=layer),
        plot=lecture_figures.projection_figure(record, layer),
        note=text(
            "lecture.projection_note",
            pairs=len(record.chinese),
            model=name,
            layers=record.layers,
            left_out=", ".join(record.left_out) or text("lecture.arithmetic_none_left_out"),
        ),
        csv=write_csv("projection", record.key, lecture_figures.projection_table(record)),
        record=record,
    )


def projection_layer(record: WordProjection | None, layer: float):
    """Another layer of the kept record: the slider runs no model."""
    if record is None:
        return gr.skip()
    return lecture_figures.projection_figure(record, within(layer, 0, record.layers))




def _arithmetic(page: Page, model_picker: Any) -> Any:
    """Embedding arithmetic: its pairs box, which the projection below reads too."""
    worded(gr.Markdown, value=key("lecture.arithmetic_intro"))
    with gr.Row():
        with gr.Column(scale=3):
            pairs = worded(
                gr.Textbox,
                WORD_PAIRS,
                label=key("lecture.arithmetic_pairs"),
                info=key("lecture.arithmetic_pairs_info"),
                lines=8,
                max_lines=20,
                elem_id="arithmetic-pairs",
            )
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
            worded(gr.Markdown, value=key("lecture.arithmetic_model"))
            button = worded(gr.Button, value=key("lecture.button"), variant="primary", elem_id="arithmetic-button")
    layer = layer_slider(key("lecture.layer"), "arithmetic-layer")
    view = ArithmeticView(
        pairs=pairs,
        layer=layer,
        note=gr.Markdown(elem_id="arithmetic-note"),
        accuracy=worded(gr.Plot, label=key("lecture.arithmetic_accuracy"), elem_id="arithmetic-accuracy"),
        table=worded(
            gr.Dataframe, label=key("lecture.arithmetic_table"), interactive=False, wrap=True, elem_id="arithmetic-table"
        ),
        csv=worded(gr.DownloadButton, label=key("lecture.arithmetic_csv"), size="sm"),
        record=gr.State(None, time_to_live=SESSION_TTL_S),
    )
    worded(gr.Markdown, value=key("explain.arithmetic"))
    computed_view(page, button, lecture_arithmetic, [pairs, model_picker, layer], view)
    layer_redraws(layer, arithmetic_layer, view.record, [view.accuracy, view.table])
    return pairs


def _projection(page: Page, model_picker: Any, pairs: Any) -> None:
    worded(gr.Markdown, value=key("lecture.projection_intro"))
    button = worded(gr.Button, value=key("lecture.projection_button"), elem_id="projection-button")
    layer = layer_slider(key("lecture.layer"), "projection-layer")
    view = ProjectionView(
        pairs=pairs,
        layer=layer,
        note=gr.Markdown(elem_id="projection-note"),
        plot=worded(gr.Plot, label=key("lecture.projection_plot"), elem_id="projection-plot"),
        csv=worded(gr.DownloadButton, label=key("lecture.projection_csv"), size="sm"),
        record=gr.State(None, time_to_live=SESSION_TTL_S),
    )
    worded(gr.Markdown, value=key("explain.projection"))
    computed_view(page, button, lecture_projection, [pairs, model_picker, layer], view)
    layer_redraws(layer, projection_layer, view.record, view.plot)


def render(page: Page, model_picker: Any) -> None:
    """Declare the word-pair views inside the Lecture tab and wire them."""
    pairs = _arithmetic(page, model_picker)
    _projection(page, model_picker, pairs)
