"""The look every figure shares: the colour palette, fonts, titles that wrap to fit a phone, messages.

Colours come from the Okabe-Ito palette, which stays distinguishable under the common colour-vision
deficiencies. Every figure module (the trace's, the "why" views', the lecture's and the lessons')
draws through ``style`` so that a change of look is made once.
"""

from __future__ import annotations

import html
import re
import textwrap

import plotly.graph_objects as go

START_COLOUR = "#0072B2"  # blue
END_COLOUR = "#E69F00"  # orange
ANSWER_COLOUR = "#D55E00"  # vermillion
WINNER_COLOUR = "#009E73"  # bluish green
WINDOW_COLOUR = "#56B4E9"  # sky blue
MUTED_COLOUR = "#BBBBBB"  # tokens that can never be part of an answer
IMPOSSIBLE_COLOUR = "#D9D9D9"  # background that shows through the span matrix's NaN cells
FONT = "Noto Sans, Noto Sans CJK TC, Noto Sans CJK SC, PingFang TC, Microsoft JhengHei, Arial, sans-serif"
# Plotly never wraps a title, so long ones are broken into lines that fit a phone-wide plot (about
# 360 px): TITLE_CHARS at the title's size, SUBTITLE_CHARS at the subtitle's.
TITLE_SIZE, SUBTITLE_SIZE = 17, 13
TITLE_CHARS, SUBTITLE_CHARS, ROW_TITLE_CHARS = 34, 50, 40
TITLE_LINE, SUBTITLE_LINE, ROW_TITLE_LINE = 22, 17, 19  # pixels per line of each
TITLE_PAD = 34  # room above the title for the label Gradio draws over a plot's top-left corner
LEGEND_ROW, LEGEND_PER_ROW = 26, 2  # a legend row's height (px), and the entries a phone fits in one


def escape(raw: str) -> str:
    """Plotly reads labels as a little HTML, where ``<s>`` would strike through the rest: escape it."""
    return html.escape(raw, quote=False)


def style(
    fig: go.Figure, title: str, subtitle: str, *, height: int, above_plot: int = 0, legend: bool = True
) -> None:
    """The shared look; titles wrapped to fit a phone, the legend in a row under the plot.

    ``height`` is the plot area plus axes; the figure grows by the lines its title and subtitle need
    (and by ``above_plot`` pixels, e.g. the first subplot's title), so wrapping never squeezes the plot.
    A legend at the side would take a third of a phone-wide plot, so it sits below, wrapping as needed.
    """
    title, subtitle = _wrap(title, TITLE_CHARS), _wrap(subtitle, SUBTITLE_CHARS)
    top = TITLE_PAD + TITLE_LINE * line_count(title) + SUBTITLE_LINE * line_count(subtitle) + 12 + above_plot
    fig.update_layout(
        template="plotly_white",
        font=dict(family=FONT, size=13),
        title=dict(
            text=title,
            font=dict(size=TITLE_SIZE),
            subtitle=dict(text=subtitle, font=dict(size=SUBTITLE_SIZE)),
            x=0.01,
            xanchor="left",
            yref="container",
            y=1,
            yanchor="top",
            pad=dict(t=TITLE_PAD),
        ),
        height=height + top + (_legend_room(fig) if legend else 0),
        margin=dict(l=60, r=20, t=top, b=60, autoexpand=True),
        legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left"),
        hoverlabel=dict(font_family=FONT),
    )
    fig.update_yaxes(automargin=True)
    if not legend:
        fig.update_layout(showlegend=False)


def _legend_room(fig: go.Figure) -> int:
    """Pixels for the legend under the plot as a phone wraps it (two entries a row).

    Plotly takes the legend's height out of the plot, so without this room a phone would squeeze the
    plot to a sliver; a wide screen needs one row and gives the rest to the plot.
    """
    traces = sum(t.showlegend is not False for t in fig.data)
    entries = traces + sum(bool(s.showlegend) for s in fig.layout.shapes)
    return LEGEND_ROW * -(-entries // LEGEND_PER_ROW) + 12


def _wrap(text: str, width: int) -> str:
    """Break ``text`` into plotly lines ("<br>") of at most ``width`` characters, keeping given breaks.

    A Chinese character is as wide as two Latin letters and a line may break between any two of them.
    """
    lines = [line for part in text.split("<br>") for line in _wrap_part(part, width) or [""]]
    return "<br>".join(lines) if text else ""


def _wrap_part(part: str, width: int) -> list[str]:
    if not _WIDE.search(part):
        return textwrap.wrap(part, width)
    lines, line = [], ""
    for unit in _UNITS.findall(part):
        if line and _width(line + unit.rstrip()) > width:
            lines.append(line.rstrip())
            line = unit.lstrip()
        else:
            line += unit
    return [*lines, line.rstrip()] if line.strip() else lines


def _width(text: str) -> int:
    return len(text) + len(_WIDE.findall(text))


_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")
_UNITS = re.compile(
    rf"{_WIDE.pattern}|[^\s\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+\s*|\s+"
)


def line_count(text: str | None) -> int:
    return text.count("<br>") + 1 if text else 0


def message_figure(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=_wrap(message, SUBTITLE_CHARS - 6),
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font_size=15,
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    style(fig, title, "", height=200, legend=False)
    return fig
