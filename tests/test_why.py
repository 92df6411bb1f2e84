"""Why this span: the layer lens, span attribution and attention, on tiny random models of both tokenizer families."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from tiny_models import make_tiny_bert

from qa_core.answering.engine import QAEngine
from qa_core.explaining import why, why_figures
from qa_core.settings import AnswerSettings, AttributionSettings, WindowSettings

QUESTION = "台北在哪裡？"
CONTEXT = "台北是臺灣的首都，位於島嶼北部。" * 4 + "The cat sat on the mat in Paris, the capital of France."
SETTINGS = AnswerSettings(WindowSettings(max_length=48, doc_stride=8, max_question_length=16))


def IG(steps: int) -> AttributionSettings:  # noqa: N802 - reads like the method's name
    return AttributionSettings(method="integrated gradients", steps=steps)


@cache
def _engine(model_dir: Path) -> QAEngine:
    return QAEngine.load(model_dir)


@pytest.fixture(scope="module")
def traced(tiny_model_dir):
    engine = _engine(tiny_model_dir)
    answer = engine.answer(QUESTION, CONTEXT, SETTINGS)
    assert len(answer.trace.windows) > 1
    return engine, answer


def test_the_last_layer_of_the_lens_equals_the_logits(traced):
    engine, answer = traced
    trace = answer.trace
    for wt in trace.windows:
        lens = why.layer_lens(engine, trace, wt.window.index)
        layers = engine.model.config.num_hidden_layers
        assert lens.start.shape == lens.end.shape == (layers + 1, len(wt.window.input_ids))
        real = np.array(wt.window.attention_mask) == 1
        np.testing.assert_allclose(lens.start[-1][real], wt.start_logits[real], atol=1e-4)
        np.testing.assert_allclose(lens.end[-1][real], wt.end_logits[real], atol=1e-4)
        assert (lens.start[:, ~real] == 0).all(), "padding was never read"


def test_the_lens_best_span_of_the_last_layer_is_the_windows_best(traced):
    engine, answer = traced
    wt = answer.trace.windows[answer.trace.winning_window]
    lens = why.layer_lens(engine, answer.trace, wt.window.index)
    assert len(lens.best) == engine.model.config.num_hidden_layers + 1
    last = lens.best[-1]
    assert (last.start_token, last.end_token) == (wt.best.start_token, wt.best.end_token)


def test_integrated_gradients_add_up_to_the_change_from_the_baseline(traced):
    engine, answer = traced
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    result = why.attribute(engine, trace, trace.winning_window, (best.start_token, best.end_token), IG(64))
    assert result.completeness_gap < 0.05
    assert result.scores.shape == (len(trace.windows[trace.winning_window].window.input_ids),)
    assert result.steps == 64 and result.text == answer.text


def test_integrated_gradients_report_every_batch_of_steps_and_add_up_the_same_in_batches(traced):
    engine, answer = traced
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    reported: list[tuple[int, int]] = []
    pace = why.Pace(progress=lambda done, planned: reported.append((done, planned)))
    result = why.attribute(engine, trace, trace.winning_window, (best.start_token, best.end_token), IG(20), pace)
    assert reported == [(8, 20), (16, 20), (20, 20)], "one report per batch of IG_CHUNK steps"
    assert result.steps == result.asked_steps == 20 and result.completeness_gap < 0.05


def test_a_time_bound_cuts_the_steps_and_the_plot_says_so(traced):
    engine, answer = traced
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    pace = why.Pace(seconds=1e-6)  # nothing fits: the fewest steps integrated gradients can take
    result = why.attribute(engine, trace, trace.winning_window, (best.start_token, best.end_token), IG(64), pace)
    assert (result.steps, result.asked_steps) == (2, 64)
    subtitle = why_figures.attribution_figure(result, trace).layout.title.subtitle.text.replace("<br>", " ")
    assert "2 of the 64 steps asked for (the server's time limit)" in subtitle


@pytest.mark.parametrize(
    "asked, per_step, seconds, planned",
    [(64, 1.0, None, 64), (64, 1.0, 30.0, 30), (64, 1.0, 31.9, 30), (16, 1.0, 30.0, 16), (64, 5.0, 1.0, 2)],
)
def test_planned_steps_fit_the_time_left_in_an_even_number(asked, per_step, seconds, planned):
    assert why.planned_steps(asked, per_step, seconds) == planned


def test_the_pass_clock_estimates_from_the_last_measured_pass_of_the_same_model():
    clock = why.PassClock()
    assert clock.estimate("m", 100, 18) is None, "no guess before a measurement"
    clock.record("m", 200, 0.5)
    assert clock.estimate("m", 100, 18) == pytest.approx(0.25 * 18)
    assert clock.estimate("other", 100, 18) is None


def test_gradient_x_input_is_one_backward_pass_of_the_same_target(traced):
    engine, answer = traced
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    span = (best.start_token, best.end_token)
    gxi = why.attribute(engine, trace, trace.winning_window, span)
    ig = why.attribute(engine, trace, trace.winning_window, span, IG(4))
    assert gxi.completeness_gap is None and gxi.steps == 1
    assert gxi.target == pytest.approx(ig.target, abs=1e-5)
    assert gxi.target < 0, "a sum of two log-probabilities"
    assert np.isfinite(gxi.scores).all() and np.abs(gxi.scores).sum() > 0


def test_attention_rows_sum_to_one_and_roles_split_them(traced):
    engine, answer = traced
    trace = answer.trace
    wt = trace.windows[trace.winning_window]
    span = (wt.best.start_token, wt.best.end_token)
    result = why.attention(engine, trace, wt.window.index, span)
    layers, heads = engine.model.config.num_hidden_layers, engine.model.config.num_attention_heads
    assert result.from_answer.shape == (layers, heads, len(wt.window.input_ids))
    np.testing.assert_allclose(result.from_answer.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(result.from_first.sum(-1), 1.0, atol=1e-5)
    total = sum(result.share(role) for role in ("special", "question", "paragraph", "padding"))
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    assert engine.model.config._attn_implementation != "eager", "the fast kernel is back for answering"


def test_a_span_outside_the_window_or_a_missing_window_is_refused(traced):
    engine, answer = traced
    trace = answer.trace
    with pytest.raises(ValueError, match="not inside window 1"):
        why.attribute(engine, trace, 0, (5, 500))
    with pytest.raises(ValueError, match="There is no window 99"):
        why.layer_lens(engine, trace, 98)
    with pytest.raises(ValueError, match="method must be one of gradient x input, integrated gradients"):
        AttributionSettings(method="saliency")
    with pytest.raises(ValueError, match="steps must be at least 2 and at most 64 steps, got 1"):
        AttributionSettings(method="integrated gradients", steps=1)


# --- drawing the records -----------------------------------------------------------------------------


def _attribution(traced, window=None, span=None):
    engine, answer = traced
    trace = answer.trace
    window = trace.winning_window if window is None else window
    best = trace.windows[window].best
    return trace, why.attribute(engine, trace, window, span or (best.start_token, best.end_token))


def test_units_read_as_the_text_chinese_by_character_latin_by_word(traced):
    trace, attribution = _attribution(traced)
    units = why_figures.attribution_units(attribution, trace)
    paragraph = [u for u in units if u.part == "paragraph"]
    for unit in paragraph:
        assert trace.context[unit.start : unit.end] == unit.text
        assert len(unit.text) == 1 or unit.text.isascii(), "Chinese is shown one character at a time"
    question = [u for u in units if u.part == "question"]
    assert "".join(u.text for u in question) == trace.question.replace(" ", "")
    total = sum(u.score for u in units)
    real = np.array(attribution.roles) != "padding"
    assert total == pytest.approx(float(attribution.scores[real].sum()), abs=1e-5), (
        "nothing lost or counted twice"
    )


def test_the_highlighted_view_joins_back_to_question_and_paragraph(traced):
    trace, attribution = _attribution(traced)
    units = why_figures.attribution_units(attribution, trace)
    pairs = why_figures.highlighted(units, trace)
    question, paragraph = "".join(text for text, _ in pairs).split("\n\n")
    window = trace.windows[attribution.window].window
    assert question == trace.question
    assert paragraph == trace.context[window.char_start : window.char_end]
    scores = [s for _, s in pairs if s is not None]
    assert max(abs(s) for s in scores) == pytest.approx(1.0)


def test_a_contrast_of_a_span_with_itself_is_zero_and_works_across_windows(traced):
    trace, chosen = _attribution(traced)
    same = why_figures.contrast_figure(chosen, chosen, trace)
    assert all(x == 0 for x in same.data[0].x)
    other_window = next(i for i in range(len(trace.windows)) if i != trace.winning_window)
    _, other = _attribution(traced, other_window)
    fig = why_figures.contrast_figure(chosen, other, trace)
    assert fig.data[0].x and "and not" in fig.layout.title.text.replace("<br>", " ")


def test_every_view_draws_and_exports_its_numbers(traced):
    engine, answer = traced
    trace = answer.trace
    w = trace.winning_window
    best = trace.windows[w].best
    lens = why.layer_lens(engine, trace, w)
    attention = why.attention(engine, trace, w, (best.start_token, best.end_token))
    _, attribution = _attribution(traced)
    figures = [
        why_figures.lens_figure(lens),
        why_figures.attribution_figure(attribution, trace),
        why_figures.attention_overview(attention),
        why_figures.attention_figure(attention, 0, 1),
    ]
    assert all(f.layout.title.text for f in figures)
    table = why_figures.lens_table(lens, trace)
    assert list(table["layer"])[-1] == f"layer {engine.model.config.num_hidden_layers}"
    assert table["best span"].iloc[-1] == answer.text
    layers, heads = engine.model.config.num_hidden_layers, engine.model.config.num_attention_heads
    real = sum(trace.windows[w].window.attention_mask)
    assert len(why_figures.attention_table(attention)) == layers * heads * real
    assert len(why_figures.lens_scores_table(lens)) == (layers + 1) * real
    assert why_figures.attribution_table(attribution)["contribution"].sum() == pytest.approx(
        float(attribution.scores.sum()), abs=1e-5
    )


def test_the_memo_computes_a_key_once_and_drops_the_least_recently_used():
    memo = why.Memo(capacity=2)
    calls = []

    def compute(value):
        calls.append(value)
        return value

    assert memo.get("a", lambda: compute(1)) == 1
    assert memo.get("a", lambda: compute(2)) == 1, "kept"
    memo.get("b", lambda: compute(3))
    memo.get("a", lambda: compute(4))  # a is now the most recently used
    memo.get("c", lambda: compute(5))  # so b goes
    assert memo.get("b", lambda: compute(6)) == 6
    assert calls == [1, 3, 5, 6]


def test_attribution_on_an_int8_model_says_what_to_do(tiny_bert_dir):
    engine = QAEngine.load(tiny_bert_dir, int8=True)
    trace = engine.answer(QUESTION, CONTEXT, SETTINGS).trace
    best = trace.windows[trace.winning_window].best
    with pytest.raises(ValueError, match="int8 layers do not give"):
        why.attribute(engine, trace, trace.winning_window, (best.start_token, best.end_token))
    lens = why.layer_lens(engine, trace, trace.winning_window)  # the lens needs no gradients
    assert lens.start.shape[0] == engine.model.config.num_hidden_layers + 1


def test_an_explanation_is_computed_once_per_question_and_span(traced):
    engine, answer = traced
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    span = (trace.winning_window, best.start_token, best.end_token)
    other = answer.n_best[1]
    contrast = (other.window, other.start_token, other.end_token)
    memo = why.Memo(capacity=16)
    first = why.explain(engine, trace, span, contrast, AttributionSettings(), memo)
    again = why.explain(engine, trace, span, None, AttributionSettings(), memo)
    assert (
        again.lens is first.lens
        and again.attention is first.attention
        and again.attribution is first.attribution
    )
    assert first.contrast.start_token == other.start_token and again.contrast is None
    assert first.key != again.key, "a different comparison is a different explanation"
    twin = QAEngine(engine.model, engine.tokenizer)  # same weights object, but another model to the memo
    elsewhere = why.explain(twin, trace, span, None, AttributionSettings(), memo)
    assert elsewhere.lens is not first.lens, "two models never share a result"


def test_a_model_retrained_under_the_same_name_is_explained_with_its_new_weights(tmp_path):
    """The memo keys by the weights' identity: the lens of retrained weights ends in their own logits."""
    folder = make_tiny_bert(tmp_path / "mine", seed=0)
    memo = why.Memo(capacity=16)
    explained = []
    for seed in (0, 1):  # the second "run" rewrites the same folder with other weights
        make_tiny_bert(tmp_path / "mine", seed=seed)
        engine = QAEngine.load(folder)
        trace = engine.answer(QUESTION, CONTEXT, SETTINGS).trace
        best = trace.windows[trace.winning_window].best
        span = (trace.winning_window, best.start_token, best.end_token)
        explanation = why.explain(engine, trace, span, None, AttributionSettings(), memo)
        lens_end = explanation.lens.end[-1]
        own = trace.windows[trace.winning_window].end_logits
        assert np.allclose(lens_end[: len(own)], own, atol=1e-4), "the lens's last row is these weights' logits"
        explained.append(explanation.lens)
    assert explained[0] is not explained[1]


def test_attention_weights_never_change_the_kernel_under_a_running_answer(traced):
    """Two requests at once, as the app runs them: every answer pass sees the kernel it started with."""
    engine, answer = traced
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    seen, forward = [], engine.model.forward

    def recording(*args, **kwargs):
        if not kwargs.get("output_attentions"):
            before = engine.model.config._attn_implementation
            output = forward(*args, **kwargs)
            seen.append((before, engine.model.config._attn_implementation))
            return output
        return forward(*args, **kwargs)

    engine.model.forward = recording
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            maps = [pool.submit(why.attention, engine, trace, trace.winning_window, (best.start_token, best.end_token)) for _ in range(8)]
            answers = [pool.submit(engine.answer, QUESTION, CONTEXT, SETTINGS) for _ in range(8)]
            results = [a.result() for a in answers] + [m.result() for m in maps]
    finally:
        del engine.model.forward
    assert all(before == after != "eager" for before, after in seen), seen
    assert all(r.text == answer.text for r in results[:8])
    assert engine.model.config._attn_implementation != "eager", "the kernel is switched back"


def test_the_page_estimates_integrated_gradients_from_this_servers_last_pass(traced, monkeypatch):
    """Before a run a teacher sees how long it will take; over the server's bound, that fewer steps will run."""
    from ui import why as part

    engine, answer = traced
    monkeypatch.setattr(part, "load_engine", lambda model: ("m", engine))
    monkeypatch.setattr(part, "clock", why.PassClock())
    monkeypatch.setattr(part, "EXPLAIN_SECONDS", 30.0)
    assert "one backward pass" in part.estimate(answer, "m", "gradient x input", 16)
    assert "18 times" in part.estimate(answer, "m", "integrated gradients", 16), "16 steps, input and baseline"
    tokens = sum(answer.trace.windows[answer.trace.winning_window].window.attention_mask)
    part.clock.record(engine.identity, tokens, 0.5)
    assert part.estimate(answer, "m", "integrated gradients", 16) == (
        "Estimate: about 9 s on this server (from its last explanation with this model)."
    )
    assert "about 33 s, more than this server gives one explanation (30 s)" in part.estimate(
        answer, "m", "integrated gradients", 64
    )


def test_the_attention_view_opens_on_the_head_that_gives_the_question_most(traced):
    engine, answer = traced
    trace = answer.trace
    best = trace.windows[trace.winning_window].best
    record = why.attention(engine, trace, trace.winning_window, (best.start_token, best.end_token))
    layer, head = record.most_on_question()
    shares = record.share("question")
    assert shares[layer, head] == shares.max() and shares.max() > 0


def test_the_lecture_layer_sliders_span_the_default_models_layers_before_any_view(tmp_path, monkeypatch):
    import json

    from ui import page

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"num_hidden_layers": 6}), encoding="utf-8")
    monkeypatch.setattr(page, "default_model", lambda: "m")
    monkeypatch.setattr(page.checkpoints, "resolve", lambda name: (name, folder))
    from ui.words import key

    slider = page.layer_slider(key("lecture.layer"), "lecture-layer")
    assert (slider.minimum, slider.maximum, slider.value) == (0, 6, 0)
