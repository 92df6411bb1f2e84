"""Tables and figures that show how BERT reached an answer, drawn only from the engine's records.

Every function takes what ``QAEngine`` returned (``Answer``, ``Trace``, ``Window``) and never runs a
model, so a teaching view shows exactly the computation that produced the answer instead of a
recomputation that might differ. Colours come from the Okabe-Ito palette, which stays
distinguishable under the common colour-vision deficiencies; colour is never the only cue (the
winner and the answer are also named in labels and marked with symbols).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .records import Answer, Block, Offset, Trace, Window, WindowTrace

START_COLOUR = "#0072B2"  # blue
END_COLOUR = "#E69F00"  # orange
ANSWER_COLOUR = "#D55E00"  # vermillion
WINNER_COLOUR = "#009E73"  # bluish green
WINDOW_COLOUR = "#56B4E9"  # sky blue
MUTED_COLOUR = "#BBBBBB"  # tokens that can never be part of an answer
IMPOSSIBLE_COLOUR = "#D9D9D9"  # background that shows through the span matrix's NaN cells
FONT = "Noto Sans, Noto Sans CJK TC, Noto Sans CJK SC, PingFang TC, Microsoft JhengHei, Arial, sans-serif"

TOKEN_LABEL_LIMIT = 64  # windows with more real tokens get numbered ticks (hover shows the tokens)
MATRIX_TOKENS = 60  # the span matrix shows at most this many paragraph tokens per axis
NBEST_COLUMNS = ("rank", "answer", "start", "end", "score", "probability", "window")
BLOCK_REASONS: dict[Block, str] = {
    "not paragraph": "is not paragraph text",
    "no visible text": "covers only white space",
    "max context": "is judged in the window that gives it more context (max-context rule)",
}


class TraceError(ValueError):
    """A figure or table was asked for something the engine's records do not hold."""


# ---------------------------------------------------------------- tables


def highlight_segments(answer: Answer) -> list[tuple[str, str | None]]:
    """The paragraph cut into (text, "answer" | None) pieces that join back to the paragraph exactly."""
    context = _trace(answer, "highlight_segments").context
    if not answer.text:
        return [(context, None)]
    pieces = [
        (context[: answer.start], None),
        (context[answer.start : answer.end], "answer"),
        (context[answer.end :], None),
    ]
    return [(text, label) for text, label in pieces if text]


def nbest_table(answer: Answer) -> pd.DataFrame:
    """The n-best candidates, best first; scores rounded for reading (the Answer keeps full precision)."""
    rows = [
        (rank, c.text, c.start, c.end, round(c.score, 3), round(c.probability, 3), c.window)
        for rank, c in enumerate(answer.n_best, start=1)
    ]
    return pd.DataFrame(rows, columns=list(NBEST_COLUMNS))


def token_table(trace: Trace, window: int) -> pd.DataFrame:
    """One row per token of a window: exactly what the model was fed and what it said about each token."""
    wt = _window_trace(trace, window)
    w = wt.window
    return pd.DataFrame(
        {
            "position": range(len(w.input_ids)),
            "token": wt.tokens,
            "input_id": w.input_ids,
            "token_type_id": w.token_type_ids,
            "attention_mask": w.attention_mask,
            "role": w.roles,
            "characters": [_characters(trace.context, o) for o in w.offsets],
            "start_logit": np.round(wt.start_logits.astype(float), 3),
            "end_logit": np.round(wt.end_logits.astype(float), 3),
        }
    )


def answer_doc_tokens(trace: Trace) -> tuple[int, int] | None:
    """First and last paragraph token (inclusive, whole-paragraph indices) of the answer, for windows_figure.

    The answer is the winning window's own best span: the best span over all windows is also the best
    in the window it came from.
    """
    if trace.winning_window is None:
        return None
    wt = trace.windows[trace.winning_window]
    return wt.window.doc_position(wt.best.start_token), wt.window.doc_position(wt.best.end_token)


# ---------------------------------------------------------------- figures


def windows_figure(
    windows: Sequence[Window],
    paragraph_tokens: int,
    answer_tokens: tuple[int, int] | None = None,
    winning_window: int | None = None,
) -> go.Figure:
    """One horizontal bar per window over the paragraph's tokens; shared tokens shaded, answer marked."""
    fig = go.Figure(_window_bars(windows, winning_window))
    for left, right in pairwise(windows):
        _shade_overlap(fig, left, right)
    if answer_tokens is not None:
        _mark_answer_tokens(fig, answer_tokens)
    fig.update_yaxes(
        tickmode="array",
        tickvals=[w.index for w in windows],
        ticktext=[_window_name(w.index, winning_window) for w in windows],
        autorange="reversed",
        title="",
    )
    fig.update_xaxes(range=[0, max(paragraph_tokens, 1)], title="paragraph token index")
    stride = _shared_tokens(windows)
    subtitle = (
        "The whole paragraph fits in one window next to the question"
        if stride is None
        else f"Each window repeats the question; grey = tokens two neighbouring windows share (doc_stride = {stride})"
    )
    _style(
        fig,
        f"The paragraph's {paragraph_tokens} tokens are read in {len(windows)} window"
        f"{'s' if len(windows) != 1 else ''}",
        subtitle,
        height=max(260, 150 + 34 * len(windows)),
    )
    fig.update_layout(bargap=0.35)
    return fig


def _window_bars(windows: Sequence[Window], winning_window: int | None) -> go.Bar:
    """One horizontal bar per window, its hover naming tokens, characters and padding."""
    return go.Bar(
        orientation="h",
        y=[w.index for w in windows],
        base=[w.doc_start for w in windows],
        x=[w.doc_end - w.doc_start for w in windows],
        marker_color=[WINNER_COLOUR if w.index == winning_window else WINDOW_COLOUR for w in windows],
        marker_line=dict(color="white", width=1),
        text=[_window_bar_label(w, winning_window) for w in windows],
        textposition="inside",
        insidetextanchor="start",
        customdata=[
            (
                w.doc_start,
                w.doc_end - 1,
                w.char_start,
                w.char_end,
                sum(w.attention_mask),
                len(w.input_ids),
            )
            for w in windows
        ],
        hovertemplate=(
            "<b>window %{y}</b><br>paragraph tokens %{customdata[0]}–%{customdata[1]} (%{x} tokens)"
            "<br>characters %{customdata[2]}–%{customdata[3]}"
            "<br>%{customdata[4]} real tokens of %{customdata[5]} in the input<extra></extra>"
        ),
        name="window",
        showlegend=False,
    )


def scores_figure(trace: Trace) -> go.Figure:
    """Start and end scores of every window, one row per window on a shared score axis.

    Padding tokens are left out: their scores are never used and would stretch the axis.
    """
    labelled = max(sum(wt.window.attention_mask) for wt in trace.windows) <= TOKEN_LABEL_LIMIT
    row_height, gap = (210, 95) if labelled else (170, 60)
    height = 170 + row_height * len(trace.windows)
    fig = make_subplots(
        rows=len(trace.windows),
        cols=1,
        subplot_titles=[_row_title(wt, trace.winning_window) for wt in trace.windows],
        vertical_spacing=gap / height,
    )
    for annotation, wt in zip(fig.layout.annotations, trace.windows, strict=True):  # the subplot titles
        if wt.window.index == trace.winning_window:
            annotation.font = dict(color=WINNER_COLOUR, size=14)
    for row, wt in enumerate(trace.windows, start=1):
        _add_score_row(fig, row, wt, trace, labelled)
    _add_greyed_legend(fig)
    fig.update_yaxes(matches="y", range=_score_range(trace), title="score", zeroline=True)
    if not labelled:
        fig.update_xaxes(title="position in window (hover for the token)", row=len(trace.windows), col=1)
    _style(
        fig,
        "Start and end scores of every token, window by window",
        "★ = chosen start / end; grey tokens (question, special, white space) can never be in the answer",
        height=height,
    )
    return fig


def span_matrix_figure(trace: Trace) -> go.Figure:
    """Heatmap of start + end score for every (start, end) pair of the winning window's paragraph tokens."""
    title = "Span scores: start score + end score for every (start, end) pair"
    if trace.winning_window is None:
        return _message_figure(title, "No window has a valid span, so there is no answer and no matrix.")
    wt = trace.windows[trace.winning_window]
    shown = _matrix_positions(wt)
    labels = [_text(wt.tokens[p]) for p in shown]
    fig = go.Figure(
        go.Heatmap(
            x=shown,
            y=shown,
            z=trace.span_matrix[np.ix_(shown, shown)],
            customdata=_cell_notes(trace, wt, shown),
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Viridis",
            colorbar=dict(title=dict(text="start + end", side="right")),
            xgap=1,
            ygap=1,
        )
    )
    best = wt.best
    fig.add_trace(
        go.Scatter(
            x=[best.end_token],
            y=[best.start_token],
            mode="markers",
            marker=dict(symbol="square-open", size=16, color=ANSWER_COLOUR, line=dict(width=3)),
            name="chosen answer",
            hovertemplate=f"chosen answer (score {best.score:.3f})<extra></extra>",
        )
    )
    ticks = dict(tickmode="array", tickvals=shown, ticktext=labels, tickfont=dict(size=11), showgrid=False)
    low, high = (
        float(shown[0] - 0.5),
        float(shown[-1] + 0.5),
    )  # fixed: a chosen cell out of view cannot stretch it
    fig.update_xaxes(title="end token", range=[low, high], **ticks)
    fig.update_yaxes(title="start token", range=[high, low], **ticks)  # first start token at the top
    _style(
        fig,
        f"{title} (window {wt.window.index})",
        _matrix_subtitle(trace, wt, shown),
        height=_matrix_height(shown),
    )
    fig.update_layout(plot_bgcolor=IMPOSSIBLE_COLOUR, showlegend=False, margin_t=115)
    return fig


def loss_figure(points: Sequence[tuple[int, float]]) -> go.Figure:
    """The fine-tuning loss per logged step; an empty list gives an empty chart that says so."""
    title = "Fine-tuning loss"
    if not points:
        return _message_figure(title, "No loss yet: the first value appears after the first logged step.")
    steps, losses = zip(*points, strict=True)
    fig = go.Figure(
        go.Scatter(
            x=steps,
            y=losses,
            mode="lines+markers",
            line=dict(color=START_COLOUR, width=2),
            marker=dict(size=5),
            name="loss",
            hovertemplate="step %{x}<br>loss %{y:.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="training step", rangemode="tozero")
    fig.update_yaxes(title="loss", rangemode="tozero")
    _style(fig, title, f"latest: step {steps[-1]}, loss {losses[-1]:.4f}", height=360)
    fig.update_layout(showlegend=False)
    return fig


# ---------------------------------------------------------------- helpers: records


def _trace(answer: Answer, caller: str) -> Trace:
    if answer.trace is None:
        raise TraceError(
            f"{caller} needs an answer with its trace: use QAEngine.answer, "
            "or QAEngine.answer_many(..., with_trace=True)."
        )
    return answer.trace


def _window_trace(trace: Trace, window: int) -> WindowTrace:
    if not 0 <= window < len(trace.windows):
        raise TraceError(
            f"There is no window {window}: this answer was read in {len(trace.windows)} window(s), "
            f"numbered 0 to {len(trace.windows) - 1}."
        )
    return trace.windows[window]


def _text(raw: str) -> str:
    """Plotly reads labels as a little HTML, where ``<s>`` would strike through the rest: escape it."""
    return html.escape(raw, quote=False)


def _characters(context: str, offset: Offset | None) -> str:
    return "" if offset is None else context[offset[0] : offset[1]]


def _shared_tokens(windows: Sequence[Window]) -> int | None:
    """The shared token count of neighbouring windows (doc_stride), None for a single window."""
    shared = {left.doc_end - right.doc_start for left, right in pairwise(windows)}
    return max(shared) if shared else None


def _token_notes(wt: WindowTrace, blocks: tuple[Block | None, ...], verb: str) -> list[str]:
    """Why each token may or may not start (or end) the answer, from the engine's record, for hover text."""

    def note(role: str, block: Block | None) -> str:
        if block is None:
            return f"may {verb} the answer"
        if block == "not paragraph":
            return f"{role} token: never part of the answer"
        if block == "no visible text":
            return f"covers only white space: cannot {verb} the answer"
        return "starts are judged in the window that gives it more context (max-context rule)"

    return [note(role, block) for role, block in zip(wt.window.roles, blocks, strict=True)]


def _cell_notes(trace: Trace, wt: WindowTrace, shown: np.ndarray) -> list[list[str]]:
    """Hover text of every span-matrix cell: the span and its score, or why it is impossible."""
    limit = trace.settings.spans.max_answer_length

    def note(s: int, e: int) -> str:
        head = f"start <b>{_text(wt.tokens[s])}</b> ({s}) → end <b>{_text(wt.tokens[e])}</b> ({e})<br>"
        if block := wt.start_blocks[s]:
            return head + f"impossible: the start token {BLOCK_REASONS[block]}"
        if block := wt.end_blocks[e]:
            return head + f"impossible: the end token {BLOCK_REASONS[block]}"
        if e < s:
            return head + "impossible: the end comes before the start"
        if e - s + 1 > limit:
            return head + f"impossible: longer than max_answer_length ({limit} tokens)"
        text = trace.context[wt.window.offsets[s][0] : wt.window.offsets[e][1]]
        text = _text(text if len(text) <= 40 else text[:39] + "…")
        score = f"{wt.start_logits[s]:.3f} + {wt.end_logits[e]:.3f} = {trace.span_matrix[s, e]:.3f}"
        return head + f"score {score}<br>text: {text}"

    return [[note(int(s), int(e)) for e in shown] for s in shown]


def _matrix_positions(wt: WindowTrace) -> np.ndarray:
    """Window positions the span matrix shows: the paragraph tokens, or MATRIX_TOKENS around the answer."""
    w = wt.window
    first, stop = w.context_start, w.context_end
    if stop - first <= MATRIX_TOKENS:
        return np.arange(first, stop)
    centre = (wt.best.start_token + wt.best.end_token) // 2
    low = min(max(centre - MATRIX_TOKENS // 2, first), stop - MATRIX_TOKENS)
    return np.arange(low, low + MATRIX_TOKENS)


def _score_range(trace: Trace) -> list[float]:
    """A y range covering every real token's score in every window, with a little room."""
    parts = []
    for wt in trace.windows:
        real = np.array(wt.window.attention_mask) == 1
        parts += [wt.start_logits[real], wt.end_logits[real]]
    values = np.concatenate(parts)
    low, high = float(values.min()), float(values.max())
    pad = max(0.1 * (high - low), 0.1)
    return [low - pad, high + pad]


# ---------------------------------------------------------------- helpers: drawing


def _style(fig: go.Figure, title: str, subtitle: str, *, height: int) -> None:
    fig.update_layout(
        template="plotly_white",
        font=dict(family=FONT, size=13),
        title=dict(text=title, subtitle=dict(text=subtitle), x=0.01, xanchor="left"),
        height=height,
        margin=dict(l=70, r=30, t=95, b=60),
        hoverlabel=dict(font_family=FONT),
    )


def _message_figure(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font_size=15)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _style(fig, title, "", height=300)
    return fig


def _window_name(index: int, winning_window: int | None) -> str:
    return f"<b>window {index} ★</b>" if index == winning_window else f"window {index}"


def _window_bar_label(w: Window, winning_window: int | None) -> str:
    label = f"{w.doc_start}–{w.doc_end - 1}"
    return f"<b>winner · {label}</b>" if w.index == winning_window else label


def _shade_overlap(fig: go.Figure, left: Window, right: Window) -> None:
    if right.doc_start >= left.doc_end:
        return
    fig.add_shape(
        type="rect",
        x0=right.doc_start,
        x1=left.doc_end,
        y0=left.index - 0.45,
        y1=right.index + 0.45,
        fillcolor="rgba(0, 0, 0, 0.22)",
        line_width=0,
        layer="above",
        name=f"shared tokens ({left.doc_end - right.doc_start})",
        showlegend=left.index == 0,
        legendgroup="overlap",
    )


def _mark_answer_tokens(fig: go.Figure, answer_tokens: tuple[int, int]) -> None:
    first, last = answer_tokens
    fig.add_vrect(
        x0=first,
        x1=last + 1,
        fillcolor=ANSWER_COLOUR,
        opacity=0.35,
        line=dict(color=ANSWER_COLOUR, width=2),
        layer="above",
        annotation_text=f"answer (tokens {first}–{last})",
        annotation_position="top",
        annotation_font_color=ANSWER_COLOUR,
        name="answer",
        showlegend=True,
    )


def _row_title(wt: WindowTrace, winning_window: int | None) -> str:
    w = wt.window
    title = f"window {w.index}: paragraph tokens {w.doc_start}–{w.doc_end - 1}"
    return f"<b>★ {title} (winning window)</b>" if w.index == winning_window else title


def _add_score_row(fig: go.Figure, row: int, wt: WindowTrace, trace: Trace, labelled: bool) -> None:
    w = wt.window
    real = np.flatnonzero(np.array(w.attention_mask) == 1)
    for name, logits, blocks, colour, verb in (
        ("start score", wt.start_logits, wt.start_blocks, START_COLOUR, "start"),
        ("end score", wt.end_logits, wt.end_blocks, END_COLOUR, "end"),
    ):
        notes = _token_notes(wt, blocks, verb)
        fig.add_trace(
            go.Scatter(
                x=real,
                y=logits[real],
                mode="lines+markers",
                line=dict(color=colour, width=1.5 if labelled else 1),
                marker=dict(
                    color=[MUTED_COLOUR if blocks[p] else colour for p in real], size=7 if labelled else 4
                ),
                customdata=[(_text(wt.tokens[p]), notes[p]) for p in real],
                hovertemplate=(
                    f"<b>%{{customdata[0]}}</b> (position %{{x}})<br>{name} %{{y:.3f}}<br>%{{customdata[1]}}"
                    f"<extra>window {w.index}</extra>"
                ),
                name=name,
                legendgroup=name,
                showlegend=row == 1,
                meta=dict(window=w.index, series=verb),
            ),
            row=row,
            col=1,
        )
    _shade_non_paragraph(fig, row, w, len(real))
    if w.index == trace.winning_window:
        _mark_winner(fig, row, wt)
    _label_positions(fig, row, wt, real, labelled)


def _shade_non_paragraph(fig: go.Figure, row: int, w: Window, real: int) -> None:
    paragraph_end = w.context_end
    for x0, x1 in ((-0.5, w.context_start - 0.5), (paragraph_end - 0.5, real - 0.5)):
        if x1 > x0:
            fig.add_vrect(
                x0=x0,
                x1=x1,
                fillcolor=MUTED_COLOUR,
                opacity=0.25,
                line_width=0,
                layer="below",
                row=row,
                col=1,
            )


def _mark_winner(fig: go.Figure, row: int, wt: WindowTrace) -> None:
    """Frame the winning row, shade the answer span and star its start and end tokens."""
    best = wt.best
    fig.add_shape(
        type="rect",
        xref="x domain",
        yref="y domain",
        x0=0,
        x1=1,
        y0=0,
        y1=1,
        line=dict(color=WINNER_COLOUR, width=2),
        row=row,
        col=1,
    )
    fig.add_vrect(
        x0=best.start_token - 0.5,
        x1=best.end_token + 0.5,
        fillcolor=ANSWER_COLOUR,
        opacity=0.15,
        line_width=0,
        layer="below",
        annotation_text="answer",
        annotation_position="top left",
        annotation_font_color=ANSWER_COLOUR,
        row=row,
        col=1,
    )
    for name, position, logit, colour in (
        ("chosen start", best.start_token, best.start_logit, START_COLOUR),
        ("chosen end", best.end_token, best.end_logit, END_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=[position],
                y=[logit],
                mode="markers",
                marker=dict(symbol="star", size=17, color=colour, line=dict(color="black", width=1.5)),
                name=name,
                hovertemplate=f"{name}: <b>{_text(wt.tokens[position])}</b> (position {position}) %{{y:.3f}}"
                "<extra></extra>",
            ),
            row=row,
            col=1,
        )


def _label_positions(fig: go.Figure, row: int, wt: WindowTrace, real: np.ndarray, labelled: bool) -> None:
    """Token text as tick labels when the window is short enough to read them, positions otherwise."""
    axis = dict(range=[-0.5, len(wt.window.input_ids) - 0.5], showgrid=False)
    if labelled:
        axis |= dict(
            tickmode="array",
            tickvals=real,
            ticktext=[_text(wt.tokens[p]) for p in real],
            tickfont=dict(size=11),
        )
    fig.update_xaxes(row=row, col=1, **axis)


def _add_greyed_legend(fig: go.Figure) -> None:
    """A legend entry for the grey markers, which no single trace stands for."""
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker=dict(color=MUTED_COLOUR, size=7),
            name="cannot start / end here",
            hoverinfo="skip",
        )
    )


def _matrix_subtitle(trace: Trace, wt: WindowTrace, shown: np.ndarray) -> str:
    paragraph = wt.window.doc_end - wt.window.doc_start
    grey = (
        "grey = impossible: end before start, longer than max_answer_length "
        f"({trace.settings.spans.max_answer_length}), not paragraph text, or a start judged in another window; "
        "□ = chosen answer"
    )
    if len(shown) == paragraph:
        return grey
    return f"showing {len(shown)} of the window's {paragraph} paragraph tokens, around the answer<br>{grey}"


def _matrix_height(shown: np.ndarray) -> int:
    return max(460, 230 + 15 * len(shown))
