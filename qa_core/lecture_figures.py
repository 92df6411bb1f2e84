"""Figures and tables of the lecture views, drawn from ``ContextualEmbeddings``.

Like ``figures``, nothing here runs a model or imports torch: moving the layer slider redraws the
heat map from the record, which already holds every layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .figures import ANSWER_COLOUR, MUTED_COLOUR, START_COLOUR, escape, message_figure, style
from .records import ContextualEmbeddings

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
    return "input embeddings" if layer == 0 else f"layer {layer}"


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
            hovertemplate="%{customdata}<br>cosine %{z:.3f}<extra></extra>",
            colorbar=dict(title=dict(text="cosine", side="right")),
        )
    )
    for axis in (fig.update_xaxes, fig.update_yaxes):
        axis(tickmode="array", tickvals=list(range(n)), ticktext=ticks, tickfont_size=11)
    fig.update_yaxes(autorange="reversed")
    separation = record.separation()
    gap = "" if separation is None else f"; same meaning minus different meaning: {separation[layer]:+.3f}"
    style(
        fig,
        f"“{escape(record.target)}” at {layer_name(layer)}",
        f"cosine similarity of its vectors in every pair of sentences{gap}",
        height=max(380, 160 + 30 * n),
        legend=False,
    )
    return fig


def separation_figure(record: ContextualEmbeddings, layer: int | None = None) -> go.Figure:
    """Over the layers: mean similarity within meaning groups, between them, and the difference."""
    means = record.group_means()
    title = "Do the meanings group?"
    if means is None:
        return message_figure(
            title, 'Label at least two groups ("fruit: …", "company: …") to measure the grouping.'
        )
    within, between = means
    layers = list(range(len(within)))
    fig = go.Figure()
    for name, values, colour, width in (
        ("same meaning", within, START_COLOUR, 1.5),
        ("different meaning", between, MUTED_COLOUR, 1.5),
        ("difference (separation)", within - between, ANSWER_COLOUR, 3.5),
    ):
        fig.add_trace(
            go.Scatter(
                x=layers,
                y=values,
                name=name,
                mode="lines+markers",
                line=dict(color=colour, width=width),
                hovertemplate=f"{name}, layer %{{x}}: %{{y:.3f}}<extra></extra>",
            )
        )
    if layer is not None:
        fig.add_vline(x=layer, line_dash="dot", line_color="#444")
    fig.update_xaxes(title="layer (0 = input embeddings)", tickmode="linear", dtick=1)
    fig.update_yaxes(title="mean cosine similarity", zeroline=True, zerolinecolor="#444")
    style(
        fig,
        title,
        "mean similarity of sentence pairs with the same label and with different labels",
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
