"""The "Why this span" tab: the logit lens, attributions (with a contrast span) and attention, for the
answer or any span of the last question, computed once per question and span and kept."""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

from qa_core.answering.records import Answer, Trace
from qa_core.explaining import trace_figures, why, why_figures
from qa_core.explaining.style import message_figure
from qa_core.explaining.why_records import Explanation
from qa_core.settings import AttributionMethod, AttributionSettings, choices, default_of
from ui.ask import AskPart
from ui.page import (
    EXPLAIN_SECONDS,
    NARROW_MIN_WIDTH,
    SESSION_TTL_S,
    Page,
    load_engine,
    model_run,
    refuse,
    slider,
    within,
    write_csv,
)
from ui.words import in_page_language, key, setting_choices, text, worded

OPENING_HEAD = (12, 1)  # the sliders' first position: "not chosen yet", so an explanation picks the head
WHY_RESULTS = 64  # explanations kept: one question's lens, attention and a few attributions each
memo = why.Memo(WHY_RESULTS)
clock = why.PassClock()  # this server's measured speed, by model: the estimate shown before a run


class WhyView(NamedTuple):
    layer: Any
    head: Any
    lens_plot: Any
    lens_table: Any
    attribution_text: Any
    attribution_plot: Any
    contrast_plot: Any
    overview: Any
    attention_plot: Any
    explanation: Any
    csv_lens: Any
    csv_attribution: Any
    csv_attention: Any


def span_value(window: int, start: int, end: int) -> str:
    """A span as the "why" pickers hold it: window, start token and end token (all 0-based)."""
    return f"{window}/{start}/{end}"


def parse_span(value: Any) -> tuple[int, int, int]:
    try:
        window, start, end = (int(part) for part in str(value).split("/"))
    except ValueError:
        raise ValueError(f"{value!r} is not a span: choose one from the list.") from None
    return window, start, end


def answer_span(answer: Answer) -> tuple[int, int, int]:
    """The answer's own span: what "Explain" explains when no other span is picked."""
    if not answer.n_best:
        raise ValueError(text("why.no_span"))
    top = answer.n_best[0]
    return top.window, top.start_token, top.end_token


def span_choices(answer: Answer) -> list[tuple[str, str]]:
    """The n-best rows as pickable spans, labelled as the n-best table shows them."""
    return [
        (
            text(
                "why.span_choice",
                rank=rank,
                text=c.text if len(c.text) <= 30 else c.text[:29] + "…",
                window=trace_figures.window_number(c.window),
                first=c.start_token,
                last=c.end_token,
            ),
            span_value(c.window, c.start_token, c.end_token),
        )
        for rank, c in enumerate(answer.n_best, start=1)
    ]


def show_span_choices(answer: Answer):
    """After each question: the spans to explain (the answer first) and the spans to compare with."""
    spans = span_choices(answer)
    first = spans[0][1] if spans else None
    contrast = [(text("why.contrast_none"), ""), *spans]
    return gr.Dropdown(choices=spans, value=first), gr.Dropdown(choices=contrast, value="")


def pick_nbest_row(answer: Answer | None, evt: gr.SelectData):
    """A click on a row of the n-best table picks that span for the "why" views."""
    if answer is None or not answer.n_best:
        return gr.skip()
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    candidate = answer.n_best[int(row)]
    return span_value(candidate.window, candidate.start_token, candidate.end_token)


def use_cell(answer: Answer | None, start: float, end: float):
    """A (start, end) cell of the winning window's span matrix as the span to explain."""
    if answer is None or answer.trace.winning_window is None:
        raise refuse(ValueError(text("why.empty")))
    window = answer.trace.winning_window
    value = span_value(window, int(start), int(end))
    label = text("why.cell_choice", first=int(start), last=int(end), window=trace_figures.window_number(window))
    return gr.Dropdown(choices=[*span_choices(answer), (label, value)], value=value)


def explain(
    answer: Answer | None,
    model: str | None,
    span: str,
    contrast: str,
    method: AttributionMethod,
    steps: float,
    layer: float,
    head: float,
    hide_special: bool,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio hands a callback its progress bar
) -> WhyView:
    """The three "why" views of one span, computed once per question, span and model weights (``memo``);
    integrated gradients reports its steps and stops planning them at the server's ``EXPLAIN_SECONDS``."""
    if answer is None:
        raise refuse(ValueError(text("why.empty")))
    try:
        _, engine = load_engine(model)
        settings = AttributionSettings(method=method, steps=int(steps))
        chosen = parse_span(span) if span else answer_span(answer)
        other = parse_span(contrast) if contrast else None
        said = text("why.progress")
        pace = why.Pace(lambda done, planned: progress((done, planned), desc=said), EXPLAIN_SECONDS, clock)
        explanation = why.explain(engine, answer.trace, chosen, other, settings, memo, pace)
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    return why_view(explanation, answer.trace, int(layer), int(head), hide_special)


def estimate(answer: Answer | None, model: str | None, method: AttributionMethod, steps: float) -> str:
    """How long the attribution asked for will take, from this server's last measured pass of this model."""
    if method != "integrated gradients":
        return text("why.estimate_quick")
    passes = int(steps) + 2  # the input's and the baseline's passes besides the steps
    try:
        _, engine = load_engine(model)
    except (ValueError, OSError):
        return ""
    window = answer.trace.winning_window if answer is not None else None
    tokens = sum(answer.trace.windows[window].window.attention_mask) if window is not None else 0
    seconds = clock.estimate(engine.identity, tokens, passes) if tokens else None
    if seconds is None:
        return text("why.estimate_unknown", passes=passes)
    if EXPLAIN_SECONDS is not None and seconds > EXPLAIN_SECONDS:
        return text("why.estimate_bounded", seconds=seconds, bound=EXPLAIN_SECONDS)
    return text("why.estimate", seconds=max(seconds, 1.0))


def why_view(explanation: Explanation, trace: Trace, layer: int, head: int, hide_special: bool) -> WhyView:
    """Every figure and table of the "why" tab from the explanation; ``layer`` and ``head`` count from 1.
    Sliders not moved yet open on the head that attends most to the question."""
    lens, attention = explanation.lens, explanation.attention
    layers, heads, _ = attention.from_answer.shape
    if (layer, head) == OPENING_HEAD:
        layer, head = (n + 1 for n in attention.most_on_question())
    layer, head = within(layer, 1, layers), within(head, 1, heads)
    return WhyView(
        layer=gr.Slider(maximum=layers, value=layer),
        head=gr.Slider(maximum=heads, value=head),
        lens_plot=why_figures.lens_figure(lens),
        lens_table=why_figures.lens_table(lens, trace),
        **attribution_views(explanation, trace, hide_special),
        overview=why_figures.attention_overview(attention),
        attention_plot=head_figure(explanation, layer, head, hide_special),
        explanation=explanation,
        csv_lens=write_csv("lens", explanation.key, why_figures.lens_scores_table(lens)),
        csv_attention=write_csv("attention", explanation.key, why_figures.attention_table(attention)),
    )


def attribution_views(explanation: Explanation, trace: Trace, hide_special: bool) -> dict[str, Any]:
    """The attribution's shaded text, bars, contrast and CSV; messages where there is none to show."""
    attribution, other = explanation.attribution, explanation.contrast
    if attribution is None:  # an int8 server
        message = message_figure(text("why.attribution_plot"), text("why.int8"))
        return dict(
            attribution_text=[], attribution_plot=message, contrast_plot=message, csv_attribution=None
        )
    units = why_figures.attribution_units(attribution, trace)
    contrast = (
        why_figures.contrast_figure(attribution, other, trace)
        if other is not None
        else message_figure(text("why.contrast_plot"), text("why.contrast_none"))
    )
    return dict(
        attribution_text=why_figures.highlighted(units, trace, hide_special=hide_special),
        attribution_plot=why_figures.attribution_figure(attribution, trace),
        contrast_plot=contrast,
        csv_attribution=write_csv("attribution", explanation.key, why_figures.attribution_table(attribution)),
    )


HINTED = ("why.lens_plot", "why.attribution_plot", "why.contrast_plot", "why.attention_overview", "why.attention_plot")


def waiting(plot: str) -> Any:
    """An empty plot frame that says how to fill it (``plot``: the plot's label key)."""
    return message_figure(text(plot), text("why.press_explain"))


def waiting_figures(explanation: Explanation | None) -> list[Any]:
    """After a language switch: the waiting frames in the new language, or, once explained, no change."""
    return [gr.skip() if explanation is not None else waiting(plot) for plot in HINTED]


def head_figure(explanation: Explanation | None, layer: float, head: float, hide_special: bool):
    """One head's weights from the kept attention record: moving the sliders runs no model."""
    if explanation is None:
        return gr.skip()
    attention = explanation.attention
    layers, heads, _ = attention.from_answer.shape
    layer, head = within(layer, 1, layers), within(head, 1, heads)
    return why_figures.attention_figure(attention, layer - 1, head - 1, hide_special=hide_special)


def _pickers() -> dict[str, Any]:
    """The span to explain, a span to contrast it with, a matrix cell, and the attribution method."""
    picked: dict[str, Any] = {}
    with gr.Row():
        with gr.Column(scale=2, min_width=NARROW_MIN_WIDTH):
            # any "window/start/end" is accepted, so an API client can explain a span of its choosing
            picked["span"] = worded(
                gr.Dropdown, label=key("why.span"), choices=[], allow_custom_value=True, elem_id="why-span"
            )
            picked["contrast"] = worded(
                gr.Dropdown,
                label=key("why.contrast"),
                choices=[],
                value="",  # no comparison, also for an API client that leaves it out
                allow_custom_value=True,
                elem_id="why-contrast",
            )
            with worded(gr.Accordion, label=key("why.cell"), open=False):
                with gr.Row():
                    picked["start"] = worded(gr.Number, 0, label=key("why.cell_start"), precision=0, minimum=0)
                    picked["end"] = worded(gr.Number, 0, label=key("why.cell_end"), precision=0, minimum=0)
                picked["cell"] = worded(gr.Button, value=key("why.cell_button"), size="sm")
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
            picked["method"] = worded(
                gr.Radio,
                choices=setting_choices(choices(AttributionMethod)),
                value=default_of(AttributionSettings, "method"),
                label=key("why.method"),
            )
            picked["steps"] = slider(AttributionSettings, "steps", key("why.steps"))
            picked["estimate"] = gr.Markdown(elem_id="why-estimate")
            picked["button"] = worded(gr.Button, value=key("why.button"), variant="primary", elem_id="why-button")
    return picked


def _views() -> tuple[WhyView, Any]:
    """The lens, the attribution and the attention, in the tab's reading order, and their CSV files;
    with the "hide special tokens" box, an input of the views rather than one of their outputs."""
    worded(gr.Markdown, value=key("why.lens_title"))
    worded(gr.Markdown, value=key("explain.lens"))
    lens_plot = worded(gr.Plot, waiting("why.lens_plot"), label=key("why.lens_plot"), elem_id="why-lens")
    lens_table = worded(
        gr.Dataframe, label=key("why.lens_table"), interactive=False, headers=list(why_figures.LENS_COLUMNS)
    )
    worded(gr.Markdown, value=key("why.attribution_title"))
    worded(gr.Markdown, value=key("explain.attribution"))
    shaded = worded(gr.HighlightedText, label=key("why.attribution_text"), show_legend=True, elem_id="why-attribution-text")
    with gr.Row():
        attribution_plot = worded(
            gr.Plot, waiting("why.attribution_plot"), label=key("why.attribution_plot"), elem_id="why-attribution"
        )
        contrast_plot = worded(
            gr.Plot, waiting("why.contrast_plot"), label=key("why.contrast_plot"), elem_id="why-contrast-plot"
        )
    worded(gr.Markdown, value=key("why.attention_title"))
    worded(gr.Markdown, value=key("explain.attention"))
    overview = worded(
        gr.Plot, waiting("why.attention_overview"), label=key("why.attention_overview"), elem_id="why-overview"
    )
    with gr.Row():
        layer = worded(gr.Slider, 1, 12, OPENING_HEAD[0], step=1, label=key("why.layer"), min_width=NARROW_MIN_WIDTH)
        head = worded(gr.Slider, 1, 12, OPENING_HEAD[1], step=1, label=key("why.head"), min_width=NARROW_MIN_WIDTH)
        hide_special = worded(gr.Checkbox, True, label=key("why.hide_special"), min_width=NARROW_MIN_WIDTH)
    attention_plot = worded(
        gr.Plot, waiting("why.attention_plot"), label=key("why.attention_plot"), elem_id="why-attention"
    )
    worded(gr.Markdown, value=key("why.export"))
    with gr.Row():
        csvs = [worded(gr.DownloadButton, label=key(f"why.csv_{name}"), size="sm") for name in ("lens", "attribution", "attention")]
    view = WhyView(
        layer=layer,
        head=head,
        lens_plot=lens_plot,
        lens_table=lens_table,
        attribution_text=shaded,
        attribution_plot=attribution_plot,
        contrast_plot=contrast_plot,
        overview=overview,
        attention_plot=attention_plot,
        explanation=gr.State(None, time_to_live=SESSION_TTL_S),
        csv_lens=csvs[0],
        csv_attribution=csvs[1],
        csv_attention=csvs[2],
    )
    return view, hide_special


def render(page: Page, asked: AskPart) -> None:
    """Declare the "Why this span" tab; its span pickers fill in after each answer of the Ask tab."""
    with worded(gr.Tab, label=key("tab.why"), id="why"):
        worded(gr.Markdown, value=key("why.intro"))
        picked = _pickers()
        view, hide_special = _views()
    span, contrast = picked["span"], picked["contrast"]
    asked.answered.success(
        in_page_language(show_span_choices), [page.last_answer, page.language], [span, contrast], api_name="why_spans"
    )
    asked.view.nbest.select(pick_nbest_row, page.last_answer, span, api_visibility="private")
    picked["cell"].click(use_cell, [page.last_answer, picked["start"], picked["end"]], span, api_name="why_cell")
    estimated = dict(
        fn=in_page_language(estimate),
        inputs=[page.last_answer, page.last_model, picked["method"], picked["steps"], page.language],
        outputs=picked["estimate"],
        api_visibility="private",
        show_progress="hidden",
    )
    asked.answered.success(**estimated)
    gr.on([picked["method"].change, picked["steps"].release], **estimated)
    settings = [picked["method"], picked["steps"], view.layer, view.head]
    explained = picked["button"].click(
        model_run(explain),
        [page.last_answer, page.last_model, span, contrast, *settings, hide_special, page.language],
        list(view),
        api_name="explain",
        concurrency_id="model",
    )
    explained.then(**estimated)
    plots = [view.lens_plot, view.attribution_plot, view.contrast_plot, view.overview, view.attention_plot]
    page.after_switch.append((waiting_figures, [view.explanation], plots))  # now from this server's own measured speed
    gr.on(
        [view.layer.release, view.head.release, hide_special.change],
        head_figure,
        [view.explanation, view.layer, view.head, hide_special],
        view.attention_plot,
        api_visibility="private",
        show_progress="hidden",
    )
