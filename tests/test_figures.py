"""The teaching tables and figures show exactly the engine's records: characters, roles, windows and scores."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from itertools import pairwise

import numpy as np
import plotly.graph_objects as go
import pytest

from qa_core.answering.engine import QAEngine
from qa_core.explaining import trace_figures
from qa_core.explaining.lessons_figures import loss_figure
from qa_core.explaining.style import SUBTITLE_CHARS, TITLE_CHARS
from qa_core.explaining.trace_figures import (
    MATRIX_END_LABELS,
    MATRIX_TOKENS,
    NBEST_COLUMNS,
    NO_CHARACTERS,
    TOKEN_COLUMNS,
    WHITE_SPACE,
    TraceError,
    answer_doc_tokens,
    highlight_segments,
    nbest_table,
    scores_figure,
    span_matrix_figure,
    token_table,
    windows_figure,
)
from qa_core.files import REPO_ROOT
from qa_core.settings import AnswerSettings, WindowSettings
from tools.app_process import CHROMIUM

QUESTION = "台北在哪裡？"
CONTEXT = "台北是臺灣的首都，位於島嶼北部。" * 4 + "The cat sat on the mat in Paris, the capital of France."
SETTINGS = AnswerSettings(WindowSettings(max_length=48, doc_stride=8, max_question_length=16))


@pytest.fixture(scope="module")
def answer(tiny_model_dir):
    return QAEngine.load(tiny_model_dir).answer(QUESTION, CONTEXT, SETTINGS)


@pytest.fixture(scope="module")
def bert_answer(tiny_bert_dir):
    return QAEngine.load(tiny_bert_dir).answer(QUESTION, CONTEXT, SETTINGS)


@pytest.fixture(scope="module")
def unigram_answer(tiny_unigram_dir):
    return QAEngine.load(tiny_unigram_dir).answer(QUESTION, CONTEXT, SETTINGS)


def all_figures(answer) -> list[go.Figure]:
    trace = answer.trace
    windows = [wt.window for wt in trace.windows]
    return [
        windows_figure(windows, trace.paragraph_tokens, answer_doc_tokens(trace), trace.winning_window),
        scores_figure(trace),
        span_matrix_figure(trace),
        loss_figure([(1, 5.9), (2, 5.1), (3, 4.2)]),
    ]


def test_the_traces_have_several_windows_and_padding(answer):
    trace = answer.trace
    assert len(trace.windows) >= 3
    assert answer.text and trace.winning_window is not None
    assert any(0 in wt.window.attention_mask for wt in trace.windows)


# ---------------------------------------------------------------- tables


def test_highlight_segments_join_to_the_paragraph_and_mark_the_answer(answer):
    segments = highlight_segments(answer)
    assert "".join(text for text, _ in segments) == CONTEXT
    assert [text for text, label in segments if label == "answer"] == [answer.text]
    assert all(text for text, _ in segments)


def test_highlight_segments_of_no_answer_is_the_plain_paragraph(answer):
    empty = dataclasses.replace(answer, text="", start=0, end=0, n_best=())
    assert highlight_segments(empty) == [(CONTEXT, None)]


def test_highlight_segments_needs_the_trace(answer):
    with pytest.raises(TraceError, match="with_trace=True"):
        highlight_segments(dataclasses.replace(answer, trace=None))


def test_nbest_table_lists_the_candidates_best_first(answer):
    table = nbest_table(answer)
    assert tuple(table.columns) == NBEST_COLUMNS
    assert list(table["rank"]) == list(range(1, len(answer.n_best) + 1))
    assert list(table["answer"]) == [c.text for c in answer.n_best]
    assert table["answer"][0] == answer.text
    assert list(table["first char"]) == [c.start for c in answer.n_best]
    assert list(table["window"]) == [c.window + 1 for c in answer.n_best]  # as the page numbers them
    assert list(table["score"]) == sorted(table["score"], reverse=True)


def test_nbest_table_character_range_includes_both_ends(answer):
    """People read "first 3, last 5" as three characters: the last column is the answer's last character."""
    table = nbest_table(answer)
    for row in table.itertuples(index=False):
        first, last = row[NBEST_COLUMNS.index("first char")], row[NBEST_COLUMNS.index("last char")]
        assert CONTEXT[first : last + 1] == row.answer
        assert CONTEXT[first] == row.answer[0] and CONTEXT[last] == row.answer[-1]


def test_nbest_table_of_no_candidates_is_empty_with_the_columns(answer):
    table = nbest_table(dataclasses.replace(answer, n_best=()))
    assert table.empty and tuple(table.columns) == NBEST_COLUMNS


def test_token_table_has_one_row_per_window_token_with_its_characters(answer):
    trace = answer.trace
    for index, wt in enumerate(trace.windows):
        table = token_table(trace, index)
        w = wt.window
        assert len(table) == len(w.input_ids)
        assert list(table["token"]) == list(wt.tokens)
        assert list(table["input_id"]) == list(w.input_ids)
        assert list(table["attention_mask"]) == list(w.attention_mask)
        assert tuple(table.columns) == TOKEN_COLUMNS
        covered = [o for o in w.offsets if o is not None and CONTEXT[o[0] : o[1]].strip()]
        shown = [c for c in table["characters"] if c not in ("", NO_CHARACTERS, WHITE_SPACE)]
        assert shown == [CONTEXT[a:b] for a, b in covered]
        blank = [p for p, o in enumerate(w.offsets) if o is None]
        assert list(table["characters"][blank]) == [""] * len(blank)  # question, special and padding
        assert np.allclose(table["start_logit"], wt.start_logits, atol=5e-4)
        paragraph = table[table["role"] == "paragraph"]
        assert list(paragraph["position"]) == list(
            range(w.context_start, w.context_start + w.doc_end - w.doc_start)
        )
        assert (table["role"] == "question").sum() == trace.question_tokens
        padding = table[table["role"] == "padding"]
        assert list(padding.index) == [p for p, m in enumerate(w.attention_mask) if m == 0]


def test_token_table_roles_for_wordpiece_bert(bert_answer):
    trace = bert_answer.trace
    for index in range(len(trace.windows)):
        table = token_table(trace, index)
        real = table[table["role"] != "padding"]
        assert set(real[real["role"] == "special"]["token"]) == {"[CLS]", "[SEP]"}
        assert list(real["token"][:1]) == ["[CLS]"] and list(real["token"][-1:]) == ["[SEP]"]
        question = table[table["role"] == "question"]
        assert "".join(question["token"]) == QUESTION
        assert set(question["token_type_id"]) == {0}
        assert set(table[table["role"] == "paragraph"]["token_type_id"]) == {1}
        assert set(table[table["role"] == "padding"]["attention_mask"]) <= {0}


def test_token_table_roles_for_xlmr_style_tokenizer(unigram_answer):
    trace = unigram_answer.trace
    table = token_table(trace, 0)
    assert list(table["token"][:1]) == ["<s>"]
    specials = table[table["role"] == "special"]
    assert list(specials["token"]) == ["<s>", "</s>", "</s>", "</s>"]
    first_paragraph = table[table["role"] == "paragraph"].index[0]
    assert list(table["token"][first_paragraph - 2 : first_paragraph]) == ["</s>", "</s>"]
    assert set(table["token_type_id"]) == {0}
    question = table[table["role"] == "question"]
    assert "".join(question["token"]).lstrip("▁") == QUESTION


def test_token_table_names_a_lone_word_boundary_token(unigram_answer):
    """SentencePiece's lone "▁" before "台" covers no character: the table says so instead of a blank."""
    trace = unigram_answer.trace
    table = token_table(trace, 0)
    paragraph = table[table["role"] == "paragraph"]
    lone = paragraph[paragraph["token"] == "▁"]
    assert len(lone) >= 1
    assert set(lone["characters"]) == {NO_CHARACTERS}
    offsets = trace.windows[0].window.offsets
    assert all(offsets[p][0] == offsets[p][1] for p in lone["position"])


def test_token_table_names_white_space_and_empty_ranges(answer):
    """Hand-made offsets: an empty range and a range over a space are named, never shown blank."""
    trace = answer.trace
    wt = trace.windows[0]
    w = wt.window
    space = CONTEXT.index(" ")
    offsets = list(w.offsets)
    offsets[w.context_start], offsets[w.context_start + 1] = (space, space), (space, space + 1)
    window = dataclasses.replace(w, offsets=tuple(offsets))
    windows = (dataclasses.replace(wt, window=window), *trace.windows[1:])
    table = token_table(dataclasses.replace(trace, windows=windows), 0)
    assert list(table["characters"][w.context_start : w.context_start + 2]) == [NO_CHARACTERS, WHITE_SPACE]


def test_the_token_explanation_names_what_the_table_shows_for_a_lone_boundary():
    text = json.loads((REPO_ROOT / "assets" / "text" / "en.json").read_text(encoding="utf-8"))
    assert "▁" in text["explain.input_ids"] and NO_CHARACTERS in text["explain.input_ids"]


def test_token_table_refuses_a_window_that_does_not_exist(answer):
    n = len(answer.trace.windows)
    with pytest.raises(TraceError, match=f"read in {n} window"):
        token_table(answer.trace, n)


def test_answer_doc_tokens_cover_exactly_the_answer(answer):
    trace = answer.trace
    first, last = answer_doc_tokens(trace)
    w = trace.windows[trace.winning_window].window
    assert w.doc_start <= first <= last < w.doc_end
    assert w.offsets[w.context_start + first - w.doc_start][0] == answer.start
    assert w.offsets[w.context_start + last - w.doc_start][1] == answer.end


# ---------------------------------------------------------------- figures


def test_windows_figure_has_one_bar_per_window_over_its_paragraph_tokens(answer):
    trace = answer.trace
    windows = [wt.window for wt in trace.windows]
    first, last = answer_doc_tokens(trace)
    fig = windows_figure(windows, trace.paragraph_tokens, (first, last), trace.winning_window)
    (bars,) = [t for t in fig.data if t.type == "bar"]
    assert len(bars.y) == len(windows)
    assert list(bars.base) == [w.doc_start for w in windows]
    assert [b + x for b, x in zip(bars.base, bars.x, strict=True)] == [w.doc_end for w in windows]
    colours = list(bars.marker.color)
    assert len(set(colours)) == 2 and colours.count(colours[trace.winning_window]) == 1
    overlaps = [s for s in fig.layout.shapes if s.legendgroup == "overlap"]
    assert [(s.x0, s.x1) for s in overlaps] == [(b.doc_start, a.doc_end) for a, b in pairwise(windows)]
    assert {s.x1 - s.x0 for s in overlaps} == {SETTINGS.windows.doc_stride}
    (marked,) = [s for s in fig.layout.shapes if s.name == "answer"]
    assert (marked.x0, marked.x1) == (first, last + 1)
    assert fig.layout.xaxis.range == (0, trace.paragraph_tokens)


def test_windows_figure_draws_the_playground_preview_without_an_answer(tiny_bert_dir):
    engine = QAEngine.load(tiny_bert_dir)
    windows = engine.preview_windows(QUESTION, CONTEXT, SETTINGS)
    fig = windows_figure(windows, windows[-1].doc_end)
    assert len(fig.data[0].base) == len(windows)
    assert not [s for s in fig.layout.shapes if s.name == "answer"]
    fig.to_json()


def test_scores_figure_holds_every_windows_logits_exactly(answer):
    trace = answer.trace
    fig = scores_figure(trace)
    for wt in trace.windows:
        real = np.flatnonzero(np.array(wt.window.attention_mask) == 1)
        for series, logits in (("start", wt.start_logits), ("end", wt.end_logits)):
            (line,) = [t for t in fig.data if t.meta == {"window": wt.window.index, "series": series}]
            assert np.array_equal(line.x, real)
            assert np.array_equal(line.y, logits[real])
            assert [c[0] for c in line.customdata] == [html.escape(wt.tokens[p], quote=False) for p in real]
    assert fig.layout[f"yaxis{len(trace.windows)}"].matches == "y"


def test_scores_figure_marks_the_chosen_start_and_end_in_the_winning_window(answer):
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    fig = scores_figure(trace)
    marks = {t.name: t for t in fig.data if t.name in ("chosen start", "chosen end")}
    assert list(marks["chosen start"].x) == [best.start_token]
    assert list(marks["chosen end"].x) == [best.end_token]
    assert list(marks["chosen start"].y) == [best.start_logit]
    row = trace.winning_window + 1
    assert marks["chosen start"].xaxis == ("x" if row == 1 else f"x{row}")
    titles = [a.text for a in fig.layout.annotations]
    assert sum("the winner" in t for t in titles) == 1


def token_labels(fig: go.Figure) -> dict[str, go.layout.Annotation]:
    """The scores figure's labels beside its stars, by the word they start with ("start" or "end")."""
    return {a.text.split(":")[0]: a for a in fig.layout.annotations if a.name == "token label"}


def test_scores_figure_names_the_chosen_start_and_end_tokens(answer):
    """A screenshot or a printout must say which tokens won, without hovering."""
    trace = answer.trace
    wt = trace.windows[trace.winning_window]
    best = wt.best
    fig = scores_figure(trace)
    labels = token_labels(fig)
    assert set(labels) == {"start", "end"}
    for verb, position, logit in (
        ("start", best.start_token, best.start_logit),
        ("end", best.end_token, best.end_logit),
    ):
        label = labels[verb]
        assert label.text == f"{verb}: “{html.escape(wt.tokens[position], quote=False)}”"
        assert (label.x, label.y) == (position, logit)  # the arrow points at the star
        assert label.showarrow and label.ax != 0  # the text stands beside the star, not on it
        row = trace.winning_window + 1
        assert label.xref == ("x" if row == 1 else f"x{row}")


def test_scores_figure_puts_no_text_under_the_stars(answer):
    """The answer span was labelled "answer" at the top of the plot, where the stars are ("★nswer")."""
    fig = scores_figure(answer.trace)
    texts = [a.text for a in fig.layout.annotations]
    assert not [t for t in texts if "answer" in t.lower() and "window" not in t]
    (span,) = [s for s in fig.layout.shapes if s.name == "answer span"]
    assert span.showlegend and not span.label.text
    best = answer.trace.windows[answer.trace.winning_window].best
    assert (span.x0, span.x1) == (best.start_token - 0.5, best.end_token + 0.5)


@pytest.mark.parametrize(
    ("place", "start_side", "end_side"),
    [("middle", -1, 1), ("near the end", -1, -1), ("near the start", 1, 1)],
)
def test_token_labels_stay_on_the_plot_and_apart(answer, place, start_side, end_side):
    """Start to the left, end to the right; near an edge both go inward, one above the other."""
    trace = answer.trace
    winner = trace.winning_window
    wt = trace.windows[winner]
    width = len(wt.window.input_ids)
    start = {"middle": width // 2, "near the end": width - 3, "near the start": 1}[place]
    best = dataclasses.replace(wt.best, start_token=start, end_token=start + 1)
    windows = list(trace.windows)
    windows[winner] = dataclasses.replace(wt, candidates=(best,))
    labels = token_labels(scores_figure(dataclasses.replace(trace, windows=tuple(windows))))
    assert np.sign(labels["start"].ax) == start_side and np.sign(labels["end"].ax) == end_side
    assert labels["start"].ay >= 0 and labels["end"].ay >= 0, "never up into the row's title"
    if start_side == end_side:
        assert labels["end"].ay - labels["start"].ay >= 20  # stacked: a line apart
    for label in labels.values():
        assert label.xanchor == ("right" if label.ax < 0 else "left")  # the text grows away from the star


def plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def window_named(text: str) -> int:
    """The window number a label names ("★ window 2, the winner: ..." -> 2)."""
    return int(re.search(r"[Ww]indow (\d+)", plain(text)).group(1))


def test_one_window_numbering_everywhere(answer):
    """Dropdown, windows figure, score rows, span matrix and n-best all count windows from 1."""
    from ui.inside import window_choices

    trace = answer.trace
    n = len(trace.windows)
    winner = trace.winning_window
    assert n >= 3 and answer.n_best
    people = list(range(1, n + 1))
    choices = window_choices(answer)
    assert [window_named(label) for label, _ in choices] == people
    assert [value for _, value in choices] == list(range(n))  # the values stay the records' indices
    assert "(answer)" in choices[winner][0]
    windows = [wt.window for wt in trace.windows]
    ticks = windows_figure(windows, trace.paragraph_tokens, None, winner).layout.yaxis.ticktext
    assert [window_named(t) for t in ticks] == people and "★" in ticks[winner]
    rows = scores_figure(trace).layout.annotations[:n]  # the subplot titles come first
    assert [window_named(a.text) for a in rows] == people and "winner" in rows[winner].text
    assert window_named(span_matrix_figure(trace).layout.title.text) == winner + 1
    assert list(nbest_table(answer)["window"]) == [c.window + 1 for c in answer.n_best]
    assert nbest_table(answer)["window"][0] == winner + 1  # the best candidate is the winning window's


def test_the_answer_summary_gives_an_inclusive_range_and_the_python_slice(answer):
    """ "characters 3–5" is read as three characters; the slice is what a program uses."""
    from ui.ask import summary

    said = summary(answer, "tiny", in_int8=False)
    assert f"characters {answer.start}–{answer.end - 1}, both included" in said
    assert f"`context[{answer.start}:{answer.end}]`" in said
    assert CONTEXT[answer.start : answer.end] == answer.text


def test_the_apps_tables_have_their_columns_before_any_question():
    """An empty Dataframe would show the headers "1 | 2 | 3"; the app declares the figures' columns."""
    import app

    declared = {block.elem_id: block for block in app.demo.blocks.values()}
    assert declared["nbest"].get_config()["headers"] == list(NBEST_COLUMNS)
    assert declared["token-table"].get_config()["headers"] == list(TOKEN_COLUMNS)


def test_every_title_line_fits_a_phone_wide_plot(answer):
    for fig in all_figures(answer):
        title = fig.layout.title
        assert all(len(plain(line)) <= TITLE_CHARS for line in title.text.split("<br>")), title.text
        subtitle = title.subtitle.text or ""
        assert all(len(plain(line)) <= SUBTITLE_CHARS for line in subtitle.split("<br>")), subtitle
        lines = title.text.count("<br>") + 1 + (subtitle.count("<br>") + 1 if subtitle else 0)
        assert fig.layout.margin.t >= 17 * lines + 34, "the top margin holds every title line"


def test_windows_figure_names_the_answer_above_the_bars(answer):
    trace = answer.trace
    windows = [wt.window for wt in trace.windows]
    first, last = answer_doc_tokens(trace)
    fig = windows_figure(windows, trace.paragraph_tokens, (first, last), trace.winning_window)
    (label,) = [a for a in fig.layout.annotations if a.name == "answer label"]
    assert label.text == f"answer (tokens {first}–{last})"
    top, bottom = sorted(fig.layout.yaxis.range)
    assert top < label.y < -0.5, "between the top of the plot and the first bar"
    assert label.x in (first, last + 1, (first + last + 1) / 2)


@pytest.mark.parametrize(("first", "anchor"), [(5, "left"), (48, "center"), (90, "right")])
def test_windows_figure_answer_label_grows_away_from_the_nearer_edge(answer, first, anchor):
    """On a phone the label is half the plot wide: from the left third it reads rightwards, and so on."""
    windows = [wt.window for wt in answer.trace.windows]
    fig = windows_figure(windows, 100, (first, first + 3))
    (label,) = [a for a in fig.layout.annotations if a.name == "answer label"]
    assert label.xanchor == anchor
    assert label.x == {"left": first, "center": first + 2, "right": first + 4}[anchor]


def test_scores_figure_greys_tokens_that_cannot_start_the_answer(bert_answer):
    trace = bert_answer.trace
    fig = scores_figure(trace)
    wt = trace.windows[0]
    (line,) = [t for t in fig.data if t.meta == {"window": 0, "series": "start"}]
    grey = [c != line.line.color for c in line.marker.color]
    assert grey == [not a for a in wt.allowed_starts[line.x]]
    assert grey[0] and line.customdata[0][1].startswith("special token")


def test_scores_figure_shows_xlmr_special_tokens_as_text_not_html(unigram_answer):
    """Plotly would read a raw ``<s>`` label as strike-through markup and swallow the tokens after it."""
    fig = scores_figure(unigram_answer.trace)
    labels = list(fig.layout.xaxis.ticktext)
    assert labels[0] == "&lt;s&gt;" and labels.count("&lt;/s&gt;") == 3
    assert not any("<" in label for label in labels)


def shown_positions(fig: go.Figure) -> np.ndarray:
    (heatmap,) = [t for t in fig.data if t.type == "heatmap"]
    assert np.array_equal(heatmap.x, heatmap.y)
    return np.asarray(heatmap.x)


def test_span_matrix_figure_masks_exactly_the_impossible_spans(answer):
    trace = answer.trace
    wt = trace.windows[trace.winning_window]
    fig = span_matrix_figure(trace)
    shown = shown_positions(fig)
    w = wt.window
    assert list(shown) == list(range(w.context_start, w.context_start + w.doc_end - w.doc_start))
    z = np.asarray(fig.data[0].z, dtype=float)
    expected = trace.span_matrix[np.ix_(shown, shown)]
    assert np.array_equal(np.isnan(z), np.isnan(expected))
    assert np.array_equal(z[~np.isnan(z)], expected[~np.isnan(expected)])
    assert np.isnan(z[np.tril_indices_from(z, k=-1)]).all()  # end before start
    assert list(fig.layout.yaxis.ticktext) == [html.escape(wt.tokens[p], quote=False) for p in shown]
    (chosen,) = [t for t in fig.data if t.name == "chosen answer"]
    assert (chosen.x[0], chosen.y[0]) == (wt.best.end_token, wt.best.start_token)


@pytest.fixture(scope="module")
def long_trace(tiny_bert_dir):
    """A trace whose winning window holds more paragraph tokens than the span matrix shows."""
    settings = AnswerSettings(WindowSettings(max_length=160, doc_stride=16, max_question_length=16))
    trace = QAEngine.load(tiny_bert_dir).answer(QUESTION, CONTEXT * 3, settings).trace
    w = trace.windows[trace.winning_window].window
    assert w.doc_end - w.doc_start > MATRIX_TOKENS
    return trace


def test_span_matrix_figure_of_a_long_window_shows_the_answers_neighbourhood(long_trace):
    wt = long_trace.windows[long_trace.winning_window]
    fig = span_matrix_figure(long_trace)
    shown = shown_positions(fig)
    assert len(shown) == MATRIX_TOKENS and list(np.diff(shown)) == [1] * (MATRIX_TOKENS - 1)
    assert shown[0] >= wt.window.context_start and wt.window.offsets[shown[-1]] is not None
    assert shown[0] <= wt.best.start_token <= wt.best.end_token <= shown[-1]
    expected = long_trace.span_matrix[np.ix_(shown, shown)]
    assert np.array_equal(np.isnan(np.asarray(fig.data[0].z, dtype=float)), np.isnan(expected))
    assert f"Showing {MATRIX_TOKENS} of the window's" in fig.layout.title.subtitle.text


def test_a_long_span_matrix_labels_every_start_but_only_every_third_end_the_answers_among_them(long_trace):
    """Sixty labels under a phone-wide matrix smear into each other; sixty rows beside it do not."""
    wt = long_trace.windows[long_trace.winning_window]
    fig = span_matrix_figure(long_trace)
    ends = list(fig.layout.xaxis.tickvals)
    assert len(ends) <= MATRIX_END_LABELS and set(np.diff(ends)) == {3}
    assert wt.best.end_token in ends
    assert list(fig.layout.xaxis.ticktext) == [html.escape(wt.tokens[p], quote=False) for p in ends]
    assert list(fig.layout.yaxis.tickvals) == list(shown_positions(fig))


@pytest.mark.parametrize("place", ["first", "middle", "last"])
def test_span_matrix_neighbourhood_follows_the_answer(long_trace, place):
    """Move the winning window's best span to the start, middle or end of the paragraph part."""
    winner = long_trace.winning_window
    wt = long_trace.windows[winner]
    first = wt.window.context_start
    last = first + wt.window.doc_end - wt.window.doc_start - 1
    start = {"first": first, "middle": (first + last) // 2 - 1, "last": last - 2}[place]
    best = dataclasses.replace(wt.best, start_token=start, end_token=start + 2)
    windows = list(long_trace.windows)
    windows[winner] = dataclasses.replace(wt, candidates=(best,))
    shown = shown_positions(span_matrix_figure(dataclasses.replace(long_trace, windows=tuple(windows))))
    assert shown[0] <= start and start + 2 <= shown[-1]
    expected_edge = {"first": shown[0] == first, "last": shown[-1] == last}
    assert expected_edge.get(place, abs((shown[0] + shown[-1]) / 2 - (start + 1)) <= 1)


def test_span_matrix_figure_without_an_answer_says_so(answer):
    trace = dataclasses.replace(answer.trace, winning_window=None, span_matrix=np.full((0, 0), np.nan))
    fig = span_matrix_figure(trace)
    assert not fig.data
    assert "there is no answer" in fig.layout.annotations[0].text.replace("<br>", " ")
    assert answer_doc_tokens(trace) is None


def test_loss_figure_plots_the_points_and_accepts_none_yet():
    fig = loss_figure([(10, 5.5), (20, 3.25)])
    assert list(fig.data[0].x) == [10, 20] and list(fig.data[0].y) == [5.5, 3.25]
    empty = loss_figure([])
    assert not empty.data and "No loss yet" in empty.layout.annotations[0].text
    empty.to_json()


def test_figures_serialise(answer):
    for fig in all_figures(answer):
        assert fig.to_json()


@pytest.mark.integration  # kaleido starts Chromium
def test_figures_render_to_png(bert_answer, tmp_path):
    pytest.importorskip("kaleido")
    if not CHROMIUM.exists():
        pytest.skip(f"kaleido draws PNGs with Chromium, not found at {CHROMIUM}")
    for index, fig in enumerate(all_figures(bert_answer)):
        path = tmp_path / f"figure{index}.png"
        fig.write_image(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_checkpoint_that_decides_no_answer_shows_the_null_position(tiny_bert_dir, tmp_path):
    import shutil

    folder = tmp_path / "null"
    shutil.copytree(tiny_bert_dir, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, "qa_null_threshold": -1e6}), encoding="utf-8")
    trace = QAEngine.load(folder).answer("where is the cat?", "the cat sat on the mat").trace
    scores = trace_figures.scores_figure(trace)
    assert any(a.text.startswith("no answer: ") and a.x == 0 for a in scores.layout.annotations)
    subtitle = trace_figures.span_matrix_figure(trace).layout.title.subtitle.text
    assert "No answer ([CLS] as start and end)" in subtitle and "probably not in the paragraph" in subtitle
    plain = QAEngine.load(tiny_bert_dir).answer("where is the cat?", "the cat sat on the mat").trace
    assert not any("no answer" in (a.text or "") for a in trace_figures.scores_figure(plain).layout.annotations)


def test_chinese_titles_wrap_by_width_and_english_ones_as_before():
    from qa_core.explaining.style import _wrap

    assert _wrap("mean similarity of sentence pairs with the same label and with different labels", 50) == (
        "mean similarity of sentence pairs with the same<br>label and with different labels"
    )
    wrapped = _wrap("平均相似度：同一標籤的句子配對，以及不同標籤的句子配對，共 24 個詞", 50)
    assert all(len(line) <= 25 for line in wrapped.split("<br>")), "a Chinese character is two columns wide"


def test_the_page_tables_speak_the_readers_language_and_keep_their_values(answer):
    """After a switch to Chinese the n-best and token tables name their columns and roles in Chinese."""
    from qa_core.words import speaking
    from ui.words import FIGURE_WORDS

    chinese = FIGURE_WORDS["zh-Hant"]
    with speaking(chinese):
        nbest, tokens = nbest_table(answer), token_table(answer.trace, 0)
    assert list(nbest.columns) == [chinese[c] for c in NBEST_COLUMNS]
    assert list(tokens.columns) == [chinese[c] for c in TOKEN_COLUMNS]
    assert set(tokens[chinese["role"]]) <= {chinese[r] for r in ("question", "paragraph", "special", "padding")}
    assert list(nbest[chinese["answer"]]) == list(nbest_table(answer)["answer"])
