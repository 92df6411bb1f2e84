"""Figures of what a confidence number means: coverage against accuracy, and the reliability diagram.

Builders take the records of ``calibration`` and return plotly figures; no model work, no global state,
so the app, a notebook and the model card's measurements draw the same pictures.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from qa_core.data.calibration import CoveragePoint, ReliabilityBin
from qa_core.explaining.style import ANSWER_COLOUR, MUTED_COLOUR, START_COLOUR, message_figure, style
from qa_core.words import say


def coverage_risk_figure(points: Sequence[CoveragePoint], threshold: float | None = None) -> go.Figure:
    """The share of questions answered (x) against the share of the answered that are right (y).

    Each point is a threshold; moving it up answers fewer questions, and the ones answered should be
    right more often. ``threshold`` marks the one in use.
    """
    title = say("Answer fewer, be right more often")
    shown = [p for p in points if p.accuracy is not None]
    if not shown:
        return message_figure(title, say("No question would be answered at any threshold."))
    fig = go.Figure(
        go.Scatter(
            x=[100 * p.answered for p in shown],
            y=[100 * p.accuracy for p in shown],
            customdata=[p.threshold for p in shown],
            mode="lines+markers",
            line=dict(color=START_COLOUR, width=2),
            marker=dict(size=4),
            name=say("thresholds"),
            hovertemplate=say(
                "threshold %{{customdata:.2f}}<br>answered %{{x:.1f}}%<br>right %{{y:.1f}}%<extra></extra>"
            ),
        )
    )
    subtitle = say("Each point is a threshold on the probability that the answer is right.")
    if threshold is not None and (current := _nearest(shown, threshold)) is not None:
        fig.add_trace(
            go.Scatter(
                x=[100 * current.answered],
                y=[100 * current.accuracy],
                mode="markers",
                marker=dict(size=14, symbol="star", color=ANSWER_COLOUR),
                name=say("threshold in use ({threshold:.2f})", threshold=threshold),
            )
        )
        subtitle = say(
            "At {threshold:.2f}: {answered:.0f}% answered, {right:.0f}% of them right.",
            threshold=threshold,
            answered=100 * current.answered,
            right=100 * current.accuracy,
        )
    fig.update_xaxes(title=say("questions answered (%)"), range=[0, 101])
    fig.update_yaxes(title=say("answered questions that are right (%)"), range=[0, 101])
    style(fig, title, subtitle, height=320)
    return fig


def _nearest(points: Sequence[CoveragePoint], threshold: float) -> CoveragePoint | None:
    """The point of the highest threshold not above ``threshold``: what answering at it gives."""
    below = [p for p in points if p.threshold <= threshold + 1e-12]
    return max(below, key=lambda p: p.threshold) if below else None


def reliability_figure(bins: Sequence[ReliabilityBin], error: float) -> go.Figure:
    """Mean probability (x) against the share right (y) per bin: on the diagonal, "80% sure" is right 80% of the time."""
    title = say("Is the probability honest?")
    filled = [b for b in bins if b.n]
    if not filled:
        return message_figure(title, say("No questions to draw."))
    fig = go.Figure(
        [
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                line=dict(color=MUTED_COLOUR, dash="dash"),
                name=say("perfectly calibrated"),
            ),
            go.Scatter(
                x=[b.confidence for b in filled],
                y=[b.accuracy for b in filled],
                customdata=[b.n for b in filled],
                mode="lines+markers",
                line=dict(color=START_COLOUR, width=2),
                name=say("the check"),
                hovertemplate=say(
                    "mean probability %{{x:.2f}}<br>right %{{y:.2f}}<br>%{{customdata}} questions<extra></extra>"
                ),
            ),
        ]
    )
    fig.update_xaxes(title=say("probability that the answer is right"), range=[0, 1])
    fig.update_yaxes(title=say("share right"), range=[0, 1])
    style(fig, title, say("Expected calibration error {error:.3f}", error=error), height=320)
    return fig
