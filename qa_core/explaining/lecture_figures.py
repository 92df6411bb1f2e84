"""Figures and tables of the lecture views, drawn from ``ContextualEmbeddings``, ``WordArithmetic`` and ``WordProjection``.

Like ``figures``, nothing here runs a model or imports torch: moving the layer slider redraws the
heat map from the record, which already holds every layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from qa_core.explaining.lecture_records import (
    DIRECTIONS,
    SHIFTS,
    TOP_K,
    ContextualEmbeddings,
    Direction,
    WordArithmetic,
    WordProjection,
)
from qa_core.explaining.style import (
    ANSWER_COLOUR,
    END_COLOUR,
    MUTED_COLOUR,
    START_COLOUR,
    escape,
    message_figure,
    style,
)
from qa_core.words import say, say_each

SIMILARITY_COLUMNS = (
    "layer",
    "row",
    "column",
    "row_label",
    "column_label",
    "row_sentence",
    "column_sentence",
    "similarity",
)


def layer_name(layer: int) -> str:
    return say("input embeddings") if layer == 0 else say("layer {layer}", layer=layer)


def sentence_label(record: ContextualEmbeddings, i: int, limit: int = 14) -> str:
    """ "3 fruit" where the sentence is labelled, else its number and first characters: a readable tick."""
    if record.labels[i]:
        return f"{i + 1} {escape(record.labels[i])}"
    sentence = record.sentences[i]
    return f"{i + 1} {escape(sentence if len(sentence) <= limit else sentence[: limit - 1] + '…')}"


def similarity_figure(record: ContextualEmbeddings, layer: int) -> go.Figure:
    """Sentences x sentences: the cosine similarity of the target's vectors at one layer.

    The colour scale is the same at every layer (from the lowest value of any layer to 1), so sliding
    through the layers compares like with like.
    """
    n = len(record.sentences)
    ticks = [sentence_label(record, i) for i in range(n)]
    hover = [
        [f"{escape(record.sentences[i])}<br>{escape(record.sentences[j])}" for j in range(n)]
        for i in range(n)
    ]
    fig = go.Figure(
        go.Heatmap(
            x=list(range(n)),
            y=list(range(n)),
            z=record.similarity[layer],
            zmin=float(record.similarity.min()),  # the same at every layer, so the layers compare
            zmax=1.0,
            colorscale="Viridis",
            customdata=hover,
            hovertemplate=say("%{{customdata}}<br>cosine %{{z:.3f}}<extra></extra>"),
            colorbar=dict(title=dict(text=say("cosine"), side="right")),
        )
    )
    for axis in (fig.update_xaxes, fig.update_yaxes):
        axis(tickmode="array", tickvals=list(range(n)), ticktext=ticks, tickfont_size=11)
    fig.update_yaxes(autorange="reversed")
    separation = record.separation()
    subtitle = (
        say("cosine similarity of its vectors in every pair of sentences")
        if separation is None
        else say(
            "cosine similarity of its vectors in every pair of sentences; same meaning minus different meaning: {gap:+.3f}",
            gap=separation[layer],
        )
    )
    style(
        fig,
        say("“{target}” at {layer}", target=escape(record.target), layer=layer_name(layer)),
        subtitle,
        height=max(380, 160 + 30 * n),
        legend=False,
    )
    return fig


def separation_figure(record: ContextualEmbeddings, layer: int | None = None) -> go.Figure:
    """Over the layers: mean similarity within meaning groups, between them, and the difference."""
    means = record.group_means()
    title = say("Do the meanings group?")
    if means is None:
        return message_figure(
            title, say('Label at least two groups ("fruit: …", "company: …") to measure the grouping.')
        )
    within, between = means
    layers = list(range(len(within)))
    fig = go.Figure()
    for name, values, colour, width in (
        (say("same meaning"), within, START_COLOUR, 1.5),
        (say("different meaning"), between, MUTED_COLOUR, 1.5),
        (say("difference (separation)"), within - between, ANSWER_COLOUR, 3.5),
    ):
        fig.add_trace(
            go.Scatter(
                x=layers,
                y=values,
                name=name,
                mode="lines+markers",
                line=dict(color=colour, width=width),
                hovertemplate=say("{name}, layer %{{x}}: %{{y:.3f}}<extra></extra>", name=name),
            )
        )
    if layer is not None:
        fig.add_vline(x=layer, line_dash="dot", line_color="#444")
    fig.update_xaxes(title=say("layer (0 = input embeddings)"), tickmode="linear", dtick=1)
    fig.update_yaxes(title=say("mean cosine similarity"), zeroline=True, zerolinecolor="#444")
    style(
        fig,
        title,
        say("mean similarity of sentence pairs with the same label and with different labels"),
        height=380,
    )
    return fig


def similarity_table(record: ContextualEmbeddings) -> pd.DataFrame:
    """Every layer's similarity of every pair of sentences, for a spreadsheet."""
    layers, n, _ = record.similarity.shape
    row, column = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    labels, sentences = np.array(record.labels), np.array(record.sentences)
    return pd.DataFrame(
        {
            "layer": np.repeat(np.arange(layers), n * n),
            "row": np.tile(row + 1, layers),
            "column": np.tile(column + 1, layers),
            "row_label": np.tile(labels[row], layers),
            "column_label": np.tile(labels[column], layers),
            "row_sentence": np.tile(sentences[row], layers),
            "column_sentence": np.tile(sentences[column], layers),
            "similarity": record.similarity.ravel(),
        },
        columns=list(SIMILARITY_COLUMNS),
    )


# ---------------------------------------------------------------- embedding arithmetic

ARITHMETIC_COLUMNS = ("layer", "direction", "word", "translation", "vector", "rank", "nearest")
NEIGHBOUR_COLUMNS = (
    "direction",
    "word",
    "translation",
    "shifted: rank",
    "shifted: nearest",
    "raw: rank",
    "raw: nearest",
)


def accuracy_figure(record: WordArithmetic, layer: int, k: int = TOP_K) -> go.Figure:
    """Held-out top-1 and top-k accuracy at one layer: shifted by the mean difference against the raw vector."""
    top1, topk = record.accuracy(1)[layer], record.accuracy(k)[layer]  # (2 directions, 2 shifts)
    groups = [f"{_direction_name(d)}<br>top-{n}" for d in DIRECTIONS for n in (1, k)]
    fig = go.Figure()
    for shift, name, colour in (
        (1, say("shifted by the mean difference"), ANSWER_COLOUR),
        (0, say("raw vector (baseline)"), MUTED_COLOUR),
    ):
        values = [v for d in range(len(DIRECTIONS)) for v in (top1[d, shift], topk[d, shift])]
        fig.add_trace(
            go.Bar(
                x=groups,
                y=values,
                name=name,
                marker_color=colour,
                text=[f"{v:.0%}" for v in values],
                textposition="outside",
                hovertemplate=f"{name}: %{{y:.0%}}<extra></extra>",
            )
        )
    fig.update_yaxes(title=say("held-out words translated"), range=[0, 1.12], tickformat=".0%")
    n = len(record.chinese)
    # the title fits one line: a wrapped title slides under Gradio's label
    style(
        fig,
        say("Translation at {layer}", layer=layer_name(layer)),
        say(
            "{held} held-out words, with and without the mean difference added, each ranked against all {n} words of the other language "
            "(chance: top-1 {one:.0%}, top-{k} {top:.0%})",
            held=len(record.held_out),
            n=n,
            one=1 / n,
            k=k,
            top=min(k / n, 1),
        ),
        height=340,
    )
    fig.update_layout(barmode="group")
    return fig


def _direction_name(direction: Direction) -> str:
    return say("English → Chinese") if direction == "English → Chinese" else say("Chinese → English")


def neighbour_table(record: WordArithmetic, layer: int) -> pd.DataFrame:
    """One row per held-out word and direction: where its translation ranks and its nearest words, shifted and raw."""
    rows = []
    for d, direction in enumerate(DIRECTIONS):
        source, target = _languages(record, d)
        for h, i in enumerate(record.held_out):
            cells = {"direction": _direction_name(direction), "word": source[i], "translation": target[i]}
            for shift, name in ((1, "shifted"), (0, "raw")):
                cells[f"{name}: rank"] = int(record.rank[layer, d, shift, h])
                cells[f"{name}: nearest"] = ", ".join(
                    target[j] for j in record.neighbours[layer, d, shift, h]
                )
            rows.append(cells)
    return pd.DataFrame(rows, columns=list(NEIGHBOUR_COLUMNS)).set_axis(say_each(NEIGHBOUR_COLUMNS), axis="columns")


def arithmetic_table(record: WordArithmetic) -> pd.DataFrame:
    """Every layer, direction, held-out word and vector (raw or shifted): the translation's rank and nearest words."""
    rows = []
    for layer in range(record.layers + 1):
        for d, direction in enumerate(DIRECTIONS):
            source, target = _languages(record, d)
            for shift, vector in enumerate(SHIFTS):
                for h, i in enumerate(record.held_out):
                    rows.append(
                        (
                            layer,
                            direction,
                            source[i],
                            target[i],
                            vector,
                            int(record.rank[layer, d, shift, h]),
                            " ".join(target[j] for j in record.neighbours[layer, d, shift, h]),
                        )
                    )
    return pd.DataFrame(rows, columns=list(ARITHMETIC_COLUMNS))


def _languages(record: WordArithmetic, direction: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(source words, target words) of one direction, as indexed in ``DIRECTIONS``."""
    return (record.english, record.chinese) if direction == 0 else (record.chinese, record.english)


# ---------------------------------------------------------------- meaning across languages

PROJECTION_COLUMNS = ("layer", "language", "word", "translation", "x", "y")


def projection_figure(record: WordProjection, layer: int) -> go.Figure:
    """Chinese and English words as two colours of points, a grey line joining each word to its translation."""
    n = len(record.chinese)
    points = record.points[layer]  # (2n, 2): Chinese first, then English
    lines_x = [v for i in range(n) for v in (points[i, 0], points[n + i, 0], None)]
    lines_y = [v for i in range(n) for v in (points[i, 1], points[n + i, 1], None)]
    fig = go.Figure(
        go.Scatter(
            x=lines_x,
            y=lines_y,
            mode="lines",
            line=dict(color=MUTED_COLOUR, width=1),
            name=say("translation"),
            hoverinfo="skip",
        )
    )
    for name, words, translations, part, colour in (
        (say("Chinese"), record.chinese, record.english, points[:n], END_COLOUR),
        (say("English"), record.english, record.chinese, points[n:], START_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=part[:, 0],
                y=part[:, 1],
                mode="markers+text",
                name=name,
                text=[escape(w) for w in words],
                textposition="top center",
                textfont=dict(size=11, color=colour),
                marker=dict(color=colour, size=8),
                customdata=[escape(t) for t in translations],
                hovertemplate="%{text} (%{customdata})<extra></extra>",
            )
        )
    first, second = record.explained[layer]
    fig.update_xaxes(
        title=say("first principal component ({share:.0%} of the variance)", share=first), zeroline=False
    )
    fig.update_yaxes(title=say("second ({share:.0%})", share=second), zeroline=False)
    style(
        fig,
        say("Word pairs at {layer}", layer=layer_name(layer)),
        say("{n} pairs projected onto the two directions along which their vectors vary most", n=n),
        height=520,
    )
    return fig


def projection_table(record: WordProjection) -> pd.DataFrame:
    """Every layer's two coordinates of every word, for a spreadsheet."""
    n = len(record.chinese)
    rows = [
        (layer, language, words[i], translations[i], *record.points[layer, offset + i].tolist())
        for layer in range(record.layers + 1)
        for language, words, translations, offset in (
            ("Chinese", record.chinese, record.english, 0),
            ("English", record.english, record.chinese, n),
        )
        for i in range(n)
    ]
    return pd.DataFrame(rows, columns=list(PROJECTION_COLUMNS))
