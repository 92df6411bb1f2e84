"""Figures and tables of the "why this span" views, drawn from ``LayerLens``, ``Attribution`` and ``AttentionMap``.

Like ``figures``, nothing here runs a model or imports torch. Attributions are shown on readable
units rather than raw word pieces: Latin word pieces (``##ing``, a piece without ``▁``) are merged into
their word, Chinese is shown character by character, and the paragraph is cut from the original text
by character offsets, so it reads as written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qa_core.answering.records import Trace
from qa_core.explaining.style import ANSWER_COLOUR, END_COLOUR, START_COLOUR, escape, style
from qa_core.explaining.trace_figures import TOKEN_LABEL_LIMIT, role_name, side_name
from qa_core.explaining.why_records import AttentionMap, Attribution, LayerLens
from qa_core.settings import AttributionMethod
from qa_core.words import say, say_each

# the colours of Gradio's highlighted text for scores, so the shaded text and the bars agree
POSITIVE_COLOUR = ANSWER_COLOUR  # vermillion: raises log p(start) + log p(end)
NEGATIVE_COLOUR = "#7B61C9"  # purple-blue: lowers it
TOP_UNITS = 15
LENS_COLUMNS = ("layer", "best span", "start + end score")
Part = Literal["question", "paragraph", "special"]


@dataclass(frozen=True)
class Unit:
    """A readable piece of the input (a word, a Chinese character, a special token) and its contribution.

    ``start`` and ``end`` are character offsets into the question or the paragraph (``part``), so a
    unit is the same unit in every window; a special token has -1 for both.
    """

    text: str
    score: float
    part: Part
    start: int
    end: int


def attribution_units(attribution: Attribution, trace: Trace) -> list[Unit]:
    """The window's tokens as readable units with their summed contributions, in reading order.

    Every question and paragraph token is cut from its text by the offsets the engine recorded.
    """
    offsets = trace.windows[attribution.window].window.offsets
    question = iter(trace.question_offsets)
    units: list[Unit] = []
    for t, role in enumerate(attribution.roles):
        score = float(attribution.scores[t])
        if role == "special":
            units.append(Unit(attribution.tokens[t], score, "special", -1, -1))
        elif role in ("question", "paragraph"):
            text = trace.question if role == "question" else trace.context
            start, end = next(question) if role == "question" else offsets[t]
            _add_piece(units, text, start, end, score, role)
    return _fold_empty(units)


def _add_piece(units: list[Unit], text: str, start: int, end: int, score: float, part: Part) -> None:
    """Chinese one character at a time (each with its share of the token's score); a Latin piece that
    touches the word before it joins that word; a piece covering nothing (a lone "▁") is kept empty."""
    piece = text[start:end]
    if any(_is_cjk(c) for c in piece):
        units.extend(Unit(c, score / len(piece), part, start + i, start + i + 1) for i, c in enumerate(piece))
        return
    last = units[-1] if units else None
    if piece and last is not None and last.part == part and last.end == start and last.text[-1:].isascii():
        units[-1] = Unit(last.text + piece, last.score + score, part, last.start, end)
        return
    units.append(Unit(piece, score, part, start, end))


def _fold_empty(units: list[Unit]) -> list[Unit]:
    """Give an empty unit's score to the unit after it (a lone "▁" precedes the word it marks)."""
    out: list[Unit] = []
    carry = 0.0
    for unit in units:
        if not unit.text:
            carry += unit.score
            continue
        out.append(Unit(unit.text, unit.score + carry, unit.part, unit.start, unit.end))
        carry = 0.0
    return out


def _is_cjk(char: str) -> bool:
    return bool(char) and unicodedata.east_asian_width(char) in ("W", "F") and char.isalpha()


def highlighted(
    units: list[Unit], trace: Trace, *, hide_special: bool = True
) -> list[tuple[str, float | None]]:
    """(text, score in [-1, 1]) pairs for a highlighted-text view: the question, then the window's paragraph.

    The text between two units (spaces, punctuation no token covers) is shown unscored, so each part
    reads as written.
    """
    shown = [u for u in units if not (hide_special and u.part == "special")]
    scale = max((abs(u.score) for u in shown), default=0.0) or 1.0
    pairs: list[tuple[str, float | None]] = []
    for before, unit in zip([None, *shown], shown, strict=False):
        if before is not None and before.part != unit.part:
            pairs.append(("\n\n", None))
        elif before is not None and unit.part != "special" and before.end < unit.start:
            source = trace.question if unit.part == "question" else trace.context
            pairs.append((source[before.end : unit.start], None))
        elif before is not None and "special" in (before.part, unit.part):
            pairs.append((" ", None))
        pairs.append((unit.text, round(unit.score / scale, 3)))
    return pairs


def attribution_figure(attribution: Attribution, trace: Trace, top: int = TOP_UNITS) -> go.Figure:
    """The units that raise (blue) and lower (vermillion) the span's log p(start) + log p(end) most."""
    units = [u for u in attribution_units(attribution, trace) if u.part != "special"]
    title = say("Why this span: top contributions")
    subtitle = say(
        "“{text}”, the {top} largest by {method}<br>{target}",
        text=_clip(attribution.text),
        top=top,
        method=_method_name(attribution.method),
        target=_attribution_subtitle(attribution),
    )
    return _bars(units, top, title, subtitle)


def contrast_figure(chosen: Attribution, other: Attribution, trace: Trace, top: int = TOP_UNITS) -> go.Figure:
    """Why the chosen span and not the other: contributions to the difference of their two targets.

    Both attributions explain a target that is linear in the contributions, so their difference
    explains ``f(chosen) - f(other)``; units are matched by their place in the question and paragraph,
    which also works for spans of two different windows.
    """
    theirs = {_key(u): u for u in attribution_units(other, trace) if u.part != "special"}
    mine = {_key(u): u for u in attribution_units(chosen, trace) if u.part != "special"}
    units = []
    for key in dict.fromkeys([*mine, *theirs]):
        unit = mine.get(key) or theirs[key]
        units.append(Unit(unit.text, _score(mine.get(key)) - _score(theirs.get(key)), *key))
    title = say("Why this span and not the other")
    subtitle = say(
        "red pushes towards “{chosen}”, purple towards “{other}”",
        chosen=_clip(chosen.text),
        other=_clip(other.text),
    )
    return _bars(units, top, title, subtitle)


def _key(unit: Unit) -> tuple[Part, int, int]:
    return unit.part, unit.start, unit.end


def _score(unit: Unit | None) -> float:
    return unit.score if unit is not None else 0.0


def _bars(units: list[Unit], top: int, title: str, subtitle: str) -> go.Figure:
    ranked = sorted(units, key=lambda u: -abs(u.score))[:top][::-1]  # the largest at the top
    labels = [
        say("{text} (Q)", text=escape(u.text))
        if u.part == "question"
        else say("{text} (P)", text=escape(u.text))
        for u in ranked
    ]
    fig = go.Figure(
        go.Bar(
            orientation="h",
            x=[u.score for u in ranked],
            y=list(range(len(ranked))),
            marker_color=[POSITIVE_COLOUR if u.score >= 0 else NEGATIVE_COLOUR for u in ranked],
            customdata=labels,
            hovertemplate="%{customdata}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(ranked))), ticktext=labels)
    fig.update_xaxes(title=say("contribution"), zeroline=True, zerolinecolor="#444")
    subtitle += "<br>" + say("(Q) question, (P) paragraph")
    style(fig, title, subtitle, height=max(320, 140 + 24 * len(ranked)))
    return fig


def _attribution_subtitle(attribution: Attribution) -> str:
    gap = attribution.completeness_gap
    if gap is None:
        return say(
            "log p(start) + log p(end) = {target:.3f}; red raises it, purple lowers it",
            target=attribution.target,
        )
    numbers = dict(target=attribution.target, baseline=attribution.baseline_target, steps=attribution.steps, gap=gap)
    if attribution.steps < attribution.asked_steps:
        return say(
            "log p(start) + log p(end) = {target:.3f}; baseline {baseline:.3f}; {steps} of the {asked} steps "
            "asked for (the server's time limit), contributions add up to the difference within {gap:.1%}",
            asked=attribution.asked_steps,
            **numbers,
        )
    return say(
        "log p(start) + log p(end) = {target:.3f}; baseline {baseline:.3f}; {steps} steps, "
        "contributions add up to the difference within {gap:.1%}",
        **numbers,
    )


def _method_name(method: AttributionMethod) -> str:
    return say("integrated gradients") if method == "integrated gradients" else say("gradient x input")


def _clip(text: str, limit: int = 24) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def lens_figure(lens: LayerLens) -> go.Figure:
    """Layers x tokens heat maps of the start and the end score, the best span of each layer marked."""
    real = [p for p, r in enumerate(lens.roles) if r != "padding"]
    names = [say("embeddings")] + [say("layer {layer}", layer=i) for i in range(1, len(lens.start))]
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=(say("start"), say("end"))
    )
    for row, (scores, colour, pick) in enumerate(
        ((lens.start, START_COLOUR, "start_token"), (lens.end, END_COLOUR, "end_token")), start=1
    ):
        fig.add_trace(_lens_heatmap(lens, scores, real, names, row), row=row, col=1)
        marks = [(getattr(b, pick), i) for i, b in enumerate(lens.best) if b is not None]
        side = side_name(pick.split("_")[0])
        fig.add_trace(
            go.Scatter(
                x=[p for p, _ in marks],
                y=[names[i] for _, i in marks],
                mode="markers",
                marker=dict(symbol="square-open", size=13, color=colour, line=dict(width=3)),
                name=say("best {side} at that layer", side=side),
                hovertemplate=say("%{{y}}: best span {side} at %{{x}}<extra></extra>", side=side),
            ),
            row=row,
            col=1,
        )
    _label_tokens(fig, lens.tokens, real, rows=2)
    fig.update_yaxes(autorange="reversed")  # read from the embeddings at the top down to the output
    style(
        fig,
        say("The QA head read after every layer"),
        say(
            "□ = the best valid span if the model stopped at that layer; the last row is the model's own output"
        ),
        height=max(520, 220 + 2 * 26 * len(names)),
    )
    return fig


def _lens_heatmap(
    lens: LayerLens, scores: np.ndarray, real: list[int], names: list[str], row: int
) -> go.Heatmap:
    return go.Heatmap(
        x=real,
        y=names,
        z=scores[:, real],
        customdata=[[escape(lens.tokens[p]) for p in real] for _ in names],
        hovertemplate=say("%{{y}}, <b>%{{customdata}}</b> (position %{{x}}): %{{z:.3f}}<extra></extra>"),
        colorscale="Viridis",
        showscale=row == 1,
        colorbar=dict(title=dict(text=say("score"), side="right")),
    )


def _label_tokens(fig: go.Figure, tokens: tuple[str, ...], real: list[int], rows: int = 1) -> None:
    """Token text as tick labels when there are few enough to read; otherwise positions, on the bottom axis."""
    if len(real) <= TOKEN_LABEL_LIMIT:
        fig.update_xaxes(
            tickmode="array", tickvals=real, ticktext=[escape(tokens[p]) for p in real], tickfont_size=10
        )
    else:
        where = {"row": rows, "col": 1} if rows > 1 else {}
        fig.update_xaxes(title=say("position in window (hover for the token)"), **where)


def lens_table(lens: LayerLens, trace: Trace) -> pd.DataFrame:
    """The best span at each layer, in words: where the answer appears."""
    window, context = trace.windows[lens.window].window, trace.context
    rows = []
    for layer, best in enumerate(lens.best):
        text = (
            ""
            if best is None
            else context[window.offsets[best.start_token][0] : window.offsets[best.end_token][1]]
        )
        score = None if best is None else round(best.score, 3)
        rows.append((say("embeddings") if layer == 0 else say("layer {layer}", layer=layer), text, score))
    return pd.DataFrame(rows, columns=say_each(LENS_COLUMNS))


def attention_overview(attention: AttentionMap, source: Literal["answer", "first"] = "answer") -> go.Figure:
    """Layers x heads: the share of the attention that goes to question tokens."""
    share = attention.share("question", source)
    layers, heads = share.shape
    fig = go.Figure(
        go.Heatmap(
            x=[say("head {head}", head=h + 1) for h in range(heads)],
            y=[say("layer {layer}", layer=layer + 1) for layer in range(layers)],
            z=share,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar=dict(title=dict(text=say("share"), side="right")),
            hovertemplate=say("%{{y}}, %{{x}}: %{{z:.0%}} to the question<extra></extra>"),
        )
    )
    fig.update_yaxes(autorange="reversed")
    subtitle = (
        say(
            "from the answer's tokens; one cell per layer and head; pick one below to see its weights token by token"
        )
        if source == "answer"
        else say(
            "from the first token; one cell per layer and head; pick one below to see its weights token by token"
        )
    )
    style(fig, say("Share of attention to the question"), subtitle, height=max(360, 150 + 28 * layers))
    return fig


def attention_figure(
    attention: AttentionMap, layer: int, head: int, *, hide_special: bool = True
) -> go.Figure:
    """One head's attention from the answer tokens and from the first token to every token of the window."""
    keep = [
        p for p, r in enumerate(attention.roles) if r != "padding" and not (hide_special and r == "special")
    ]
    fig = go.Figure()
    for name, rows, colour in (
        (say("from the answer's tokens"), attention.from_answer, ANSWER_COLOUR),
        (say("from the first token"), attention.from_first, START_COLOUR),
    ):
        fig.add_trace(
            go.Bar(
                x=keep,
                y=rows[layer, head, keep],
                name=name,
                marker_color=colour,
                customdata=[(escape(attention.tokens[p]), role_name(attention.roles[p])) for p in keep],
                hovertemplate=say(
                    "<b>%{{customdata[0]}}</b> (%{{customdata[1]}}, position %{{x}}): %{{y:.3f}}<extra></extra>"
                ),
            )
        )
    _label_tokens(fig, attention.tokens, keep)
    fig.update_yaxes(title=say("attention weight"), rangemode="tozero")
    style(
        fig,
        say("Layer {layer}, head {head}: attention", layer=layer + 1, head=head + 1),
        _attention_subtitle(attention, hide_special),
        height=420,
    )
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25))
    return fig


def _attention_subtitle(attention: AttentionMap, hide_special: bool) -> str:
    first, last = attention.answer_tokens
    if hide_special:
        return say(
            "where the answer's tokens ({first}–{last}) and the first token look; each set sums to 1 over "
            "the window (special tokens hidden)",
            first=first,
            last=last,
        )
    return say(
        "where the answer's tokens ({first}–{last}) and the first token look; each set sums to 1 over the window",
        first=first,
        last=last,
    )


def attribution_table(attribution: Attribution) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "position": range(len(attribution.tokens)),
            "token": attribution.tokens,
            "role": attribution.roles,
            "contribution": attribution.scores,
        }
    ).query("role != 'padding'")


def lens_scores_table(lens: LayerLens) -> pd.DataFrame:
    """Every layer's start and end score of every token: the lens's numbers, for a spreadsheet."""
    layers, width = lens.start.shape
    return pd.DataFrame(
        {
            "layer": np.repeat(np.arange(layers), width),
            "position": np.tile(np.arange(width), layers),
            "token": list(lens.tokens) * layers,
            "role": list(lens.roles) * layers,
            "start_score": lens.start.ravel(),
            "end_score": lens.end.ravel(),
        }
    ).query("role != 'padding'")


def attention_table(attention: AttentionMap) -> pd.DataFrame:
    """Every layer's and head's weights from the answer tokens and the first token, for a spreadsheet."""
    layers, heads, width = attention.from_answer.shape
    return pd.DataFrame(
        {
            "layer": np.repeat(np.arange(1, layers + 1), heads * width),
            "head": np.tile(np.repeat(np.arange(1, heads + 1), width), layers),
            "position": np.tile(np.arange(width), layers * heads),
            "token": list(attention.tokens) * layers * heads,
            "role": list(attention.roles) * layers * heads,
            "from_answer": attention.from_answer.ravel(),
            "from_first": attention.from_first.ravel(),
        }
    ).query("role != 'padding'")
