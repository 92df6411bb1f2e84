"""Tables and figures that show how BERT reached an answer, drawn only from the engine's records.

Every function takes what ``QAEngine`` returned (``Answer``, ``Trace``, ``Window``) and never runs a
model, so a teaching view shows exactly the computation that produced the answer instead of a
recomputation that might differ. Colour is never the only
cue: the winner and the answer are also named in labels and marked with symbols.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qa_core.answering.records import (
    Answer,
    Block,
    NullDecision,
    Offset,
    Span,
    TokenRole,
    Trace,
    Window,
    WindowTrace,
)
from qa_core.explaining.style import (
    ANSWER_COLOUR,
    END_COLOUR,
    IMPOSSIBLE_COLOUR,
    MUTED_COLOUR,
    ROW_TITLE_CHARS,
    ROW_TITLE_LINE,
    START_COLOUR,
    WINDOW_COLOUR,
    WINNER_COLOUR,
    escape,
    line_count,
    message_figure,
    style,
)
from qa_core.words import say, say_each

TOKEN_LABEL_LIMIT = 64  # windows with more real tokens get numbered ticks (hover shows the tokens)
MATRIX_TOKENS = 60  # the span matrix shows at most this many paragraph tokens per axis
# End-token labels under the matrix: a 60-token axis in a phone-wide or half-width plot leaves ~5 px per
# label, so the labels smear; every k-th (the answer's end among them) keeps ~13 px each. Rows keep all.
MATRIX_END_LABELS = 20
# Character ranges are shown to people with both ends included ("first char" 177, "last char" 181 is
# context[177:182]); only the records and the /answer API keep Python's exclusive end.
NBEST_COLUMNS = ("rank", "answer", "first char", "last char", "score", "probability", "window")
TOKEN_COLUMNS = (
    "position",
    "token",
    "input_id",
    "token_type_id",
    "attention_mask",
    "role",
    "characters",
    "start_logit",
    "end_logit",
)
NO_CHARACTERS = "(none: word boundary)"  # a lone SentencePiece "▁": it marks where a word begins
WHITE_SPACE = "(white space)"
ANSWER_BAND = 0.8  # room above the first window's bar (in bar rows) for the windows figure's answer label
LABEL_REACH = 30  # pixels between a star and the label that names its token
LABEL_LINE = 22  # pixels between the start and end labels when they sit on the same side
COLOUR_BAR_HEIGHT = 60  # room for the span matrix's colour bar under the plot


class TraceError(ValueError):
    """A figure or table was asked for something the engine's records do not hold."""


def window_number(index: int) -> int:
    """The number people read for window ``index``: windows count from 1 on the page, from 0 in the records.

    Every label, title, table and dropdown goes through here, so the page never shows two numberings.
    """
    return index + 1


def highlight_segments(answer: Answer) -> list[tuple[str, str | None]]:
    """The paragraph cut into (text, "answer" | None) pieces that join back to the paragraph exactly."""
    context = _trace(answer, "highlight_segments").context
    if not answer.text:
        return [(context, None)]
    pieces = [
        (context[: answer.start], None),
        (context[answer.start : answer.end], say("answer")),
        (context[answer.end :], None),
    ]
    return [(text, label) for text, label in pieces if text]


def nbest_table(answer: Answer) -> pd.DataFrame:
    """The n-best candidates, best first; scores rounded for reading (the Answer keeps full precision).

    Characters are given as first and last (both included), windows by their number on the page.
    """
    rows = [
        (
            rank,
            c.text,
            c.start,
            c.end - 1,
            round(c.score, 3),
            round(c.probability, 3),
            window_number(c.window),
        )
        for rank, c in enumerate(answer.n_best, start=1)
    ]
    return pd.DataFrame(rows, columns=say_each(NBEST_COLUMNS))


def token_table(trace: Trace, window: int) -> pd.DataFrame:
    """One row per token of window index ``window``: what the model was fed and said about each token."""
    wt = _window_trace(trace, window)
    w = wt.window
    columns = (
        range(len(w.input_ids)),
        wt.tokens,
        w.input_ids,
        w.token_type_ids,
        w.attention_mask,
        say_each(w.roles),
        [_characters(trace.context, o) for o in w.offsets],
        np.round(wt.start_logits.astype(float), 3),
        np.round(wt.end_logits.astype(float), 3),
    )
    return pd.DataFrame(dict(zip(say_each(TOKEN_COLUMNS), columns, strict=True)))


def answer_doc_tokens(trace: Trace) -> tuple[int, int] | None:
    """First and last paragraph token (inclusive, whole-paragraph indices) of the answer, for windows_figure.

    The answer is the winning window's own best span: the best span over all windows is also the best
    in the window it came from.
    """
    if trace.winning_window is None:
        return None
    wt = trace.windows[trace.winning_window]
    return wt.window.doc_position(wt.best.start_token), wt.window.doc_position(wt.best.end_token)


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
        _mark_answer_tokens(fig, answer_tokens, paragraph_tokens)
    fig.update_yaxes(
        tickmode="array",
        tickvals=[w.index for w in windows],
        ticktext=[_window_name(w.index, winning_window) for w in windows],
        range=[len(windows) - 0.5, -0.5 - (ANSWER_BAND if answer_tokens else 0)],  # window 1 at the top
        title="",
    )
    fig.update_xaxes(range=[0, max(paragraph_tokens, 1)], title=say("paragraph token index"))
    stride = _shared_tokens(windows)
    subtitle = (
        say("The whole paragraph fits in one window next to the question")
        if stride is None
        else say(
            "Each window repeats the question; grey = tokens two neighbouring windows share (doc_stride = {stride})",
            stride=stride,
        )
    )
    counts = dict(tokens=paragraph_tokens, windows=len(windows))
    title = (
        say("{tokens} paragraph tokens, {windows} window", **counts)
        if len(windows) == 1
        else say("{tokens} paragraph tokens, {windows} windows", **counts)
    )
    style(fig, title, subtitle, height=max(200, 90 + 34 * len(windows)))
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
                window_number(w.index),
                w.doc_start,
                w.doc_end - 1,
                w.char_start,
                w.char_end - 1,
                sum(w.attention_mask),
                len(w.input_ids),
            )
            for w in windows
        ],
        hovertemplate=say(
            "<b>window %{{customdata[0]}}</b><br>paragraph tokens %{{customdata[1]}}–%{{customdata[2]}} (%{{x}} tokens)"
            "<br>characters %{{customdata[3]}}–%{{customdata[4]}}"
            "<br>%{{customdata[5]}} real tokens of %{{customdata[6]}} in the input<extra></extra>"
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
    height = 70 + row_height * len(trace.windows)
    fig = make_subplots(
        rows=len(trace.windows),
        cols=1,
        subplot_titles=[_row_title(wt, trace.winning_window) for wt in trace.windows],
        vertical_spacing=gap / height,
    )
    for annotation, wt in zip(fig.layout.annotations, trace.windows, strict=True):  # the subplot titles
        winner = wt.window.index == trace.winning_window
        annotation.font = dict(
            color=WINNER_COLOUR if winner else None, size=14, weight="bold" if winner else None
        )
    for row, wt in enumerate(trace.windows, start=1):
        _add_score_row(fig, row, wt, trace, labelled)
    _add_greyed_legend(fig)
    fig.update_yaxes(matches="y", range=_score_range(trace), title=say("score"), zeroline=True)
    if not labelled:
        fig.update_xaxes(title=say("position in window (hover for the token)"), row=len(trace.windows), col=1)
    style(
        fig,
        say("Start and end scores per token"),
        say(
            "★ = chosen start / end; grey tokens (question, special, white space) can never be in the answer"
        ),
        height=height,
        above_plot=line_count(fig.layout.annotations[0].text) * ROW_TITLE_LINE,
    )
    return fig


def span_matrix_figure(trace: Trace) -> go.Figure:
    """Heatmap of start + end score for every (start, end) pair of the winning window's paragraph tokens."""
    if trace.winning_window is None:
        return message_figure(
            say("Span scores"), say("No window has a valid span, so there is no answer and no matrix.")
        )
    wt = trace.windows[trace.winning_window]
    shown = _matrix_positions(wt)
    labels = [escape(wt.tokens[p]) for p in shown]
    fig = go.Figure(_span_heatmap(trace, wt, shown))
    best = wt.best
    fig.add_trace(
        go.Scatter(
            x=[best.end_token],
            y=[best.start_token],
            mode="markers",
            marker=dict(symbol="square-open", size=16, color=ANSWER_COLOUR, line=dict(width=3)),
            name="chosen answer",
            hovertemplate=say("chosen answer (score {score:.3f})<extra></extra>", score=best.score),
        )
    )
    ticks = dict(tickmode="array", tickfont=dict(size=11), showgrid=False)
    low, high = (
        float(shown[0] - 0.5),
        float(shown[-1] + 0.5),
    )  # fixed: a chosen cell out of view cannot stretch it
    ends = _thinned(shown, best.end_token, MATRIX_END_LABELS)
    fig.update_xaxes(
        title=say("end token"), range=[low, high], tickvals=ends, ticktext=[escape(wt.tokens[p]) for p in ends], **ticks
    )
    fig.update_yaxes(  # first start token at the top
        title=say("start token"), range=[high, low], tickvals=shown, ticktext=labels, **ticks
    )
    style(
        fig,
        say("Span scores in window {number}", number=window_number(wt.window.index)),
        _matrix_subtitle(trace, wt, shown),
        height=_matrix_height(shown) + COLOUR_BAR_HEIGHT,
        legend=False,
    )
    fig.update_layout(plot_bgcolor=IMPOSSIBLE_COLOUR)
    return fig


def _span_heatmap(trace: Trace, wt: WindowTrace, shown: np.ndarray) -> go.Heatmap:
    """The span-score cells of the shown positions (NaN where impossible), each cell's hover saying why."""
    return go.Heatmap(
        x=shown,
        y=shown,
        z=trace.span_matrix[np.ix_(shown, shown)],
        customdata=_cell_notes(trace, wt, shown),
        hovertemplate="%{customdata}<extra></extra>",
        colorscale="Viridis",
        colorbar=dict(  # under the matrix: at the side it would take a quarter of a phone's width
            title=dict(text=say("start + end"), side="top"),
            orientation="h",
            yref="container",
            y=0,
            yanchor="bottom",
            thickness=12,
            len=0.6,
        ),
        xgap=1,
        ygap=1,
    )


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
            f"There is no window index {window}: this answer was read in {len(trace.windows)} window(s), "
            f"indices 0 to {len(trace.windows) - 1} (shown to people as windows 1 to {len(trace.windows)})."
        )
    return trace.windows[window]


def _characters(context: str, offset: Offset | None) -> str:
    """The paragraph characters a token stands for, named when there is nothing visible to show.

    Question and special tokens have no paragraph characters (blank). A lone SentencePiece "▁" covers
    none: it only marks that a word begins, so a student would otherwise see an empty cell and wonder.
    """
    if offset is None:
        return ""
    characters = context[offset[0] : offset[1]]
    if not characters:
        return NO_CHARACTERS
    return characters if characters.strip() else WHITE_SPACE


def _shared_tokens(windows: Sequence[Window]) -> int | None:
    """The shared token count of neighbouring windows (doc_stride), None for a single window."""
    shared = {left.doc_end - right.doc_start for left, right in pairwise(windows)}
    return max(shared) if shared else None


def _token_notes(wt: WindowTrace, blocks: tuple[Block | None, ...], verb: str) -> list[str]:
    """Why each token may or may not start (or end) the answer, from the engine's record, for hover text."""
    side = side_name(verb)

    def note(role: TokenRole, block: Block | None) -> str:
        if block is None:
            return say("may {verb} the answer", verb=side)
        if block == "not paragraph":
            return say("{role} token: never part of the answer", role=role_name(role))
        if block == "no visible text":
            return say("covers only white space: cannot {verb} the answer", verb=side)
        return say("starts are judged in the window that gives it more context (max-context rule)")

    return [note(role, block) for role, block in zip(wt.window.roles, blocks, strict=True)]


def _cell_notes(trace: Trace, wt: WindowTrace, shown: np.ndarray) -> list[list[str]]:
    """Hover text of every span-matrix cell: the span and its score, or why it is impossible."""
    limit = trace.settings.spans.max_answer_length

    def note(s: int, e: int) -> str:
        tokens = dict(start=escape(wt.tokens[s]), s=s, end=escape(wt.tokens[e]), e=e)
        head = say("start <b>{start}</b> ({s}) → end <b>{end}</b> ({e})", **tokens) + "<br>"
        if block := wt.start_blocks[s]:
            return head + say("impossible: the start token {reason}", reason=_block_reason(block))
        if block := wt.end_blocks[e]:
            return head + say("impossible: the end token {reason}", reason=_block_reason(block))
        if e < s:
            return head + say("impossible: the end comes before the start")
        if e - s + 1 > limit:
            return head + say("impossible: longer than max_answer_length ({limit} tokens)", limit=limit)
        text = trace.context[wt.window.offsets[s][0] : wt.window.offsets[e][1]]
        text = escape(text if len(text) <= 40 else text[:39] + "…")
        scores = dict(start=wt.start_logits[s], end=wt.end_logits[e], span=trace.span_matrix[s, e])
        return head + say("score {start:.3f} + {end:.3f} = {span:.3f}<br>text: {text}", **scores, text=text)

    return [[note(int(s), int(e)) for e in shown] for s in shown]


def _block_reason(block: Block) -> str:
    """Why a token can start (or end) no span, to follow "impossible: the start token"."""
    if block == "not paragraph":
        return say("is not paragraph text")
    if block == "no visible text":
        return say("covers only white space")
    return say("is judged in the window that gives it more context (max-context rule)")


def side_name(side: str) -> str:
    """ "start" or "end", as a reader says the start or end of a span."""
    return say("start") if side == "start" else say("end")


def role_name(role: TokenRole) -> str:
    """A token's role as the reader says it: "question", "paragraph", "special" or "padding"."""
    if role == "question":
        return say("question")
    if role == "paragraph":
        return say("paragraph")
    return say("special") if role == "special" else say("padding")


def _matrix_positions(wt: WindowTrace) -> np.ndarray:
    """Window positions the span matrix shows: the paragraph tokens, or MATRIX_TOKENS around the answer."""
    w = wt.window
    first, stop = w.context_start, w.context_end
    if stop - first <= MATRIX_TOKENS:
        return np.arange(first, stop)
    centre = (wt.best.start_token + wt.best.end_token) // 2
    low = min(max(centre - MATRIX_TOKENS // 2, first), stop - MATRIX_TOKENS)
    return np.arange(low, low + MATRIX_TOKENS)


def _thinned(positions: np.ndarray, keep: int, most: int) -> list[int]:
    """At most ``most`` of ``positions``, evenly spaced and including ``keep`` (the answer's end) when shown."""
    step = -(-len(positions) // most)
    return [int(p) for p in positions if (p - keep) % step == 0]


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


def _window_name(index: int, winning_window: int | None) -> str:
    name = say("window {number}", number=window_number(index))
    return f"<b>{name} ★</b>" if index == winning_window else name


def _window_bar_label(w: Window, winning_window: int | None) -> str:
    label = f"{w.doc_start}–{w.doc_end - 1}"
    return say("<b>winner · {tokens}</b>", tokens=label) if w.index == winning_window else label


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
        name=say("shared tokens ({count})", count=left.doc_end - right.doc_start),
        showlegend=left.index == 0,
        legendgroup="overlap",
    )


def _mark_answer_tokens(fig: go.Figure, answer_tokens: tuple[int, int], paragraph_tokens: int) -> None:
    """Shade the answer's tokens and name them in the band above the bars (see ANSWER_BAND).

    The label grows away from the nearer edge of the plot (centred in the middle third), so that it
    stays on the plot even on a phone, where it is half the plot's width.
    """
    first, last = answer_tokens
    middle = (first + last + 1) / 2
    x, anchor = (middle, "center")
    if middle < paragraph_tokens / 3:
        x, anchor = (first, "left")
    elif middle > 2 * paragraph_tokens / 3:
        x, anchor = (last + 1, "right")
    fig.add_annotation(
        x=x,
        y=-0.5 - ANSWER_BAND / 2,
        text=say("answer (tokens {first}–{last})", first=first, last=last),
        xanchor=anchor,
        showarrow=False,
        font=dict(color=ANSWER_COLOUR),
        name="answer label",
    )
    fig.add_vrect(
        x0=first,
        x1=last + 1,
        fillcolor=ANSWER_COLOUR,
        opacity=0.35,
        line=dict(color=ANSWER_COLOUR, width=2),
        layer="above",
        name=say("answer"),
        showlegend=True,
    )


def _row_title(wt: WindowTrace, winning_window: int | None) -> str:
    """'window 2: paragraph tokens 234–595', the winner starred and named (bold comes from its font)."""
    w = wt.window
    where = dict(number=window_number(w.index), first=w.doc_start, last=w.doc_end - 1)
    if w.index != winning_window:
        return say("window {number}: paragraph tokens {first}–{last}", **where)
    title = say("★ window {number}, the winner: paragraph tokens {first}–{last}", **where)
    if len(title) <= ROW_TITLE_CHARS:
        return title
    return say("★ window {number}, the winner:<br>paragraph tokens {first}–{last}", **where)


def _add_score_row(fig: go.Figure, row: int, wt: WindowTrace, trace: Trace, labelled: bool) -> None:
    w = wt.window
    real = np.flatnonzero(np.array(w.attention_mask) == 1)
    for name, logits, blocks, colour, verb in (
        (say("start score"), wt.start_logits, wt.start_blocks, START_COLOUR, "start"),
        (say("end score"), wt.end_logits, wt.end_blocks, END_COLOUR, "end"),
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
                customdata=[(escape(wt.tokens[p]), notes[p]) for p in real],
                hovertemplate=say(
                    "<b>%{{customdata[0]}}</b> (position %{{x}})<br>{name} %{{y:.3f}}<br>%{{customdata[1]}}"
                    "<extra>window {window}</extra>",
                    name=name,
                    window=window_number(w.index),
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
    if _decides(trace) and w.index == trace.null.null_window:
        _mark_null(fig, row, wt, trace.null)
    _label_positions(fig, row, wt, real, labelled)


def _decides(trace: Trace) -> bool:
    """Whether the checkpoint (or the request) decides "no answer": only then is the null position shown."""
    return trace.null is not None and trace.null.threshold is not None


def _mark_null(fig: go.Figure, row: int, wt: WindowTrace, null: NullDecision) -> None:
    """Point at the first token of the window whose start + end there is the question's null score."""
    fig.add_annotation(
        x=0,
        y=float(max(wt.start_logits[0], wt.end_logits[0])),
        text=say("no answer: {score:.2f}", score=null.null_score),
        showarrow=True,
        arrowhead=2,
        ax=40,
        ay=-30,
        font=dict(color=ANSWER_COLOUR if null.no_answer else MUTED_COLOUR),
        row=row,
        col=1,
    )


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
    fig.add_vrect(  # named in the legend: a label here would sit under the stars
        x0=best.start_token - 0.5,
        x1=best.end_token + 0.5,
        fillcolor=ANSWER_COLOUR,
        opacity=0.15,
        line_width=0,
        layer="below",
        name=say("answer span"),
        showlegend=True,
        row=row,
        col=1,
    )
    start_offset, end_offset = _label_offsets(best, len(wt.window.input_ids))
    _star(fig, row, wt, "start", (best.start_token, best.start_logit), start_offset)
    _star(fig, row, wt, "end", (best.end_token, best.end_logit), end_offset)


def _star(
    fig: go.Figure, row: int, wt: WindowTrace, verb: str, point: tuple[int, float], offset: tuple[int, int]
) -> None:
    """Star the chosen start (or end) token and name it beside the star ("start: 660")."""
    position, logit = point
    colour = START_COLOUR if verb == "start" else END_COLOUR
    token, side = escape(wt.tokens[position]), side_name(verb)
    label = say("{side}: “{token}”", side=side, token=token)  # quoted: "一" or "," alone misleads
    _name_token(fig, row, label, point, offset, colour)
    fig.add_trace(
        go.Scatter(
            x=[position],
            y=[logit],
            mode="markers",
            marker=dict(symbol="star", size=17, color=colour, line=dict(color="black", width=1.5)),
            name=say("chosen {side}", side=side),
            hovertemplate=say(
                "chosen {side}: <b>{token}</b> (position {position}) %{{y:.3f}}<extra></extra>",
                side=side,
                token=token,
                position=position,
            ),
        ),
        row=row,
        col=1,
    )


def _label_offsets(best: Span, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Pixel offsets (dx, dy) of the start and end labels from their stars.

    Outward (start to the left, end to the right) reads naturally; near an edge both go to the roomier
    side, the end's label a line lower, so neither runs off the plot nor over the other. Never upwards:
    the stars are the highest scores, and above them is the row's title.
    """
    reach = LABEL_REACH
    if best.end_token > 0.7 * width:
        return (-reach, 0), (-reach, LABEL_LINE)
    if best.start_token < 0.3 * width:
        return (reach, 0), (reach, LABEL_LINE)
    return (-reach, 0), (reach, 0)


def _name_token(
    fig: go.Figure, row: int, label: str, point: tuple[int, float], offset: tuple[int, int], colour: str
) -> None:
    """Write ``label`` beside a star, with an arrow to it: readable in a screenshot or on paper."""
    (x, y), (dx, dy) = point, offset
    fig.add_annotation(
        x=x,
        y=y,
        text=label,
        ax=dx,
        ay=dy,
        xanchor="right" if dx < 0 else "left",
        showarrow=True,
        arrowhead=0,
        arrowcolor=colour,
        standoff=9,
        font=dict(color=colour, size=13, weight="bold"),
        bgcolor="rgba(255, 255, 255, 0.85)",
        name="token label",
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
            ticktext=[escape(wt.tokens[p]) for p in real],
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
            name=say("cannot start / end here"),
            hoverinfo="skip",
        )
    )


def _matrix_subtitle(trace: Trace, wt: WindowTrace, shown: np.ndarray) -> str:
    paragraph = wt.window.doc_end - wt.window.doc_start
    grey = say(
        "Each cell: start score + end score of one (start, end) pair. "
        "Grey = impossible: end before start, longer than max_answer_length "
        "({limit}), not paragraph text, or a start judged in another window; "
        "□ = chosen answer",
        limit=trace.settings.spans.max_answer_length,
    )
    if _decides(trace):
        null = trace.null
        grey += "<br>" + say(
            "No answer ([CLS] as start and end) {null:.2f} (window {window}), best span {span:.2f}, "
            "threshold {threshold:.2f}: {verdict}",
            null=null.null_score,
            window=window_number(null.null_window),
            span=null.span_score,
            threshold=null.threshold,
            verdict=say("probably not in the paragraph") if null.no_answer else say("answered"),
        )
    if len(shown) == paragraph:
        return grey
    return say(
        "Showing {shown} of the window's {paragraph} paragraph tokens, around the answer.<br>{grey}",
        shown=len(shown),
        paragraph=paragraph,
        grey=grey,
    )


def _matrix_height(shown: np.ndarray) -> int:
    return max(340, 110 + 15 * len(shown))
