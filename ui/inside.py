"""The Inside tab: the last answer's tokens and their ids, types and mask, its windows, the start/end
scores and the span matrix, and a playground that redraws the windows for other lengths and strides."""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

from qa_core.answering.records import Answer
from qa_core.explaining import trace_figures
from qa_core.settings import AnswerSettings, WindowSettings
from ui.ask import AskPart
from ui.page import LIMITS, NARROW_MIN_WIDTH, Page, load_engine, slider
from ui.words import in_page_language, key, text, verbatim, worded


class TraceView(NamedTuple):
    note: Any
    window_picker: Any
    token_table: Any
    windows_plot: Any
    matrix_plot: Any


class PlaygroundView(NamedTuple):
    plot: Any
    note: Any


def window_choices(answer: Answer) -> list[tuple[str, int]]:
    trace = answer.trace
    choices_ = []
    for wt in trace.windows:
        w = wt.window
        name = "inside.window_choice_answer" if w.index == trace.winning_window else "inside.window_choice"
        number = trace_figures.window_number(w.index)
        choices_.append((text(name, number=number, first=w.doc_start, last=w.doc_end - 1), w.index))
    return choices_


def show_trace(answer: Answer) -> TraceView:
    trace = answer.trace
    window = trace.winning_window or 0
    return TraceView(
        note=text("inside.drawn_from", question=verbatim(trace.question), windows=len(trace.windows)),
        window_picker=gr.Dropdown(choices=window_choices(answer), value=window),
        token_table=trace_figures.token_table(trace, window),
        windows_plot=trace_figures.windows_figure(
            [w.window for w in trace.windows],
            trace.paragraph_tokens,
            trace_figures.answer_doc_tokens(trace),
            trace.winning_window,
        ),
        matrix_plot=trace_figures.span_matrix_figure(trace),
    )


def show_tokens(answer: Answer | None, window: int | None):
    if answer is None or window is None:
        return gr.skip()
    return trace_figures.token_table(answer.trace, int(window))


def preview(
    question: str,
    context: str,
    model: str | None,
    max_length: float,
    doc_stride: float,
    last: Answer | None,
    last_model: str | None,
) -> PlaygroundView:
    """Redraw the windows for new max_length / doc_stride with the tokenizer alone: no model run."""
    try:
        name, engine = load_engine(model)
        settings = AnswerSettings(
            windows=WindowSettings(max_length=int(max_length), doc_stride=int(doc_stride))
        )
        windows = engine.preview_windows(question, context, settings, LIMITS)
    except (ValueError, OSError) as error:
        return PlaygroundView(plot=gr.skip(), note=f"⚠️ {error}")
    asked = (
        last is not None
        and last_model == name
        and (last.trace.question, last.trace.context) == (question, context)
    )
    figure = trace_figures.windows_figure(
        windows, windows[-1].doc_end, trace_figures.answer_doc_tokens(last.trace) if asked else None
    )
    note = text(
        "inside.playground_note",
        windows=len(windows),
        max_length=int(max_length),
        tokens=windows[-1].doc_end,
        doc_stride=int(doc_stride),
    )
    return PlaygroundView(plot=figure, note=note)


def _trace_view(asked: AskPart) -> TraceView:
    """The trace's components, in the tab's reading order; the scores plot is the Ask tab's copy."""
    note = worded(gr.Markdown, value=key("inside.empty"), elem_id="trace-note")
    worded(gr.Markdown, value=key("inside.tokens_title"))
    for name in ("input_ids", "token_type_ids", "attention_mask", "special_tokens"):
        worded(gr.Markdown, value=key(f"explain.{name}"))
    window_picker = worded(gr.Dropdown, label=key("inside.window"), choices=[], elem_id="window-picker")
    token_table = worded(
        gr.Dataframe,
        headers=list(trace_figures.TOKEN_COLUMNS),
        interactive=False,
        label=key("inside.token_table"),
        elem_id="token-table",
    )
    worded(gr.Markdown, value=key("inside.windows_title"))
    worded(gr.Markdown, value=key("explain.windows"))
    windows_plot = worded(gr.Plot, label=key("inside.windows_plot"), elem_id="windows-plot")
    worded(gr.Markdown, value=key("inside.scores_title"))
    worded(gr.Markdown, value=key("explain.scores"))
    asked.view.scores.render()
    worded(gr.Markdown, value=key("inside.matrix_title"))
    worded(gr.Markdown, value=key("explain.span_matrix"))
    matrix_plot = worded(gr.Plot, label=key("inside.matrix_plot"), elem_id="matrix-plot")
    return TraceView(note, window_picker, token_table, windows_plot, matrix_plot)


def _playground(page: Page, asked: AskPart, tab: Any) -> None:
    """Sliders that redraw the windows of the question in the Ask tab as they move."""
    worded(gr.Markdown, value=key("inside.playground"))
    with gr.Row():
        length = slider(
            WindowSettings,
            "max_length",
            key("inside.playground_length"),
            elem_id="playground-length",
            min_width=NARROW_MIN_WIDTH,
        )
        stride = slider(
            WindowSettings,
            "doc_stride",
            key("inside.playground_stride"),
            elem_id="playground-stride",
            min_width=NARROW_MIN_WIDTH,
        )
    view = PlaygroundView(
        note=gr.Markdown(elem_id="playground-note"),
        plot=worded(gr.Plot, label=key("inside.playground_plot"), elem_id="playground-plot"),
    )
    gr.on(
        [length.change, stride.change, tab.select],
        in_page_language(preview),
        [asked.question, asked.context, asked.model_picker, length, stride]
        + [page.last_answer, page.last_model, page.language],
        list(view),
        api_visibility="private",
        concurrency_id="model",
        trigger_mode="always_last",
        show_progress="hidden",
    )


def render(page: Page, asked: AskPart) -> None:
    """Declare the Inside tab; it fills in after each answer of the Ask tab."""
    with worded(gr.Tab, label=key("tab.inside"), id="inside") as tab:
        view = _trace_view(asked)
        _playground(page, asked, tab)
    asked.answered.success(
        in_page_language(show_trace), [page.last_answer, page.language], list(view), api_visibility="private"
    )
    view.window_picker.change(
        in_page_language(show_tokens),
        [page.last_answer, view.window_picker, page.language],
        view.token_table,
        api_visibility="private",
    )
