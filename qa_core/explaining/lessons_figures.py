"""Figures and tables of the Lessons tab, drawn from ``PlacementDraws``, ``PlacementHistogram`` and ``Experiments``.

Like ``figures``, nothing here runs a model or imports torch: the reference experiments are drawn
from their shipped JSON, the placement views from records the training code's window maker filled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qa_core.explaining.lessons_records import (
    ExperimentRun,
    Experiments,
    PlacementDraws,
    PlacementHistogram,
    PostProcessingEffect,
    RunCurve,
)
from qa_core.explaining.style import (
    ANSWER_COLOUR,
    END_COLOUR,
    START_COLOUR,
    WINNER_COLOUR,
    escape,
    message_figure,
    style,
)
from qa_core.models.curve import RunScores
from qa_core.settings import Placement
from qa_core.words import say, say_each

PLACEMENT_COLOURS = {"random": START_COLOUR, "centre": END_COLOUR}
RUN_COLOURS = (
    START_COLOUR,
    END_COLOUR,
    WINNER_COLOUR,
    ANSWER_COLOUR,
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#444444",
)
SNIPPET = 40  # characters of a window shown at each end in its hover


def _snippet(text: str) -> str:
    return escape(text if len(text) <= 2 * SNIPPET else f"{text[:SNIPPET]} … {text[-SNIPPET:]}")


def _placement_name(placement: Placement) -> str:
    return say("centred") if placement == "centre" else say("random")


def placement_figure(record: PlacementDraws) -> go.Figure:
    """One bar per training window over the paragraph's tokens, the answer as a band through them all."""
    fig = go.Figure()
    labels = [
        say("centred") if w.placement == "centre" else say("random {draw}", draw=w.draw)
        for w in record.windows
    ]
    for w, label in zip(record.windows, labels, strict=True):
        fig.add_trace(
            go.Bar(
                y=[label],
                x=[w.end - w.first],
                base=[w.first],
                orientation="h",
                marker_color=PLACEMENT_COLOURS[w.placement],
                name=_placement_name(w.placement),
                legendgroup=w.placement,
                showlegend=w.draw <= 1,
                hovertemplate=say(
                    "{label}: paragraph tokens {first}–{last}<br>{text}<extra></extra>",
                    label=label,
                    first=w.first,
                    last=w.end - 1,
                    text=_snippet(record.context[w.start_char : w.end_char]),
                ),
            )
        )
    first, last = record.answer_tokens
    fig.add_vrect(x0=first - 0.5, x1=last + 0.5, fillcolor=ANSWER_COLOUR, opacity=0.35, line_width=0)
    fig.add_trace(  # a legend entry for the band, which a shape cannot have
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker=dict(color=ANSWER_COLOUR, symbol="square"),
            name=say("answer"),
        )
    )
    fig.update_xaxes(title=say("paragraph token"), range=[-0.5, record.paragraph_tokens - 0.5])
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=labels)
    subtitle = say(
        "{room} paragraph tokens a window, {tokens} in the paragraph; answer: “{answer}”",
        room=record.room,
        tokens=record.paragraph_tokens,
        answer=_snippet(record.context[slice(*record.answer_chars)].strip()),
    )
    style(fig, say("Training windows around one answer"), subtitle, height=120 + 26 * len(labels))
    return fig


def placement_histogram_figure(record: PlacementHistogram) -> go.Figure:
    """Where answers start inside their training windows: centred piles up, random spreads."""
    fig = go.Figure()
    for placement, positions in record.positions.items():
        fig.add_trace(
            go.Histogram(
                x=positions,
                xbins=dict(start=0, end=1.0001, size=0.05),
                histnorm="percent",
                name=_placement_name(placement),
                marker_color=PLACEMENT_COLOURS[placement],
                opacity=0.6,
                hovertemplate=say(
                    "{placement}: %{{y:.1f}}% of answers start at %{{x}}<extra></extra>",
                    placement=_placement_name(placement),
                ),
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(
        title=say("answer start in its window (0 = first paragraph token, 1 = last)"), range=[0, 1]
    )
    fig.update_yaxes(title=say("% of questions"))
    subtitle = say(
        "{questions} questions, {length}-token windows; "
        "{fit} paragraphs fit one window, where placement changes nothing",
        questions=record.questions,
        length=record.max_length,
        fit=record.fits_one_window,
    )
    style(fig, say("Answer starts in training windows"), subtitle, height=340)
    return fig


def curves_figure(curves: Sequence[RunCurve]) -> go.Figure:
    """Training loss and F1 on the evaluation slice against training windows seen, one colour per run."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for i, curve in enumerate(curves):
        colour, dash = RUN_COLOURS[i % len(RUN_COLOURS)], "solid" if curve.reference else "dot"
        losses = [p for p in curve.points if p.loss is not None]
        scored = [p for p in curve.points if p.scores is not None]
        name = escape(curve.name)
        for row, points, y, what in (
            (1, losses, [p.loss for p in losses], say("loss")),
            (2, scored, [p.scores.f1 for p in scored], "F1"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=[p.windows_seen for p in points],
                    y=y,
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    mode="lines+markers" if row == 2 else "lines",
                    line=dict(color=colour, dash=dash),
                    hovertemplate=say(
                        "{name}: {what} %{{y:.2f}} after %{{x}} windows<extra></extra>", name=name, what=what
                    ),
                ),
                row=row,
                col=1,
            )
    fig.update_yaxes(title=say("training loss"), row=1, col=1)
    fig.update_yaxes(title=say("F1, held-out questions"), rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title=say("training windows seen"), row=2, col=1)
    style(
        fig,
        say("Learning curves"),
        say(
            "F1 measured during training on the first questions of the evaluation file (never trained on) · "
            "solid: reference runs · dotted: your fine-tunes"
        ),
        height=540,
    )
    return fig


def final_scores_figure(runs: Sequence[ExperimentRun]) -> go.Figure:
    """Final EM and F1 of the runs on the evaluation slice, side by side."""
    fig = go.Figure()
    for metric, colour in (("EM", START_COLOUR), ("F1", END_COLOUR)):
        values = [r.final.exact_match if metric == "EM" else r.final.f1 for r in runs]
        fig.add_trace(
            go.Bar(
                x=[r.name for r in runs],
                y=values,
                name=metric,
                marker_color=colour,
                text=[f"{v:.1f}" for v in values],
                textposition="outside",
                hovertemplate=f"%{{x}}: {metric} %{{y:.1f}}<extra></extra>",
            )
        )
    n = runs[0].final.n if runs else 0
    fig.update_yaxes(title=say("score (%)"), range=[0, 100])
    subtitle = say("EM and F1 on the first {n} evaluation questions", n=n)
    style(fig, say("Final scores"), subtitle, height=320)
    return fig


def position_figure(runs: Sequence[ExperimentRun]) -> go.Figure:
    """EM by where the answer starts in its inference window: the position bias centred training leaves."""
    fig = go.Figure()
    for i, run in enumerate(runs):
        middles = [(b.low + b.high) / 2 for b in run.by_position]
        fig.add_trace(
            go.Scatter(
                x=middles,
                y=[b.scores.exact_match for b in run.by_position],
                customdata=[[b.low, b.high, b.scores.n] for b in run.by_position],
                name=run.name,
                mode="lines+markers",
                line=dict(color=RUN_COLOURS[i]),
                hovertemplate=say(
                    "{name}: EM %{{y:.1f}} on the %{{customdata[2]}} answers starting at "
                    "%{{customdata[0]:.0%}}–%{{customdata[1]:.0%}} of the window<extra></extra>",
                    name=run.name,
                ),
            )
        )
    fig.update_xaxes(
        title=say("answer start in its inference window (0 = first paragraph token)"), range=[0, 1]
    )
    fig.update_yaxes(title="EM (%)", rangemode="tozero")
    style(
        fig,
        say("EM by where the answer sits"),
        say("fifths of the window, same questions for each run"),
        height=340,
    )
    return fig


POST_PROCESSING_COLUMNS = ("post-processing", "EM", "F1", "end before start", "too long", "answers changed")
RUNS_COLUMNS = ("run", "what it changes", "EM", "F1", "minutes", "command")


def post_processing_table(effect: PostProcessingEffect) -> pd.DataFrame:
    """The same model with the homework's post-processing rules on and off."""
    return pd.DataFrame(
        [
            [say("on (start ≤ end, length limit)"), effect.on.exact_match, effect.on.f1, "", "", ""],
            [
                say("off (best start, best end)"),
                effect.off.exact_match,
                effect.off.f1,
                effect.reversed,
                effect.too_long,
                effect.changed,
            ],
        ],
        columns=say_each(POST_PROCESSING_COLUMNS),
    )


def runs_table(experiments: Experiments) -> pd.DataFrame:
    """Every reference run: what it changed, its scores, its time and the command that reproduces it."""
    return pd.DataFrame(
        [
            [r.name, r.about, r.final.exact_match, r.final.f1, round(r.seconds / 60, 1), r.command]
            for r in experiments.runs
        ],
        columns=say_each(RUNS_COLUMNS),
    )


def curves_table(curves: Sequence[RunCurve]) -> pd.DataFrame:
    """Every point of the compared curves, for a spreadsheet."""
    return pd.DataFrame(
        [[c.name, p.step, p.windows_seen, p.loss, *_scores(p.scores)] for c in curves for p in c.points],
        columns=["run", "step", "windows_seen", "loss", "exact_match", "f1"],
    )


def _scores(scores: RunScores | None) -> tuple[float, float]:
    return (np.nan, np.nan) if scores is None else (scores.exact_match, scores.f1)


def loss_figure(points: Sequence[tuple[int, float]]) -> go.Figure:
    """The fine-tuning loss per logged step; an empty list gives an empty chart that says so."""
    title = say("Fine-tuning loss")
    if not points:
        return message_figure(title, say("No loss yet: the first value appears after the first logged step."))
    steps, losses = zip(*points, strict=True)
    fig = go.Figure(
        go.Scatter(
            x=steps,
            y=losses,
            mode="lines+markers",
            line=dict(color=START_COLOUR, width=2),
            marker=dict(size=5),
            name="loss",
            hovertemplate=say("step %{{x}}<br>loss %{{y:.4f}}<extra></extra>"),
        )
    )
    fig.update_xaxes(title=say("training step"), rangemode="tozero")
    fig.update_yaxes(title=say("loss"), rangemode="tozero")
    latest = say("latest: step {step}, loss {loss:.4f}", step=steps[-1], loss=losses[-1])
    style(fig, title, latest, height=260, legend=False)
    return fig
