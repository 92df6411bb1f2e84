"""The Ask tab: a paragraph and a question in, the answer span out, with its n-best and start/end scores.

Also the page's programmatic front door: ``/ask`` (what the tab shows), ``/answer`` (the answer as JSON,
for a client program) and ``/models``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import gradio as gr

from qa_core.answering.engine import QAEngine
from qa_core.answering.records import Answer
from qa_core.explaining import trace_figures
from qa_core.settings import (
    AnswerSettings,
    SpanRules,
    WindowSettings,
    bound_of,
    default_of,
    require_bool,
    require_number,
)
from ui import screen
from ui.page import (
    LIMITS,
    Page,
    asset,
    default_model,
    load_engine,
    model_choices,
    model_run,
    refresh_models,
    refuse,
    slider,
)
from ui.words import FIGURE_WORDS, in_page_language, key, text, verbatim, worded
from ui.zerogpu import gpu

EXAMPLES = asset("examples.json")
# the answer's label, in every language the page speaks ("answer" for API clients)
HIGHLIGHT_COLOURS = {words.get("answer", "answer"): "#fbbf24" for words in FIGURE_WORDS.values()}


class AskView(NamedTuple):
    """What one question fills in; the same names hold the components and the values sent to them."""

    highlighted: Any
    summary: Any
    nbest: Any
    ask_scores: Any
    scores: Any  # the Inside tab's copy of the scores, which that tab renders
    answer: Any
    model: Any


class AskPart(NamedTuple):
    """What the other tabs use: the question and paragraph, the model picker, and the answered event."""

    question: Any
    context: Any
    model_picker: Any
    view: AskView
    answered: Any  # the /ask event: the other tabs follow it with .success(...)


def answer_settings(
    max_length: float,
    doc_stride: float,
    max_answer_length: float,
    n_best: float,
    use_max_context: bool,
    null_threshold: float | None = None,
    answer_threshold: float | None = None,
) -> AnswerSettings:
    """The settings of one question, as sent by the page or an API client (checked: JSON can be anything)."""
    threshold = None if null_threshold is None else float(require_number("null_threshold", null_threshold))
    check = None if answer_threshold is None else float(require_number("answer_threshold", answer_threshold))
    return AnswerSettings(
        windows=WindowSettings(
            max_length=int(require_number("max_length", max_length)),
            doc_stride=int(require_number("doc_stride", doc_stride)),
        ),
        spans=SpanRules(
            max_answer_length=int(require_number("max_answer_length", max_answer_length)),
            n_best=int(require_number("n_best", n_best)),
            use_max_context=require_bool("use_max_context", use_max_context),
            null_threshold=threshold,
            answer_threshold=check,
        ),
    )


def run_model(
    question: str, context: str, model: str | None, settings: AnswerSettings
) -> tuple[str, QAEngine, Answer]:
    """Answer with the chosen model; input a person can fix becomes a message in the page, not a traceback."""
    try:
        name, engine = load_engine(model)
        return name, engine, engine.answer(question, context, settings, LIMITS)
    except (ValueError, OSError) as error:
        raise refuse(error) from None


def answer_warnings(answer: Answer, model: str) -> list[str]:
    """What a person should know about an answer; the Ask tab and the /answer endpoint say the same."""
    found = []
    if not answer.n_best:
        found.append(text("ask.no_span", model=model))
    if answer.question_truncated:
        found.append(text("ask.question_cut", tokens=answer.trace.question_tokens))
    if answer.n_best and not any(character.isalnum() for character in answer.trace.context):
        found.append(text("ask.no_words"))  # emoji or punctuation only: a span is found, and means nothing
    return found


def null_verdict(answer: Answer, model: str, threshold_set: bool) -> str:
    """Why the model judged the answer in or out of the paragraph, for a person: a lead is never negative,
    and a threshold typed in the settings is the reader's, not the model's."""
    null = answer.trace.null
    whose = text("ask.threshold_yours" if threshold_set else "ask.threshold_model")
    values = {"model": model, "threshold": null.threshold, "whose": whose}
    if not answer.no_answer:
        return text("ask.null_checked", margin=null.margin, **values)
    if null.margin >= 0:
        return text("ask.not_in_paragraph", margin=null.margin, **values)
    return text("ask.not_in_paragraph_lead", lead=-null.margin, needed=-null.threshold, **values)


def check_verdict(answer: Answer, model: str, threshold: float, threshold_set: bool) -> str:
    """The answer check's decision in words: its probability that the span is right against the threshold."""
    whose = text("ask.threshold_yours" if threshold_set else "ask.threshold_model")
    said = "ask.check_unsure" if answer.no_answer else "ask.check_sure"
    return text(said, model=model, p=100 * (answer.p_correct or 0.0), threshold=100 * threshold, whose=whose)


def summary(
    answer: Answer,
    model: str,
    in_int8: bool,
    threshold_set: bool = False,
    check_threshold: float | None = None,
) -> str:
    """The answer in words, with any warnings; ``threshold_set``: the threshold that decides was typed in;
    ``check_threshold``: the answer check's threshold in use, for a model that has one (it then decides)."""
    warnings = [text("ask.warning", warning=warning) for warning in answer_warnings(answer, model)]
    if not answer.n_best:
        return "\n\n".join(warnings)
    null = answer.trace.null
    if answer.p_correct is not None and check_threshold is not None:
        verdict = check_verdict(answer, model, check_threshold, threshold_set)
    else:
        verdict = null_verdict(answer, model, threshold_set) if null.threshold is not None else ""
    lines = [verdict] if answer.no_answer else []
    lines += [
        text(
            "ask.summary",
            answer=verbatim(answer.text),
            first=answer.start,
            last=answer.end - 1,  # people read a range as including both ends
            start=answer.start,
            end=answer.end,
            score=answer.score,
            probability=answer.probability,
            count=len(answer.n_best),
            model=model,
            int8=text("ask.int8") if in_int8 else "",
        ),
        text("ask.probability_note"),
    ]
    if verdict and not answer.no_answer:
        lines.append(verdict)
    return "\n\n".join(lines + warnings)


def ask(
    question: str,
    context: str,
    model: str | None,
    max_length: float,
    doc_stride: float,
    max_answer_length: float,
    n_best: float,
    use_max_context: bool = default_of(SpanRules, "use_max_context"),
    null_threshold: float | None = default_of(SpanRules, "null_threshold"),
    answer_threshold: float | None = default_of(SpanRules, "answer_threshold"),
) -> AskView:
    try:
        settings = answer_settings(
            max_length, doc_stride, max_answer_length, n_best, use_max_context, null_threshold, answer_threshold
        )
    except ValueError as error:
        raise refuse(error) from None
    name, engine, answer = run_model(question, context, model, settings)
    scores = trace_figures.scores_figure(answer.trace)
    spans = settings.spans
    check = engine.check and (engine.check.threshold if spans.answer_threshold is None else spans.answer_threshold)
    typed = (spans.null_threshold if engine.check is None else spans.answer_threshold) is not None
    return AskView(
        highlighted=trace_figures.highlight_segments(answer),
        summary=summary(answer, name, engine.int8, typed, check),
        nbest=trace_figures.nbest_table(answer),
        ask_scores=scores,
        scores=scores,
        answer=answer,
        model=name,
    )


def answer_api(question: str, context: str, model: str = "") -> dict:
    """Answer a question from a paragraph. Returns {answer, start, end, score, probability, no_answer,
    null_margin, p_correct, model, warnings}; ``context[start:end] == answer``, the best span even when
    ``no_answer`` is true (the model judges the answer probably not in the paragraph: its null score beats the
    span by more than its threshold; ``null_margin`` is by how much; with an answer check, ``p_correct`` is its
    calibrated probability that the span is right, and under its threshold means ``no_answer``). ``model`` is
    a name from the model picker (blank: the default). ``warnings`` lists what the Ask tab would point out (a question cut to 64 tokens, no span found)."""
    name, _, answer = run_model(question, context, model, AnswerSettings())
    return {
        "answer": answer.text,
        "start": answer.start,
        "end": answer.end,
        "score": answer.score if math.isfinite(answer.score) else None,
        "probability": answer.probability,
        "no_answer": answer.no_answer,
        "null_margin": answer.null_margin,
        "p_correct": answer.p_correct,
        "model": name,
        "warnings": answer_warnings(answer, name),
    }


def _threshold(name: str) -> gr.Number:
    """A threshold of ``SpanRules`` (empty by default: the model's own), labelled by the key of its name."""
    bound = bound_of(SpanRules, name)
    return worded(
        gr.Number,
        default_of(SpanRules, name),
        label=key(f"ask.{name}"),
        info=key(f"ask.{name}_info"),
        minimum=bound.low,
        maximum=bound.high,
        step=bound.step,
    )


def _settings_accordion() -> list[Any]:
    """The advanced settings, in the order ``ask`` takes them after the model."""
    with worded(gr.Accordion, label=key("ask.advanced"), open=False):
        return [
            slider(WindowSettings, "max_length", key("ask.max_length")),
            slider(WindowSettings, "doc_stride", key("ask.doc_stride")),
            slider(SpanRules, "max_answer_length", key("ask.max_answer_length")),
            slider(SpanRules, "n_best", key("ask.n_best")),
            worded(
                gr.Checkbox,
                default_of(SpanRules, "use_max_context"),
                label=key("ask.max_context"),
                info=key("ask.max_context_info"),
            ),
            _threshold("null_threshold"),
            _threshold("answer_threshold"),
        ]


def _outputs(page: Page) -> AskView:
    return AskView(
        highlighted=worded(
            gr.HighlightedText,
            label=key("ask.highlighted"),
            color_map=HIGHLIGHT_COLOURS,
            elem_id=screen.ANSWER_IN_PARAGRAPH,
        ),
        summary=gr.Markdown(elem_id="answer-summary"),
        ask_scores=worded(gr.Plot, label=key("ask.scores_plot"), elem_id="ask-scores"),
        nbest=worded(
            gr.Dataframe,
            headers=list(trace_figures.NBEST_COLUMNS),
            label=key("ask.nbest"),
            interactive=False,
            elem_id="nbest",
        ),
        scores=worded(gr.Plot, label=key("inside.scores_plot"), elem_id="scores-plot", render=False),
        answer=page.last_answer,
        model=page.last_model,
    )


def render(page: Page) -> AskPart:
    """Declare the Ask tab and wire its events."""
    with worded(gr.Tab, label=key("tab.ask"), id="ask"):
        with gr.Row():
            with gr.Column(scale=3):
                context = worded(
                    gr.Textbox, label=key("ask.paragraph"), lines=10, max_lines=30, elem_id="paragraph"
                )
                question = worded(gr.Textbox, label=key("ask.question"), lines=1, elem_id="question")
            with gr.Column(scale=1):
                model_picker = worded(
                    gr.Dropdown, model_choices(), value=default_model(), label=key("ask.model"), elem_id="model"
                )
                refresh_button = worded(gr.Button, value=key("ask.refresh"), size="sm")
                settings = _settings_accordion()
                ask_button = worded(
                    gr.Button, value=key("ask.button"), variant="primary", elem_id="ask-button"
                )
        worded(
            gr.Examples,
            [[e["context"], e["question"]] for e in EXAMPLES],
            inputs=[context, question],
            example_labels=[e["label"] for e in EXAMPLES],
            label=key("ask.examples"),
        )
        view = _outputs(page)
        with worded(gr.Accordion, label=key("ask.how"), open=False):
            worded(gr.Markdown, value=key("explain.answer"))
            worded(gr.Markdown, value=key("explain.n_best"))
        gr.api(gpu(answer_api), api_name="answer", concurrency_id="model")  # a block: it belongs inside the tab
    answered = ask_button.click(
        model_run(ask),
        [question, context, model_picker, *settings, page.language],
        list(view),
        api_name="ask",
        concurrency_id="model",
        # ask() checks every value itself: a slider's own preprocessing fails on text from an API client
        # with a TypeError that reaches the client as a bare "error"
        preprocess=False,
    )
    models = in_page_language(refresh_models)
    refresh_button.click(models, [model_picker, page.language], model_picker, api_name="models")
    page.blocks.load(models, [model_picker, page.language], model_picker, api_visibility="private")
    page.after_switch.append((refresh_models, [model_picker], [model_picker]))
    return AskPart(question, context, model_picker, view, answered)
