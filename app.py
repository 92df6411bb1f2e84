"""BERT QA Explorer: ask a question about a paragraph, see how BERT found the answer, fine-tune your own model.

This file only declares the page and wires its events. Answers come from ``qa_core.engine``, every
figure and table from ``qa_core.figures`` (drawn from the engine's trace, nothing recomputed here), the
"why this span" views from ``qa_core.why`` and ``qa_core.why_figures``, the lecture's views from
``qa_core.lecture`` and ``qa_core.lecture_figures``, fine-tuning from
``qa_core.train.jobs``; every word on the page from ``assets/text/<language>.json``.

    python app.py                      # http://127.0.0.1:7860
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py
    QA_CHECKPOINTS_DIR=/models python app.py          # another checkpoints folder
    QA_ALLOW_TRAINING=0 python app.py                 # a public demo without the Fine-tune tab's training
    QA_QUEUE_SIZE=8 python app.py                     # turn requests away once 8 wait (default 32)
    QA_INT8=1 python app.py                           # every model in int8: faster on a CPU, EM within a point
"""

import dataclasses
import functools
import inspect
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import pandas as pd

from qa_core import (
    checkpoints,
    figures,
    int8,
    lecture,
    lecture_figures,
    lessons,
    lessons_figures,
    why,
    why_figures,
)
from qa_core.base_models.build import base_states
from qa_core.engine import QAEngine
from qa_core.experiments import results as experiment_results
from qa_core.experiments.plan import REFERENCE
from qa_core.files import write_text_atomically
from qa_core.model_cache import ModelCache
from qa_core.records import (
    Answer,
    ContextualEmbeddings,
    ExperimentRun,
    Experiments,
    Explanation,
    RunCurve,
    Trace,
    WordArithmetic,
    WordProjection,
)
from qa_core.settings import (
    AnswerSettings,
    AttributionMethod,
    AttributionSettings,
    ContextSettings,
    Placement,
    RequestLimits,
    Schedule,
    SpanRules,
    WindowSettings,
    bound_of,
    choices,
    default_of,
    described,
    require_bool,
    require_number,
    require_text,
)
from qa_core.train import jobs as training
from qa_core.train.config import TrainConfig
from qa_core.train.curve import FILE_NAME as CURVE_FILE
from qa_core.train.curve import curve_points
from qa_core.words import speaking

ASSETS = Path(__file__).parent / "assets"
EXAMPLES = json.loads((ASSETS / "examples.json").read_text(encoding="utf-8"))
_LECTURE = json.loads((ASSETS / "lecture_examples.json").read_text(encoding="utf-8"))
# sentence sets sharing a target, each line "group: sentence"; the first whose target a model knows is its default
LECTURE_EXAMPLES = _LECTURE["contexts"]
WORD_PAIRS = "\n".join(_LECTURE["word_pairs"])
SAME_QUESTION = _LECTURE[
    "same_question"
]  # a paragraph and one question in Chinese and in English  # "Chinese English" a line, for embedding arithmetic
LANGUAGES = {
    "en": "English",
    "zh-Hant": "繁體中文",
}  # assets/text/<code>.json, and the name a reader looks for
DEFAULT_LANGUAGE = "en"  # what API clients get, and the page until the browser says otherwise
TEXTS: dict[str, dict[str, str]] = {
    code: json.loads((ASSETS / "text" / f"{code}.json").read_text(encoding="utf-8")) for code in LANGUAGES
}
FIGURE = "figure:"  # keys of the words figures write on plots: FIGURE + the English the code writes
FIGURE_WORDS = {
    code: {k.removeprefix(FIGURE): v for k, v in words.items() if k.startswith(FIGURE)}
    for code, words in TEXTS.items()
}
LANGUAGE: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)  # of the request being answered
# the browser's first language picks the page's: any Chinese one gets the course's Traditional Chinese
BROWSER_LANGUAGE = "() => (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-Hant' : 'en'"
SHOWN: dict[str, tuple[str, dict[str, Any]]] = {}  # the English the page declares -> its key and values
TEXT_PROPERTIES = ("label", "info", "value", "placeholder")  # where a component shows declared text
LIMITS = RequestLimits(max_chars=20_000, max_windows=64)  # ~ 20k characters of Chinese at the defaults
MAX_LOADED_MODELS = 3  # each multilingual model holds a few hundred MB; the least recently used is dropped
QUEUE_SIZE = int(os.environ.get("QA_QUEUE_SIZE", "32"))  # more waiting are turned away, not kept in memory
CONCURRENCY = 2  # model runs at once (CPU bound: more would only share the same cores)
SESSIONS = 200  # browser sessions whose last answer (with its trace, about 1-2 MB) is kept in memory
SESSION_TTL_S = 3600
POLL_SECONDS = 1.0
LESSON_WINDOW = 64  # tokens per training window in the Lessons view: most sample paragraphs are longer
TRAINING_LESSONS = ("placement", "schedule", "pretraining")  # the lessons a pair of training runs shows
ABLATION_MEASUREMENTS = 4  # held-out scores during each run of a placement comparison: its learning curve
HIGHLIGHT_COLOURS = {"answer": "#fbbf24"}
WHY_RESULTS = 64  # explanations kept: one question's lens, attention and a few attributions each
NARROW_MIN_WIDTH = 260  # px: controls side by side in a row stack on a phone instead of squeezing

log = logging.getLogger(__name__)
models: ModelCache[QAEngine] = ModelCache(
    lambda folder: QAEngine.load(folder, int8=int8.requested()), MAX_LOADED_MODELS
)
jobs = training.FineTuneJobs()
why_memo = why.Memo(WHY_RESULTS)
CSV_DIR = Path(tempfile.mkdtemp(prefix="qa-explorer-csv-"))  # the numbers behind the views, for download


class AskView(NamedTuple):
    """What one question fills in; the same names hold the components and the values sent to them."""

    highlighted: Any
    summary: Any
    nbest: Any
    ask_scores: Any
    scores: Any
    answer: Any
    model: Any


class TraceView(NamedTuple):
    note: Any
    window_picker: Any
    token_table: Any
    windows_plot: Any
    matrix_plot: Any


class PlaygroundView(NamedTuple):
    plot: Any
    note: Any


class WhyView(NamedTuple):
    layer: Any
    head: Any
    lens_plot: Any
    lens_table: Any
    attribution_text: Any
    attribution_plot: Any
    contrast_plot: Any
    overview: Any
    attention_plot: Any
    explanation: Any
    csv_lens: Any
    csv_attribution: Any
    csv_attention: Any


class LectureView(NamedTuple):
    """What "same character, different contexts" fills in; the sentences and target only when left blank."""

    sentences: Any
    target: Any
    layer: Any
    heatmap: Any
    separation: Any
    note: Any
    csv: Any
    record: Any


class ArithmeticView(NamedTuple):
    """What "embedding arithmetic" fills in; the word pairs only when left blank."""

    pairs: Any
    layer: Any
    accuracy: Any
    table: Any
    note: Any
    csv: Any
    record: Any


class ProjectionView(NamedTuple):
    """What "meaning across languages" fills in; the word pairs only when left blank."""

    pairs: Any
    layer: Any
    plot: Any
    note: Any
    csv: Any
    record: Any


class PlacementView(NamedTuple):
    """What "where the answer sits in a training window" fills in."""

    windows: Any
    histogram: Any
    note: Any


class CompareView(NamedTuple):
    plot: Any
    csv: Any


class SameQuestionView(NamedTuple):
    """What "the same question in two languages" fills in."""

    note: Any
    first_matrix: Any
    second_matrix: Any
    csv: Any


class TrainingView(NamedTuple):
    status: Any
    loss_plot: Any
    timer: Any
    model_picker: Any
    compare: Any  # the Lessons tab's run list, which a finished job's curves join


def within(value: float, low: int, high: int) -> int:
    """A slider's value as a whole number inside the current model's range (another model may have fewer layers)."""
    return min(max(int(value), low), high)


def text(key: str, **values: Any) -> str:
    """The page's words for ``key`` in the language of the request being answered."""
    words = TEXTS[LANGUAGE.get()][key]
    return words.format(**values) if values else words


def shown(key: str, **values: Any) -> str:
    """A text the page declares, in English, remembered so that switching the language can find and replace it."""
    english = text(key, **values)
    SHOWN[english] = (key, values)
    return english


def translatable(blocks: dict[int, Any]) -> list[tuple[Any, dict[str, tuple[str, dict[str, Any]]]]]:
    """Every component that shows declared text, with the key (and values) of each such property."""
    found = []
    for block in blocks.values():
        properties = {
            name: SHOWN[value]
            for name in TEXT_PROPERTIES
            if isinstance(value := getattr(block, name, None), str) and value in SHOWN
        }
        if properties:
            found.append((block, properties))
    return found


def switch_language(
    shows_text: list[tuple[Any, dict[str, tuple[str, dict[str, Any]]]]], language: str
) -> list:
    """The chosen language, then every declared text of the page in it."""
    code = language if language in TEXTS else DEFAULT_LANGUAGE
    token = LANGUAGE.set(code)
    try:
        return [
            code,
            *(
                gr.update(**{name: text(key, **values) for name, (key, values) in properties.items()})
                for _, properties in shows_text
            ),
        ]
    finally:
        LANGUAGE.reset(token)


def in_page_language(callback: Callable) -> Callable:
    """``callback`` with the page's language as one more, last input, in which every text() inside it speaks.

    The language is a ``gr.State``, so API clients never see the extra input and get English.
    """

    @functools.wraps(callback)
    def localised(*inputs: Any) -> Any:
        *values, language = inputs
        code = language if language in TEXTS else DEFAULT_LANGUAGE
        token = LANGUAGE.set(code)
        try:
            with speaking(FIGURE_WORDS[code]):
                return callback(*values)
        finally:
            LANGUAGE.reset(token)

    signature = inspect.signature(callback)
    language = inspect.Parameter(
        "language", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=DEFAULT_LANGUAGE, annotation=str
    )
    localised.__signature__ = signature.replace(parameters=[*signature.parameters.values(), language])
    return localised


def model_names() -> list[str]:
    return list(checkpoints.available())


def default_model() -> str | None:
    names = model_names()
    return checkpoints.DEFAULT_NAME if checkpoints.DEFAULT_NAME in names else next(iter(names), None)


def load_engine(name: str | None) -> tuple[str, QAEngine]:
    """The engine for a model picker name (blank = the default), loaded once and kept warm."""
    name, folder = checkpoints.resolve(name)
    return name, models.get(folder)


def answer_settings(
    max_length: float,
    doc_stride: float,
    max_answer_length: float,
    n_best: float,
    use_max_context: bool,
    null_threshold: float | None = None,
) -> AnswerSettings:
    """The settings of one question, as sent by the page or an API client (checked: JSON can be anything)."""
    threshold = None if null_threshold is None else float(require_number("null_threshold", null_threshold))
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
        ),
    )


def refuse(error: Exception) -> gr.Error:
    """The message for the person; for the server log one line, since input someone can fix needs no traceback."""
    log.info("refused a request: %s", error)
    return gr.Error(str(error), print_exception=False)


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
    return found


def summary(answer: Answer, model: str, in_int8: bool) -> str:
    warnings = [text("ask.warning", warning=warning) for warning in answer_warnings(answer, model)]
    if not answer.n_best:
        return "\n\n".join(warnings)
    null = answer.trace.null
    lines = []
    if answer.no_answer:
        lines.append(text("ask.not_in_paragraph", model=model, margin=null.margin, threshold=null.threshold))
    lines += [
        text(
            "ask.summary",
            answer=answer.text,
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
    if null.threshold is not None and not answer.no_answer:
        lines.append(text("ask.null_checked", margin=null.margin, threshold=null.threshold))
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
) -> AskView:
    try:
        settings = answer_settings(
            max_length, doc_stride, max_answer_length, n_best, use_max_context, null_threshold
        )
    except ValueError as error:
        raise refuse(error) from None
    name, engine, answer = run_model(question, context, model, settings)
    scores = figures.scores_figure(answer.trace)
    return AskView(
        highlighted=figures.highlight_segments(answer),
        summary=summary(answer, name, engine.int8),
        nbest=figures.nbest_table(answer),
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
    calibrated probability that the span is right, and under its threshold means ``no_answer``). ``model`` is a name from the model picker (blank: the
    default). ``warnings`` lists what the Ask tab would point out (a question cut to 64 tokens, no span found)."""
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


def window_choices(answer: Answer) -> list[tuple[str, int]]:
    trace = answer.trace
    choices_ = []
    for wt in trace.windows:
        w = wt.window
        key = "inside.window_choice_answer" if w.index == trace.winning_window else "inside.window_choice"
        number = figures.window_number(w.index)
        choices_.append((text(key, number=number, first=w.doc_start, last=w.doc_end - 1), w.index))
    return choices_


def show_trace(answer: Answer) -> TraceView:
    trace = answer.trace
    window = trace.winning_window or 0
    return TraceView(
        note=text("inside.drawn_from", question=trace.question, windows=len(trace.windows)),
        window_picker=gr.Dropdown(choices=window_choices(answer), value=window),
        token_table=figures.token_table(trace, window),
        windows_plot=figures.windows_figure(
            [w.window for w in trace.windows],
            trace.paragraph_tokens,
            figures.answer_doc_tokens(trace),
            trace.winning_window,
        ),
        matrix_plot=figures.span_matrix_figure(trace),
    )


def show_tokens(answer: Answer | None, window: int | None):
    if answer is None or window is None:
        return gr.skip()
    return figures.token_table(answer.trace, int(window))


def preview(
    question: str,
    context: str,
    model: str | None,
    max_length: float,
    doc_stride: float,
    last: Answer | None,
    last_model: str | None,
) -> PlaygroundView:
    """Redraw the windows for new max_length / doc_stride with the tokenizer alone: no model run."""
    try:
        name, engine = load_engine(model)
        settings = AnswerSettings(
            windows=WindowSettings(max_length=int(max_length), doc_stride=int(doc_stride))
        )
        windows = engine.preview_windows(question, context, settings, LIMITS)
    except (ValueError, OSError) as error:
        return PlaygroundView(plot=gr.skip(), note=f"⚠️ {error}")
    asked = (
        last is not None
        and last_model == name
        and (last.trace.question, last.trace.context) == (question, context)
    )
    figure = figures.windows_figure(
        windows, windows[-1].doc_end, figures.answer_doc_tokens(last.trace) if asked else None
    )
    note = text(
        "inside.playground_note",
        windows=len(windows),
        max_length=int(max_length),
        tokens=windows[-1].doc_end,
        doc_stride=int(doc_stride),
    )
    return PlaygroundView(plot=figure, note=note)


def refresh_models(current: str | None):
    names = model_names()
    return gr.Dropdown(choices=names, value=current if current in names else default_model())


def base_notes() -> str:
    """Which base encoders are built here and which a job will first download: a wait, and a failure offline."""
    lines = []
    for state in base_states():
        if state.built:
            lines.append(text("train.base_built", name=state.name, megabytes=state.megabytes))
        else:
            size = text("train.base_size", megabytes=state.megabytes) if state.megabytes else ""
            lines.append(text("train.base_to_fetch", name=state.name, size=size))
    return text("train.bases", bases="\n".join(lines))


def format_duration(seconds: float) -> str:
    """'4 min 05 s' rather than '245 s': how people read time left."""
    minutes, secs = divmod(round(seconds), 60)
    if minutes:
        return text("duration.minutes", minutes=minutes, seconds=secs)
    return text("duration.seconds", seconds=secs)


def progress_text(status: training.JobStatus) -> str:
    """A headline of the job's state over the job's own line (step, time left, EM/F1 at the end)."""
    elapsed = format_duration(status.elapsed_s)
    if status.state == "idle":
        return text("train.idle")
    if status.state == "failed":
        return text("train.failed", error=status.error)
    if status.state == "cancelled":
        return text("train.cancelled", steps=status.step)
    if status.state == "cancelling":
        return text("train.cancelling")
    if status.state == "finished" and status.runs > 1:
        models = ", ".join(f"`{m}`" for m in status.finished)
        return text("train.finished_series", elapsed=elapsed, models=models)
    if status.state == "finished":
        scores = status.scores
        measured = text("train.scores", em=scores.exact_match, f1=scores.f1, n=scores.n) if scores else ""
        return "\n\n".join(
            (
                text("train.finished", elapsed=elapsed, model=status.checkpoint),
                text("train.saved", model=status.checkpoint, steps=status.step, scores=measured),
            )
        )
    series = (
        text("train.series", run=status.run, runs=status.runs, model=status.checkpoint)
        if status.runs > 1
        else ""
    )
    return "\n\n".join((text("train.running", elapsed=elapsed) + series, _running_line(status)))


def _running_line(status: training.JobStatus) -> str:
    if status.step == 0:
        replacing = text("train.replacing", model=status.checkpoint) if status.replacing else ""
        return text(
            "train.starting",
            model=status.checkpoint,
            training=status.training_questions,
            held_out=status.held_out_questions,
            replacing=replacing,
            repairs=_repairs_line(status.data_repairs),
        )
    left = text("train.left", eta=format_duration(status.eta_s)) if status.eta_s is not None else ""
    return text("train.progress", step=status.step, max_steps=status.max_steps, left=left)


def _repairs_line(repairs: training.Repairs) -> str:
    """What loading the upload moved or skipped, said once; nothing when the file was clean."""
    if not (repairs.moved_answers or repairs.skipped_answers):
        return ""
    return text(
        "train.repairs",
        moved=repairs.moved_answers,
        skipped=repairs.skipped_answers,
        questions=repairs.skipped_questions,
    )


def start_training(
    name: str,
    base: str,
    data_file: str | None,
    max_steps: float,
    epochs: float,
    learning_rate: float,
    batch_size: float,
    max_length: float,
    doc_stride: float,
    placement: Placement,
    schedule: Schedule,
):
    """Start a fine-tuning job; the arguments are named as the TrainConfig fields they set."""
    settings = form_settings(
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        doc_stride=doc_stride,
        placement=placement,
        schedule=schedule,
    )
    return start_jobs(training.FineTuneRequest(**job_files(name, base, data_file), settings=settings))


def compare_placements(
    name: str,
    base: str,
    data_file: str | None,
    max_steps: float,
    learning_rate: float,
    batch_size: float,
    max_length: float,
    doc_stride: float,
    schedule: Schedule,
):
    """Two runs on the same data and steps, the answer placed at random and centred, each with a learning curve."""
    settings = form_settings(
        max_steps=max_steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        doc_stride=doc_stride,
        schedule=schedule,
    )
    files = job_files(name, base, data_file)
    return start_jobs(
        *(
            training.FineTuneRequest(
                **{**files, "name": f"{files['name']}-{placement}"},
                measurements=ABLATION_MEASUREMENTS,
                settings={**settings, "placement": placement},
            )
            for placement in choices(Placement)
        )
    )


def form_settings(**values: Any) -> dict[str, Any]:
    """The form's values as the TrainConfig fields they set: a number box sends 8 as 8.0, a step count is an int."""
    kinds = {f.name: f.type for f in dataclasses.fields(TrainConfig)}  # "int", "float", ... (postponed types)
    casts: dict[str, Callable[[Any], Any]] = {"int": int, "float": float}
    return {name: casts.get(kinds[name], lambda v: v)(value) for name, value in values.items()}


def job_files(name: str, base: str, data_file: str | None) -> dict[str, str]:
    """The name, base and data of a request as the form sends them: no file means the sample set."""
    return {"name": (name or "").strip(), "base": base, "data_file": data_file or str(training.SAMPLE_DATA)}


def start_jobs(*requests: training.FineTuneRequest):
    try:
        status = jobs.start(*requests)
    except ValueError as error:
        raise refuse(error) from None
    return progress_text(status), gr.Timer(active=True)


def cancel_training() -> str:
    return progress_text(jobs.cancel())


def poll_training(model: str | None, compared: list[str] | None) -> TrainingView:
    """One look at the background job; the timer stops itself once the job is over."""
    status = jobs.status()
    finished = status.state == "finished"
    return TrainingView(
        status=progress_text(status),
        loss_plot=figures.loss_figure(status.losses),
        timer=gr.Timer(active=status.state in ("running", "cancelling")),
        model_picker=refresh_models(model) if finished else gr.skip(),
        compare=refresh_runs([*(compared or []), *status.finished]) if finished else gr.skip(),
    )


def span_value(window: int, start: int, end: int) -> str:
    """A span as the "why" pickers hold it: window, start token and end token (all 0-based)."""
    return f"{window}/{start}/{end}"


def parse_span(value: Any) -> tuple[int, int, int]:
    try:
        window, start, end = (int(part) for part in str(value).split("/"))
    except ValueError:
        raise ValueError(f"{value!r} is not a span: choose one from the list.") from None
    return window, start, end


def answer_span(answer: Answer) -> tuple[int, int, int]:
    """The answer's own span: what "Explain" explains when no other span is picked."""
    if not answer.n_best:
        raise ValueError(text("why.no_span"))
    top = answer.n_best[0]
    return top.window, top.start_token, top.end_token


def span_choices(answer: Answer) -> list[tuple[str, str]]:
    """The n-best rows as pickable spans, labelled as the n-best table shows them."""
    return [
        (
            text(
                "why.span_choice",
                rank=rank,
                text=c.text if len(c.text) <= 30 else c.text[:29] + "…",
                window=figures.window_number(c.window),
                first=c.start_token,
                last=c.end_token,
            ),
            span_value(c.window, c.start_token, c.end_token),
        )
        for rank, c in enumerate(answer.n_best, start=1)
    ]


def show_span_choices(answer: Answer):
    """After each question: the spans to explain (the answer first) and the spans to compare with."""
    spans = span_choices(answer)
    first = spans[0][1] if spans else None
    contrast = [(text("why.contrast_none"), ""), *spans]
    return gr.Dropdown(choices=spans, value=first), gr.Dropdown(choices=contrast, value="")


def pick_nbest_row(answer: Answer | None, evt: gr.SelectData):
    """A click on a row of the n-best table picks that span for the "why" views."""
    if answer is None or not answer.n_best:
        return gr.skip()
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    candidate = answer.n_best[int(row)]
    return span_value(candidate.window, candidate.start_token, candidate.end_token)


def use_cell(answer: Answer | None, start: float, end: float):
    """A (start, end) cell of the winning window's span matrix as the span to explain."""
    if answer is None or answer.trace.winning_window is None:
        raise refuse(ValueError(text("why.empty")))
    window = answer.trace.winning_window
    value = span_value(window, int(start), int(end))
    label = text("why.cell_choice", first=int(start), last=int(end), window=figures.window_number(window))
    return gr.Dropdown(choices=[*span_choices(answer), (label, value)], value=value)


def explain(
    answer: Answer | None,
    model: str | None,
    span: str,
    contrast: str,
    method: AttributionMethod,
    steps: float,
    layer: float,
    head: float,
    hide_special: bool,
) -> WhyView:
    """The three "why" views of one span, computed once per question and span and kept (``why_memo``)."""
    if answer is None:
        raise refuse(ValueError(text("why.empty")))
    try:
        _, engine = load_engine(model)
        settings = AttributionSettings(method=method, steps=int(steps))
        chosen = parse_span(span) if span else answer_span(answer)
        other = parse_span(contrast) if contrast else None
        explanation = why.explain(engine, answer.trace, chosen, other, settings, why_memo, model or "")
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    return why_view(explanation, answer.trace, int(layer), int(head), hide_special)


def why_view(explanation: Explanation, trace: Trace, layer: int, head: int, hide_special: bool) -> WhyView:
    """Every figure and table of the "why" tab from the explanation; ``layer`` and ``head`` count from 1."""
    lens, attention = explanation.lens, explanation.attention
    layers, heads, _ = attention.from_answer.shape
    layer, head = within(layer, 1, layers), within(head, 1, heads)
    return WhyView(
        layer=gr.Slider(maximum=layers, value=layer),
        head=gr.Slider(maximum=heads, value=head),
        lens_plot=why_figures.lens_figure(lens),
        lens_table=why_figures.lens_table(lens, trace),
        **attribution_views(explanation, trace, hide_special),
        overview=why_figures.attention_overview(attention),
        attention_plot=head_figure(explanation, layer, head, hide_special),
        explanation=explanation,
        csv_lens=write_csv("lens", explanation.key, why_figures.lens_scores_table(lens)),
        csv_attention=write_csv("attention", explanation.key, why_figures.attention_table(attention)),
    )


def attribution_views(explanation: Explanation, trace: Trace, hide_special: bool) -> dict[str, Any]:
    """The attribution's shaded text, bars, contrast and CSV; messages where there is none to show."""
    attribution, other = explanation.attribution, explanation.contrast
    if attribution is None:  # an int8 server
        message = figures.message_figure(text("why.attribution_plot"), text("why.int8"))
        return dict(
            attribution_text=[], attribution_plot=message, contrast_plot=message, csv_attribution=None
        )
    units = why_figures.attribution_units(attribution, trace)
    contrast = (
        why_figures.contrast_figure(attribution, other, trace)
        if other is not None
        else figures.message_figure(text("why.contrast_plot"), text("why.contrast_none"))
    )
    return dict(
        attribution_text=why_figures.highlighted(units, trace, hide_special=hide_special),
        attribution_plot=why_figures.attribution_figure(attribution, trace),
        contrast_plot=contrast,
        csv_attribution=write_csv("attribution", explanation.key, why_figures.attribution_table(attribution)),
    )


def head_figure(explanation: Explanation | None, layer: float, head: float, hide_special: bool):
    """One head's weights from the kept attention record: moving the sliders runs no model."""
    if explanation is None:
        return gr.skip()
    attention = explanation.attention
    layers, heads, _ = attention.from_answer.shape
    layer, head = within(layer, 1, layers), within(head, 1, heads)
    return why_figures.attention_figure(attention, layer - 1, head - 1, hide_special=hide_special)


def write_csv(view: str, key: str, table) -> str:
    """The numbers of one view as a CSV file, named after the view and the result (``key``) it belongs to."""
    path = CSV_DIR / f"{view}-{key}.csv"
    # with a byte-order mark, spreadsheet programs read the Chinese as UTF-8
    write_text_atomically(path, "\ufeff" + table.to_csv(index=False))
    return str(path)


def lecture_example_text(example: dict) -> str:
    return "\n".join(example["sentences"])


def lecture_default(engine: QAEngine) -> dict:
    """The first example set whose target the model knows: the English one for an English-only model."""
    return next((e for e in LECTURE_EXAMPLES if lecture.knows(engine, e["target"])), LECTURE_EXAMPLES[-1])


def lecture_context(sentences: str, target: str, model: str | None, layer: float) -> LectureView:
    """The target's similarity across the sentences at every layer, computed once; blank: the model's example."""
    try:
        sentences, target = require_text("The sentences", sentences), require_text("The target", target)
        layer = int(require_number("layer", layer))
        name, engine = load_engine(model)
        blank = not sentences.strip() and not target.strip()
        if blank:
            example = lecture_default(engine)
            sentences, target = lecture_example_text(example), example["target"]
        record = lecture.contextual_embeddings(engine, *lecture.parse_sentences(sentences), target)
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    layers = record.similarity.shape[0] - 1
    layer = within(layer, 0, layers)
    return LectureView(
        sentences=sentences if blank else gr.skip(),
        target=target if blank else gr.skip(),
        layer=gr.Slider(maximum=layers, value=layer),
        heatmap=lecture_figures.similarity_figure(record, layer),
        separation=lecture_figures.separation_figure(record, layer),
        note=lecture_note(record, name, layers),
        csv=write_csv("similarity", record.key, lecture_figures.similarity_table(record)),
        record=record,
    )


def lecture_note(record: ContextualEmbeddings, model: str, layers: int) -> str:
    """Which tokens stand for the target in each sentence: a student checks the view reads the right thing."""
    tokens = "; ".join(f"{i} `{' '.join(t)}`" for i, t in enumerate(record.tokens, start=1))
    return text(
        "lecture.note",
        target=record.target,
        count=len(record.sentences),
        model=model,
        layers=layers,
        tokens=tokens,
    )


def lecture_layer(record: ContextualEmbeddings | None, layer: float):
    """Another layer of the kept record: the slider runs no model."""
    if record is None:
        return gr.skip(), gr.skip()
    layer = within(layer, 0, record.similarity.shape[0] - 1)
    return (
        lecture_figures.similarity_figure(record, layer),
        lecture_figures.separation_figure(record, layer),
    )


def word_pairs_view(
    compute: Callable, pairs: str, model: str | None, layer: float
) -> tuple[str, Any, int, bool]:
    """(model name, record, layer within the model, whether the example list was used) for a word-pairs view.

    The pairs and layer are checked here because an API client may send anything.
    """
    try:
        require_text("The word pairs", pairs)
        layer = int(require_number("layer", layer))
        name, engine = load_engine(model)
        blank = not pairs.strip()
        record = compute(engine, lecture.parse_pairs(WORD_PAIRS if blank else pairs))
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    return name, record, within(layer, 0, record.layers), blank


def lecture_arithmetic(pairs: str, model: str | None, layer: float) -> ArithmeticView:
    """Translation by one mean difference between the languages, at every layer at once; blank: the example list."""
    name, record, layer, blank = word_pairs_view(lecture.word_arithmetic, pairs, model, layer)
    return ArithmeticView(
        pairs=WORD_PAIRS if blank else gr.skip(),
        layer=gr.Slider(maximum=record.layers, value=layer),
        accuracy=lecture_figures.accuracy_figure(record, layer),
        table=lecture_figures.neighbour_table(record, layer),
        note=arithmetic_note(record, name),
        csv=write_csv("arithmetic", record.key, lecture_figures.arithmetic_table(record)),
        record=record,
    )


def arithmetic_note(record: WordArithmetic, model: str) -> str:
    """Which pairs were used and which left out: a student sees what the accuracy is a share of."""
    return text(
        "lecture.arithmetic_note",
        pairs=len(record.chinese),
        train=len(record.train),
        held=len(record.held_out),
        seed=record.seed,
        model=model,
        layers=record.layers,
        left_out=", ".join(record.left_out) or text("lecture.arithmetic_none_left_out"),
    )


def arithmetic_layer(record: WordArithmetic | None, layer: float):
    """Another layer of the kept record: the slider runs no model."""
    if record is None:
        return gr.skip(), gr.skip()
    layer = within(layer, 0, record.layers)
    return (
        lecture_figures.accuracy_figure(record, layer),
        lecture_figures.neighbour_table(record, layer),
    )


def lecture_projection(pairs: str, model: str | None, layer: float) -> ProjectionView:
    """The pairs' vectors in two dimensions at every layer, computed once; blank: the example list."""
    name, record, layer, blank = word_pairs_view(lecture.word_projection, pairs, model, layer)
    return ProjectionView(
        pairs=WORD_PAIRS if blank else gr.skip(),
        layer=gr.Slider(maximum=record.layers, value=layer),
        plot=lecture_figures.projection_figure(record, layer),
        note=text(
            "lecture.projection_note",
            pairs=len(record.chinese),
            model=name,
            layers=record.layers,
            left_out=", ".join(record.left_out) or text("lecture.arithmetic_none_left_out"),
        ),
        csv=write_csv("projection", record.key, lecture_figures.projection_table(record)),
        record=record,
    )


def projection_layer(record: WordProjection | None, layer: float):
    """Another layer of the kept record: the slider runs no model."""
    if record is None:
        return gr.skip()
    return lecture_figures.projection_figure(record, within(layer, 0, record.layers))


def shipped_experiments() -> Experiments | None:
    """The reference experiments the Lessons tab draws; a missing or damaged file leaves that part empty."""
    try:
        return experiment_results.read()
    except (OSError, ValueError) as error:
        log.warning("no reference experiments to show: %s", error)
        return None


def lessons_windows(
    data_file: str | None, number: float, model: str | None, max_length: float, draws: float
) -> PlacementView:
    """The training windows of one question under each placement, and the placements over the whole file."""
    try:
        number, draws = int(require_number("question number", number)), int(require_number("draws", draws))
        max_length = int(require_number("max_length", max_length))  # its range: the slider's own check
        upload = training.load_upload(data_file or str(training.SAMPLE_DATA))
        examples = upload.examples
        if not 1 <= number <= len(examples):
            raise ValueError(f"question number must be 1 to {len(examples)}, got {number}.")
        name, engine = load_engine(model)
        draws_record = lessons.placement_draws(engine.tokenizer, examples[number - 1], max_length, draws)
        histogram = lessons.placement_histogram(engine.tokenizer, examples, max_length)
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    return PlacementView(
        windows=lessons_figures.placement_figure(draws_record),
        histogram=lessons_figures.placement_histogram_figure(histogram),
        note=text(
            "lessons.windows_note",
            number=number,
            count=len(examples),
            question=draws_record.question,
            model=name,
        ),
    )


def reference_figures() -> list[Any]:
    """The reference experiments' plots, lesson by lesson: curves and final scores, and the position bias."""
    drawn = []
    for lesson in TRAINING_LESSONS:
        runs = EXPERIMENTS.runs_of(lesson)
        drawn += [
            lessons_figures.curves_figure([RunCurve(r.name, r.curve) for r in runs]),
            lessons_figures.final_scores_figure(runs),
        ]
        if lesson == "placement":
            drawn.append(lessons_figures.position_figure(runs))
    return drawn


def lesson_numbers(runs: tuple[ExperimentRun, ...]) -> dict[str, float]:
    """The final EM and F1 of a lesson's runs by name (``centre_f1``, ``reference_em``), and the reference's lead.

    ``lead_em`` and ``lead_f1`` are the reference run's score minus the other run's: what the hint is worth.
    """
    numbers = {}
    for run in runs:
        key = run.name.replace("-", "_")
        numbers |= {f"{key}_em": run.final.exact_match, f"{key}_f1": run.final.f1}
    other = next(run for run in runs if run.name != REFERENCE)
    reference = next(run for run in runs if run.name == REFERENCE)
    numbers["lead_em"] = reference.final.exact_match - other.final.exact_match
    numbers["lead_f1"] = reference.final.f1 - other.final.f1
    return numbers


def post_processing_numbers(experiments: Experiments) -> dict[str, float]:
    effect = experiments.post_processing
    return {
        "on_em": effect.on.exact_match,
        "off_em": effect.off.exact_match,
        "reversed": effect.reversed,
        "too_long": effect.too_long,
        "changed": effect.changed,
        "n": effect.on.n,
    }


def run_curves() -> dict[str, RunCurve]:
    """Every learning curve there is to compare: the reference runs, then each model folder that kept one."""
    curves = {
        text("lessons.reference_run", name=r.name): RunCurve(r.name, r.curve)
        for r in (EXPERIMENTS.runs if EXPERIMENTS else ())
    }
    for name in model_names():
        points = curve_points(checkpoints.resolve(name)[1] / CURVE_FILE)
        if points:
            curves[name] = RunCurve(name, points, reference=False)
    return curves


def refresh_runs(chosen: list[str] | None):
    names = list(run_curves())
    return gr.CheckboxGroup(choices=names, value=[n for n in chosen or [] if n in names])


def compare_runs(chosen: list[str]) -> CompareView:
    """The chosen learning curves overlaid: loss and F1 against the training windows seen."""
    try:
        if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
            raise ValueError(f"runs must be a list of run names, got {described(chosen)}.")
        curves = run_curves()
        if unknown := [c for c in chosen if c not in curves]:
            raise ValueError(
                f"no run named {', '.join(map(repr, unknown))}; the runs are: {', '.join(curves)}."
            )
    except ValueError as error:
        raise refuse(error) from None
    picked = [curves[c] for c in chosen]
    return CompareView(
        plot=lessons_figures.curves_figure(picked),
        csv=write_csv("curves", str(abs(hash(tuple(chosen)))), lessons_figures.curves_table(picked)),
    )


def lecture_same_question(context: str, first: str, second: str, model: str | None) -> SameQuestionView:
    """One question in two languages over one paragraph, both traced for their span matrices."""
    try:
        context, first = require_text("The paragraph", context), require_text("The Chinese question", first)
        second = require_text("The English question", second)
        name, engine = load_engine(model)
        record = lecture.same_question(engine, context, (first, second), limits=LIMITS)
    except (ValueError, OSError) as error:
        raise refuse(error) from None
    one, other = record.answers
    verdict = (
        text("lecture.same_span")
        if record.same_span
        else text("lecture.different_span", overlap=record.overlap)
    )
    table = pd.concat(
        [
            figures.nbest_table(a).assign(question=q)
            for q, a in zip(record.questions, record.answers, strict=True)
        ]
    )
    return SameQuestionView(
        note=text(
            "lecture.same_note", first=one.text or "∅", second=other.text or "∅", verdict=verdict, model=name
        ),
        first_matrix=figures.span_matrix_figure(one.trace),
        second_matrix=figures.span_matrix_figure(other.trace),
        csv=write_csv("same-question", str(abs(hash((context, first, second, name)))), table),
    )


def slider(record: type, name: str, label: str, **options: Any) -> gr.Slider:
    """A slider whose range, step and starting value are the setting's own."""
    bound = bound_of(record, name)
    return gr.Slider(bound.low, bound.high, default_of(record, name), step=bound.step, label=label, **options)


EXPERIMENTS = shipped_experiments()

with gr.Blocks(title=shown("page.title")) as demo:
    with gr.Row():
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):  # on a phone the language picker goes below
            gr.Markdown(shown("page.intro"), elem_id="intro")
        language_picker = gr.Radio(
            [(name, code) for code, name in LANGUAGES.items()],
            value=DEFAULT_LANGUAGE,
            show_label=False,
            container=False,
            scale=0,
            min_width=240,  # both languages on one line
            elem_id="language",
        )
    language = gr.State(DEFAULT_LANGUAGE)
    last_answer = gr.State(None, time_to_live=SESSION_TTL_S)
    last_model = gr.State(None, time_to_live=SESSION_TTL_S)

    with gr.Tab(shown("tab.ask"), id="ask"):
        with gr.Row():
            with gr.Column(scale=3):
                context_box = gr.Textbox(
                    label=shown("ask.paragraph"), lines=10, max_lines=30, elem_id="paragraph"
                )
                question_box = gr.Textbox(label=shown("ask.question"), lines=1, elem_id="question")
            with gr.Column(scale=1):
                model_picker = gr.Dropdown(
                    model_names(), value=default_model(), label=shown("ask.model"), elem_id="model"
                )
                refresh_button = gr.Button(shown("ask.refresh"), size="sm")
                with gr.Accordion(shown("ask.advanced"), open=False):
                    max_length = slider(WindowSettings, "max_length", shown("ask.max_length"))
                    doc_stride = slider(WindowSettings, "doc_stride", shown("ask.doc_stride"))
                    max_answer_length = slider(SpanRules, "max_answer_length", shown("ask.max_answer_length"))
                    n_best = slider(SpanRules, "n_best", shown("ask.n_best"))
                    use_max_context = gr.Checkbox(
                        default_of(SpanRules, "use_max_context"),
                        label=shown("ask.max_context"),
                        info=shown("ask.max_context_info"),
                    )
                    null_threshold = gr.Number(
                        default_of(SpanRules, "null_threshold"),
                        label=shown("ask.null_threshold"),
                        info=shown("ask.null_threshold_info"),
                        minimum=bound_of(SpanRules, "null_threshold").low,
                        maximum=bound_of(SpanRules, "null_threshold").high,
                        step=bound_of(SpanRules, "null_threshold").step,
                    )
                ask_button = gr.Button(shown("ask.button"), variant="primary", elem_id="ask-button")
        gr.Examples(
            [[e["context"], e["question"]] for e in EXAMPLES],
            inputs=[context_box, question_box],
            example_labels=[e["label"] for e in EXAMPLES],
            label=shown("ask.examples"),
        )
        ask_view = AskView(
            highlighted=gr.HighlightedText(
                label=shown("ask.highlighted"), color_map=HIGHLIGHT_COLOURS, elem_id="highlighted"
            ),
            summary=gr.Markdown(elem_id="answer-summary"),
            ask_scores=gr.Plot(label=shown("ask.scores_plot"), elem_id="ask-scores"),
            nbest=gr.Dataframe(
                headers=list(figures.NBEST_COLUMNS),
                label=shown("ask.nbest"),
                interactive=False,
                elem_id="nbest",
            ),
            scores=None,  # drawn in the Inside tab, declared there
            answer=last_answer,
            model=last_model,
        )
        with gr.Accordion(shown("ask.how"), open=False):
            gr.Markdown(shown("explain.answer"))
            gr.Markdown(shown("explain.n_best"))

    with gr.Tab(shown("tab.inside"), id="inside") as inside_tab:
        trace_note = gr.Markdown(shown("inside.empty"), elem_id="trace-note")
        gr.Markdown(shown("inside.tokens_title"))
        for key in ("input_ids", "token_type_ids", "attention_mask", "special_tokens"):
            gr.Markdown(shown(f"explain.{key}"))
        window_picker = gr.Dropdown(label=shown("inside.window"), choices=[], elem_id="window-picker")
        token_table = gr.Dataframe(
            headers=list(figures.TOKEN_COLUMNS),
            interactive=False,
            label=shown("inside.token_table"),
            elem_id="token-table",
        )
        gr.Markdown(shown("inside.windows_title"))
        gr.Markdown(shown("explain.windows"))
        windows_plot = gr.Plot(label=shown("inside.windows_plot"), elem_id="windows-plot")
        gr.Markdown(shown("inside.scores_title"))
        gr.Markdown(shown("explain.scores"))
        ask_view = ask_view._replace(scores=gr.Plot(label=shown("inside.scores_plot"), elem_id="scores-plot"))
        gr.Markdown(shown("inside.matrix_title"))
        gr.Markdown(shown("explain.span_matrix"))
        trace_view = TraceView(
            note=trace_note,
            window_picker=window_picker,
            token_table=token_table,
            windows_plot=windows_plot,
            matrix_plot=gr.Plot(label=shown("inside.matrix_plot"), elem_id="matrix-plot"),
        )
        gr.Markdown(shown("inside.playground"))
        with gr.Row():
            playground_length = slider(
                WindowSettings,
                "max_length",
                shown("inside.playground_length"),
                elem_id="playground-length",
                min_width=NARROW_MIN_WIDTH,
            )
            playground_stride = slider(
                WindowSettings,
                "doc_stride",
                shown("inside.playground_stride"),
                elem_id="playground-stride",
                min_width=NARROW_MIN_WIDTH,
            )
        playground_view = PlaygroundView(
            note=gr.Markdown(elem_id="playground-note"),
            plot=gr.Plot(label=shown("inside.playground_plot"), elem_id="playground-plot"),
        )

    allowed = training.training_allowed()
    with gr.Tab(shown("tab.why"), id="why"):
        gr.Markdown(shown("why.intro"))
        with gr.Row():
            with gr.Column(scale=2, min_width=NARROW_MIN_WIDTH):
                # any "window/start/end" is accepted, so an API client can explain a span of its choosing
                why_span = gr.Dropdown(
                    label=shown("why.span"), choices=[], allow_custom_value=True, elem_id="why-span"
                )
                why_contrast = gr.Dropdown(
                    label=shown("why.contrast"),
                    choices=[],
                    value="",  # no comparison, also for an API client that leaves it out
                    allow_custom_value=True,
                    elem_id="why-contrast",
                )
                with gr.Accordion(shown("why.cell"), open=False):
                    with gr.Row():
                        cell_start = gr.Number(0, label=shown("why.cell_start"), precision=0, minimum=0)
                        cell_end = gr.Number(0, label=shown("why.cell_end"), precision=0, minimum=0)
                    cell_button = gr.Button(shown("why.cell_button"), size="sm")
            with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
                why_method = gr.Radio(
                    list(choices(AttributionMethod)),
                    value=default_of(AttributionSettings, "method"),
                    label=shown("why.method"),
                )
                why_steps = slider(AttributionSettings, "steps", shown("why.steps"))
                why_button = gr.Button(shown("why.button"), variant="primary", elem_id="why-button")
        gr.Markdown(shown("why.lens_title"))
        gr.Markdown(shown("explain.lens"))
        why_lens_plot = gr.Plot(label=shown("why.lens_plot"), elem_id="why-lens")
        why_lens_table = gr.Dataframe(
            label=shown("why.lens_table"), interactive=False, headers=list(why_figures.LENS_COLUMNS)
        )
        gr.Markdown(shown("why.attribution_title"))
        gr.Markdown(shown("explain.attribution"))
        why_text = gr.HighlightedText(
            label=shown("why.attribution_text"), show_legend=True, elem_id="why-attribution-text"
        )
        with gr.Row():
            why_attribution_plot = gr.Plot(label=shown("why.attribution_plot"), elem_id="why-attribution")
            why_contrast_plot = gr.Plot(label=shown("why.contrast_plot"), elem_id="why-contrast-plot")
        gr.Markdown(shown("why.attention_title"))
        gr.Markdown(shown("explain.attention"))
        why_overview = gr.Plot(label=shown("why.attention_overview"), elem_id="why-overview")
        with gr.Row():
            why_layer = gr.Slider(1, 12, 12, step=1, label=shown("why.layer"), min_width=NARROW_MIN_WIDTH)
            why_head = gr.Slider(1, 12, 1, step=1, label=shown("why.head"), min_width=NARROW_MIN_WIDTH)
            why_hide_special = gr.Checkbox(True, label=shown("why.hide_special"), min_width=NARROW_MIN_WIDTH)
        why_attention_plot = gr.Plot(label=shown("why.attention_plot"), elem_id="why-attention")
        gr.Markdown(shown("why.export"))
        with gr.Row():
            why_view_ = WhyView(
                layer=why_layer,
                head=why_head,
                lens_plot=why_lens_plot,
                lens_table=why_lens_table,
                attribution_text=why_text,
                attribution_plot=why_attribution_plot,
                contrast_plot=why_contrast_plot,
                overview=why_overview,
                attention_plot=why_attention_plot,
                explanation=gr.State(None, time_to_live=SESSION_TTL_S),
                csv_lens=gr.DownloadButton(shown("why.csv_lens"), size="sm"),
                csv_attribution=gr.DownloadButton(shown("why.csv_attribution"), size="sm"),
                csv_attention=gr.DownloadButton(shown("why.csv_attention"), size="sm"),
            )

    with gr.Tab(shown("tab.lecture"), id="lecture"):
        gr.Markdown(shown("lecture.intro"))
        with gr.Row():
            with gr.Column(scale=3):
                lecture_sentences = gr.Textbox(
                    lecture_example_text(LECTURE_EXAMPLES[0]),
                    label=shown("lecture.sentences"),
                    info=shown("lecture.sentences_info"),
                    lines=10,
                    max_lines=lecture.MAX_SENTENCES,
                    elem_id="lecture-sentences",
                )
            with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
                lecture_target = gr.Textbox(
                    LECTURE_EXAMPLES[0]["target"], label=shown("lecture.target"), elem_id="lecture-target"
                )
                gr.Markdown(shown("lecture.model"))
                lecture_button = gr.Button(
                    shown("lecture.button"), variant="primary", elem_id="lecture-button"
                )
        gr.Examples(
            [[lecture_example_text(e), e["target"]] for e in LECTURE_EXAMPLES],
            inputs=[lecture_sentences, lecture_target],
            example_labels=[e["label"] for e in LECTURE_EXAMPLES],
            label=shown("lecture.examples"),
        )
        lecture_layer_slider = slider(
            ContextSettings, "layer", shown("lecture.layer"), elem_id="lecture-layer"
        )
        lecture_view = LectureView(
            sentences=lecture_sentences,
            target=lecture_target,
            layer=lecture_layer_slider,
            note=gr.Markdown(elem_id="lecture-note"),
            heatmap=gr.Plot(label=shown("lecture.heatmap"), elem_id="lecture-heatmap"),
            separation=gr.Plot(label=shown("lecture.separation"), elem_id="lecture-separation"),
            csv=gr.DownloadButton(shown("lecture.csv"), size="sm"),
            record=gr.State(None, time_to_live=SESSION_TTL_S),
        )
        gr.Markdown(shown("explain.contextual"))
        gr.Markdown(shown("lecture.arithmetic_intro"))
        with gr.Row():
            with gr.Column(scale=3):
                arithmetic_pairs = gr.Textbox(
                    WORD_PAIRS,
                    label=shown("lecture.arithmetic_pairs"),
                    info=shown("lecture.arithmetic_pairs_info"),
                    lines=8,
                    max_lines=20,
                    elem_id="arithmetic-pairs",
                )
            with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
                gr.Markdown(shown("lecture.arithmetic_model"))
                arithmetic_button = gr.Button(
                    shown("lecture.button"), variant="primary", elem_id="arithmetic-button"
                )
        arithmetic_layer_slider = slider(
            ContextSettings, "layer", shown("lecture.layer"), elem_id="arithmetic-layer"
        )
        arithmetic_view = ArithmeticView(
            pairs=arithmetic_pairs,
            layer=arithmetic_layer_slider,
            note=gr.Markdown(elem_id="arithmetic-note"),
            accuracy=gr.Plot(label=shown("lecture.arithmetic_accuracy"), elem_id="arithmetic-accuracy"),
            table=gr.Dataframe(
                label=shown("lecture.arithmetic_table"),
                interactive=False,
                wrap=True,
                elem_id="arithmetic-table",
            ),
            csv=gr.DownloadButton(shown("lecture.arithmetic_csv"), size="sm"),
            record=gr.State(None, time_to_live=SESSION_TTL_S),
        )
        gr.Markdown(shown("explain.arithmetic"))
        gr.Markdown(shown("lecture.projection_intro"))
        projection_button = gr.Button(shown("lecture.projection_button"), elem_id="projection-button")
        projection_layer_slider = slider(
            ContextSettings, "layer", shown("lecture.layer"), elem_id="projection-layer"
        )
        projection_view = ProjectionView(
            pairs=arithmetic_pairs,
            layer=projection_layer_slider,
            note=gr.Markdown(elem_id="projection-note"),
            plot=gr.Plot(label=shown("lecture.projection_plot"), elem_id="projection-plot"),
            csv=gr.DownloadButton(shown("lecture.projection_csv"), size="sm"),
            record=gr.State(None, time_to_live=SESSION_TTL_S),
        )
        gr.Markdown(shown("explain.projection"))
        gr.Markdown(shown("lecture.same_intro"), elem_id="same-intro")
        with gr.Row():
            same_context = gr.Textbox(
                SAME_QUESTION["context"], label=shown("lecture.same_paragraph"), lines=5, scale=2
            )
            with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
                same_first = gr.Textbox(SAME_QUESTION["questions"][0], label=shown("lecture.same_first"))
                same_second = gr.Textbox(SAME_QUESTION["questions"][1], label=shown("lecture.same_second"))
                same_button = gr.Button(
                    shown("lecture.same_button"), variant="primary", elem_id="same-button"
                )
        same_note = gr.Markdown(elem_id="same-note")
        with gr.Row():  # side by side: the same cells light up when both questions mean the same
            same_first_matrix = gr.Plot(label=shown("lecture.same_first_matrix"), elem_id="same-first")
            same_second_matrix = gr.Plot(label=shown("lecture.same_second_matrix"), elem_id="same-second")
        same_view = SameQuestionView(
            note=same_note,
            first_matrix=same_first_matrix,
            second_matrix=same_second_matrix,
            csv=gr.DownloadButton(shown("lecture.same_csv"), size="sm"),
        )

    with gr.Tab(shown("tab.lessons"), id="lessons"):
        gr.Markdown(shown("lessons.intro"))
        gr.Markdown(shown("lessons.windows_intro"))
        with gr.Row():
            with gr.Column(scale=2):
                lessons_file = gr.File(label=shown("lessons.file"), file_types=[".json", ".gz"])
            with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
                lessons_number = gr.Number(1, label=shown("lessons.question_number"), precision=0, minimum=1)
                lessons_length = gr.Slider(
                    bound_of(TrainConfig, "max_length").low,
                    bound_of(TrainConfig, "max_length").high,
                    LESSON_WINDOW,
                    step=bound_of(TrainConfig, "max_length").step,
                    label=shown("lessons.max_length"),
                )
                lessons_draws = gr.Slider(1, lessons.MAX_DRAWS, 5, step=1, label=shown("lessons.draws"))
                lessons_button = gr.Button(
                    shown("lessons.windows_button"), variant="primary", elem_id="lessons-button"
                )
        placement_view = PlacementView(
            note=gr.Markdown(elem_id="lessons-note"),
            windows=gr.Plot(label=shown("lessons.windows_plot"), elem_id="lessons-windows"),
            histogram=gr.Plot(label=shown("lessons.histogram_plot"), elem_id="lessons-histogram"),
        )
        reference_plots: list[gr.Plot] = []  # redrawn when the language changes
        if EXPERIMENTS is None:
            gr.Markdown(shown("lessons.missing"))
        else:
            gr.Markdown(
                shown("lessons.experiments_intro", machine=EXPERIMENTS.machine, command=EXPERIMENTS.command)
            )
            drawn = iter(reference_figures())
            for lesson in TRAINING_LESSONS:
                gr.Markdown(shown(f"lessons.{lesson}", **lesson_numbers(EXPERIMENTS.runs_of(lesson))))
                with gr.Row():
                    reference_plots += [gr.Plot(next(drawn)), gr.Plot(next(drawn))]
                if lesson == "placement":
                    reference_plots.append(gr.Plot(next(drawn), elem_id="lessons-position"))
            gr.Markdown(shown("lessons.post_processing", **post_processing_numbers(EXPERIMENTS)))
            gr.Dataframe(
                lessons_figures.post_processing_table(EXPERIMENTS.post_processing),
                interactive=False,
                wrap=True,
            )
            gr.Dataframe(
                lessons_figures.runs_table(EXPERIMENTS), label=shown("lessons.runs_table"), wrap=True
            )
        gr.Markdown(shown("lessons.compare_intro"))
        comparable = list(run_curves())  # reads every model folder's curve: once, not per argument
        with gr.Row():
            compare_choices = gr.CheckboxGroup(
                comparable, value=comparable[:2], label=shown("lessons.compare_runs")
            )
            with gr.Column(scale=0, min_width=NARROW_MIN_WIDTH):
                compare_button = gr.Button(
                    shown("lessons.compare_button"), variant="primary", elem_id="compare-button"
                )
                compare_refresh = gr.Button(shown("lessons.compare_refresh"), size="sm")
        compare_view = CompareView(
            plot=gr.Plot(label=shown("lessons.curves_plot"), elem_id="compare-plot"),
            csv=gr.DownloadButton(shown("lessons.compare_csv"), size="sm"),
        )

    with gr.Tab(shown("tab.fine_tune"), id="fine-tune"):
        gr.Markdown(
            shown("train.intro", megabytes=training.MAX_UPLOAD_BYTES // 1_000_000)
            if allowed
            else shown("train.off")
        )
        with gr.Row():
            with gr.Column():
                train_base = gr.Dropdown(
                    list(training.BASES),
                    value=next(iter(training.BASES)),
                    label=shown("train.base"),
                    interactive=allowed,
                )
                base_notes_box = gr.Markdown(base_notes(), visible=allowed, elem_id="base-notes")
                train_file = gr.File(
                    label=shown("train.file"), file_types=[".json", ".gz"], interactive=allowed
                )
                train_name = gr.Textbox(
                    label=shown("train.name"), placeholder="my-model", interactive=allowed
                )
            with gr.Column():
                with gr.Row():
                    train_steps = gr.Number(
                        default_of(TrainConfig, "max_steps"),
                        label=shown("train.steps"),
                        precision=0,
                        minimum=0,  # 0: train for the epochs (saved configs may also say -1)
                        interactive=allowed,
                    )
                    train_epochs = gr.Number(
                        default_of(TrainConfig, "epochs"),
                        label=shown("train.epochs"),
                        minimum=bound_of(TrainConfig, "epochs").low,
                        interactive=allowed,
                    )
                    train_lr = gr.Number(
                        default_of(TrainConfig, "learning_rate"),
                        label=shown("train.learning_rate"),
                        interactive=allowed,
                    )
                train_batch = slider(
                    TrainConfig, "batch_size", shown("train.batch_size"), interactive=allowed
                )
                train_length = slider(
                    TrainConfig, "max_length", shown("train.max_length"), interactive=allowed
                )
                train_stride = slider(
                    TrainConfig, "doc_stride", shown("train.doc_stride"), interactive=allowed
                )
                with gr.Row():
                    train_placement = gr.Radio(
                        list(choices(Placement)),
                        value=default_of(TrainConfig, "placement"),
                        label=shown("train.placement"),
                        interactive=allowed,
                    )
                    train_schedule = gr.Radio(
                        list(choices(Schedule)),
                        value=default_of(TrainConfig, "schedule"),
                        label=shown("train.schedule"),
                        interactive=allowed,
                    )
        with gr.Row():
            start_button = gr.Button(shown("train.start"), variant="primary", interactive=allowed)
            compare_button_train = gr.Button(shown("train.compare_placements"), interactive=allowed)
            cancel_button = gr.Button(shown("train.cancel"), variant="stop", interactive=allowed)
        gr.Markdown(shown("train.compare_placements_info", measurements=ABLATION_MEASUREMENTS))
        training_status = gr.Markdown(elem_id="training-status")
        training_view = TrainingView(
            status=training_status,
            loss_plot=gr.Plot(label=shown("train.loss_plot")),
            timer=gr.Timer(POLL_SECONDS, active=False),
            model_picker=model_picker,
            compare=compare_choices,
        )
        gr.Markdown(shown("explain.loss"))

    ask_button.click(
        in_page_language(ask),
        [
            question_box,
            context_box,
            model_picker,
            max_length,
            doc_stride,
            max_answer_length,
            n_best,
            use_max_context,
            null_threshold,
            language,
        ],
        list(ask_view),
        api_name="ask",
        concurrency_id="model",
        # ask() checks every value itself: a slider's own preprocessing fails on text from an API client
        # with a TypeError that reaches the client as a bare "error"
        preprocess=False,
    ).success(
        in_page_language(show_span_choices),
        [last_answer, language],
        [why_span, why_contrast],
        api_name="why_spans",
    ).success(
        in_page_language(show_trace), [last_answer, language], list(trace_view), api_visibility="private"
    )
    ask_view.nbest.select(pick_nbest_row, last_answer, why_span, api_visibility="private")
    cell_button.click(use_cell, [last_answer, cell_start, cell_end], why_span, api_name="why_cell")
    why_button.click(
        in_page_language(explain),
        [
            last_answer,
            last_model,
            why_span,
            why_contrast,
            why_method,
            why_steps,
            why_layer,
            why_head,
            why_hide_special,
            language,
        ],
        list(why_view_),
        api_name="explain",
        concurrency_id="model",
    )
    for trigger in (why_layer.release, why_head.release, why_hide_special.change):
        trigger(
            head_figure,
            [why_view_.explanation, why_layer, why_head, why_hide_special],
            why_attention_plot,
            api_visibility="private",
            show_progress="hidden",
        )
    for button, compute, inputs, view in (
        (
            lecture_button,
            lecture_context,
            [lecture_sentences, lecture_target, model_picker, lecture_layer_slider],
            lecture_view,
        ),
        (
            arithmetic_button,
            lecture_arithmetic,
            [arithmetic_pairs, model_picker, arithmetic_layer_slider],
            arithmetic_view,
        ),
        (
            projection_button,
            lecture_projection,
            [arithmetic_pairs, model_picker, projection_layer_slider],
            projection_view,
        ),
        (
            same_button,
            lecture_same_question,
            [same_context, same_first, same_second, model_picker],
            same_view,
        ),
    ):
        button.click(
            in_page_language(compute),
            [*inputs, language],
            list(view),
            api_name=compute.__name__,
            concurrency_id="model",
            preprocess=False,  # each lecture callback checks every value: an API client may send anything
        )
    for layer_slider, redraw, kept, outputs in (
        (
            lecture_layer_slider,
            lecture_layer,
            lecture_view.record,
            [lecture_view.heatmap, lecture_view.separation],
        ),
        (
            arithmetic_layer_slider,
            arithmetic_layer,
            arithmetic_view.record,
            [arithmetic_view.accuracy, arithmetic_view.table],
        ),
        (projection_layer_slider, projection_layer, projection_view.record, projection_view.plot),
    ):
        layer_slider.change(  # redraws from the kept record: cheap enough for every step of a drag
            redraw,
            [kept, layer_slider],
            outputs,
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )
    lessons_button.click(
        in_page_language(lessons_windows),
        [lessons_file, lessons_number, model_picker, lessons_length, lessons_draws, language],
        list(placement_view),
        api_name="lessons_windows",
        concurrency_id="model",
    )
    compare_button.click(compare_runs, compare_choices, list(compare_view), api_name="compare_runs")
    compare_refresh.click(refresh_runs, compare_choices, compare_choices, api_visibility="private")
    gr.api(answer_api, api_name="answer", concurrency_id="model")
    refresh_button.click(refresh_models, model_picker, model_picker, api_name="models")
    window_picker.change(show_tokens, [last_answer, window_picker], token_table, api_visibility="private")

    playground_inputs = [
        question_box,
        context_box,
        model_picker,
        playground_length,
        playground_stride,
        last_answer,
        last_model,
    ]
    for trigger in (playground_length.change, playground_stride.change, inside_tab.select):
        trigger(
            in_page_language(preview),
            [*playground_inputs, language],
            list(playground_view),
            api_visibility="private",
            concurrency_id="model",
            trigger_mode="always_last",
            show_progress="hidden",
        )

    start_button.click(
        in_page_language(start_training),
        [
            train_name,
            train_base,
            train_file,
            train_steps,
            train_epochs,
            train_lr,
            train_batch,
            train_length,
            train_stride,
            train_placement,
            train_schedule,
            language,
        ],
        [training_status, training_view.timer],
        api_name="fine_tune",
    )
    compare_button_train.click(
        in_page_language(compare_placements),
        [
            train_name,
            train_base,
            train_file,
            train_steps,
            train_lr,
            train_batch,
            train_length,
            train_stride,
            train_schedule,
            language,
        ],
        [training_status, training_view.timer],
        api_name="compare_placements",
    )
    cancel_button.click(
        in_page_language(cancel_training), language, training_status, api_name="cancel_fine_tune"
    )
    demo.load(refresh_models, model_picker, model_picker, api_visibility="private")
    # the page's language: the browser's unless the reader picks another; every declared text follows it
    demo.load(None, None, language_picker, js=BROWSER_LANGUAGE)
    shows_text = translatable(demo.blocks)
    switched = language_picker.change(
        functools.partial(switch_language, shows_text),
        language_picker,
        [language, *(block for block, _ in shows_text)],
        api_visibility="private",
        show_progress="hidden",
    )
    if reference_plots:
        switched.then(
            in_page_language(reference_figures), language, reference_plots, api_visibility="private"
        )
    for trigger in (demo.load, switched.then):  # a job may have built a base encoder since the page loaded
        trigger(in_page_language(base_notes), language, base_notes_box, api_visibility="private")
    for trigger, options in (
        (training_view.timer.tick, {"concurrency_limit": None}),
        (demo.load, {}),
        (switched.then, {}),
    ):
        trigger(
            in_page_language(poll_training),
            [model_picker, compare_choices, language],
            list(training_view),
            api_visibility="private",
            show_progress="hidden",
            **options,
        )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if default_model():  # load the default model while the server starts, so the first answer is quick
        threading.Thread(target=load_engine, args=(None,), daemon=True).start()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        max_file_size=training.MAX_UPLOAD_BYTES, state_session_capacity=SESSIONS
    )
