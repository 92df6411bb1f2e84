"""BERT QA Explorer: ask a question about a paragraph, see how BERT found the answer, fine-tune your own model.

This file only declares the page and wires its events. Answers come from ``qa_core.engine``, every
figure and table from ``qa_core.figures`` (drawn from the engine's trace, nothing recomputed here),
fine-tuning from ``qa_core.train.jobs``; every word on the page from ``assets/text/<language>.json``.

    python app.py                      # http://127.0.0.1:7860
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py
    QA_CHECKPOINTS_DIR=/models python app.py          # another checkpoints folder
    QA_ALLOW_TRAINING=0 python app.py                 # a public demo without the Fine-tune tab's training
    QA_QUEUE_SIZE=8 python app.py                     # turn requests away once 8 wait (default 32)
    QA_INT8=1 python app.py                           # every model in int8: faster on a CPU, EM within a point
"""

import json
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from qa_core import checkpoints, figures, int8
from qa_core.engine import QAEngine
from qa_core.model_cache import ModelCache
from qa_core.records import Answer
from qa_core.settings import (
    AnswerSettings,
    Placement,
    RequestLimits,
    Schedule,
    SpanRules,
    WindowSettings,
    bound_of,
    choices,
    default_of,
)
from qa_core.train import jobs as training
from qa_core.train.config import TrainConfig

ASSETS = Path(__file__).parent / "assets"
EXAMPLES = json.loads((ASSETS / "examples.json").read_text(encoding="utf-8"))
TEXT: dict[str, str] = json.loads((ASSETS / "text" / "en.json").read_text(encoding="utf-8"))
LIMITS = RequestLimits(max_chars=20_000, max_windows=64)  # ~ 20k characters of Chinese at the defaults
MAX_LOADED_MODELS = 3  # each multilingual model holds a few hundred MB; the least recently used is dropped
QUEUE_SIZE = int(os.environ.get("QA_QUEUE_SIZE", "32"))  # more waiting are turned away, not kept in memory
CONCURRENCY = 2  # model runs at once (CPU bound: more would only share the same cores)
SESSIONS = 200  # browser sessions whose last answer (with its trace, about 1-2 MB) is kept in memory
SESSION_TTL_S = 3600
POLL_SECONDS = 1.0
HIGHLIGHT_COLOURS = {"answer": "#fbbf24"}

log = logging.getLogger(__name__)
models: ModelCache[QAEngine] = ModelCache(
    lambda folder: QAEngine.load(folder, int8=int8.requested()), MAX_LOADED_MODELS
)
jobs = training.FineTuneJobs()


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


class TrainingView(NamedTuple):
    status: Any
    loss_plot: Any
    timer: Any
    model_picker: Any


def text(key: str, **values: Any) -> str:
    return TEXT[key].format(**values) if values else TEXT[key]


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
    max_length: float, doc_stride: float, max_answer_length: float, n_best: float, use_max_context: bool
) -> AnswerSettings:
    return AnswerSettings(
        windows=WindowSettings(max_length=int(max_length), doc_stride=int(doc_stride)),
        spans=SpanRules(
            max_answer_length=int(max_answer_length),
            n_best=int(n_best),
            use_max_context=bool(use_max_context),
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
        raise gr.Error(str(error)) from None


def summary(answer: Answer, model: str, in_int8: bool) -> str:
    if not answer.n_best:
        return text("ask.no_span", model=model)
    lines = [
        text(
            "ask.summary",
            answer=answer.text,
            start=answer.start,
            end=answer.end,
            score=answer.score,
            probability=answer.probability,
            count=len(answer.n_best),
            model=model,
            int8=text("ask.int8") if in_int8 else "",
        )
    ]
    if answer.question_truncated:
        lines.append(text("ask.question_cut", tokens=answer.trace.question_tokens))
    return "\n\n".join(lines)


def ask(
    question: str,
    context: str,
    model: str | None,
    max_length: float,
    doc_stride: float,
    max_answer_length: float,
    n_best: float,
    use_max_context: bool = default_of(SpanRules, "use_max_context"),
) -> AskView:
    settings = answer_settings(max_length, doc_stride, max_answer_length, n_best, use_max_context)
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
    """Answer a question from a paragraph. Returns {answer, start, end, score, probability, model};
    ``context[start:end] == answer``. ``model`` is a name from the model picker (blank: the default)."""
    name, _, answer = run_model(question, context, model, AnswerSettings())
    return {
        "answer": answer.text,
        "start": answer.start,
        "end": answer.end,
        "score": answer.score if math.isfinite(answer.score) else None,
        "probability": answer.probability,
        "model": name,
    }


def window_choices(answer: Answer) -> list[tuple[str, int]]:
    trace = answer.trace
    choices_ = []
    for wt in trace.windows:
        w = wt.window
        key = "inside.window_choice_answer" if w.index == trace.winning_window else "inside.window_choice"
        choices_.append((text(key, number=w.index + 1, first=w.doc_start, last=w.doc_end - 1), w.index))
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
    if status.state == "finished":
        scores = status.scores
        measured = text("train.scores", em=scores.exact_match, f1=scores.f1, n=scores.n) if scores else ""
        return "\n\n".join(
            (
                text("train.finished", elapsed=elapsed, model=status.checkpoint),
                text("train.saved", model=status.checkpoint, steps=status.step, scores=measured),
            )
        )
    return "\n\n".join((text("train.running", elapsed=elapsed), _running_line(status)))


def _running_line(status: training.JobStatus) -> str:
    if status.step == 0:
        replacing = text("train.replacing", model=status.checkpoint) if status.replacing else ""
        return text(
            "train.starting",
            model=status.checkpoint,
            training=status.training_questions,
            held_out=status.held_out_questions,
            replacing=replacing,
        )
    left = text("train.left", eta=format_duration(status.eta_s)) if status.eta_s is not None else ""
    return text("train.progress", step=status.step, max_steps=status.max_steps, left=left)


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
    settings = dict(
        max_steps=int(max_steps),
        epochs=float(epochs),
        learning_rate=float(learning_rate),
        batch_size=int(batch_size),
        max_length=int(max_length),
        doc_stride=int(doc_stride),
        placement=placement,
        schedule=schedule,
    )
    request = training.FineTuneRequest(
        name=(name or "").strip(),
        base=base,
        data_file=data_file or str(training.SAMPLE_DATA),
        settings=settings,
    )
    try:
        status = jobs.start(request)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return progress_text(status), gr.Timer(active=True)


def cancel_training() -> str:
    return progress_text(jobs.cancel())


def poll_training(model: str | None) -> TrainingView:
    """One look at the background job; the timer stops itself once the job is over."""
    status = jobs.status()
    return TrainingView(
        status=progress_text(status),
        loss_plot=figures.loss_figure(status.losses),
        timer=gr.Timer(active=status.state in ("running", "cancelling")),
        model_picker=refresh_models(model) if status.state == "finished" else gr.skip(),
    )


def slider(record: type, name: str, label: str, **options: Any) -> gr.Slider:
    """A slider whose range, step and starting value are the setting's own."""
    bound = bound_of(record, name)
    return gr.Slider(bound.low, bound.high, default_of(record, name), step=bound.step, label=label, **options)


with gr.Blocks(title=text("page.title")) as demo:
    gr.Markdown(text("page.intro"))
    last_answer = gr.State(None, time_to_live=SESSION_TTL_S)
    last_model = gr.State(None, time_to_live=SESSION_TTL_S)

    with gr.Tab(text("tab.ask"), id="ask"):
        with gr.Row():
            with gr.Column(scale=3):
                context_box = gr.Textbox(
                    label=text("ask.paragraph"), lines=10, max_lines=30, elem_id="paragraph"
                )
                question_box = gr.Textbox(label=text("ask.question"), lines=1, elem_id="question")
            with gr.Column(scale=1):
                model_picker = gr.Dropdown(
                    model_names(), value=default_model(), label=text("ask.model"), elem_id="model"
                )
                refresh_button = gr.Button(text("ask.refresh"), size="sm")
                with gr.Accordion(text("ask.advanced"), open=False):
                    max_length = slider(WindowSettings, "max_length", text("ask.max_length"))
                    doc_stride = slider(WindowSettings, "doc_stride", text("ask.doc_stride"))
                    max_answer_length = slider(SpanRules, "max_answer_length", text("ask.max_answer_length"))
                    n_best = slider(SpanRules, "n_best", text("ask.n_best"))
                    use_max_context = gr.Checkbox(
                        default_of(SpanRules, "use_max_context"),
                        label=text("ask.max_context"),
                        info=text("ask.max_context_info"),
                    )
                ask_button = gr.Button(text("ask.button"), variant="primary", elem_id="ask-button")
        gr.Examples(
            [[e["context"], e["question"]] for e in EXAMPLES],
            inputs=[context_box, question_box],
            example_labels=[e["label"] for e in EXAMPLES],
        )
        ask_view = AskView(
            highlighted=gr.HighlightedText(
                label=text("ask.highlighted"), color_map=HIGHLIGHT_COLOURS, elem_id="highlighted"
            ),
            summary=gr.Markdown(elem_id="answer-summary"),
            ask_scores=gr.Plot(label=text("ask.scores_plot"), elem_id="ask-scores"),
            nbest=gr.Dataframe(label=text("ask.nbest"), interactive=False, elem_id="nbest"),
            scores=None,  # drawn in the Inside tab, declared there
            answer=last_answer,
            model=last_model,
        )
        with gr.Accordion(text("ask.how"), open=False):
            gr.Markdown(text("explain.answer"))
            gr.Markdown(text("explain.n_best"))

    with gr.Tab(text("tab.inside"), id="inside") as inside_tab:
        trace_note = gr.Markdown(text("inside.empty"), elem_id="trace-note")
        gr.Markdown(text("inside.tokens_title"))
        for key in ("input_ids", "token_type_ids", "attention_mask", "special_tokens"):
            gr.Markdown(text(f"explain.{key}"))
        window_picker = gr.Dropdown(label=text("inside.window"), choices=[], elem_id="window-picker")
        token_table = gr.Dataframe(interactive=False, label=text("inside.token_table"), elem_id="token-table")
        gr.Markdown(text("inside.windows_title"))
        gr.Markdown(text("explain.windows"))
        windows_plot = gr.Plot(label=text("inside.windows_plot"), elem_id="windows-plot")
        gr.Markdown(text("inside.scores_title"))
        gr.Markdown(text("explain.scores"))
        ask_view = ask_view._replace(scores=gr.Plot(label=text("inside.scores_plot"), elem_id="scores-plot"))
        gr.Markdown(text("inside.matrix_title"))
        gr.Markdown(text("explain.span_matrix"))
        trace_view = TraceView(
            note=trace_note,
            window_picker=window_picker,
            token_table=token_table,
            windows_plot=windows_plot,
            matrix_plot=gr.Plot(label=text("inside.matrix_plot"), elem_id="matrix-plot"),
        )
        gr.Markdown(text("inside.playground"))
        with gr.Row():
            playground_length = slider(
                WindowSettings, "max_length", text("inside.playground_length"), elem_id="playground-length"
            )
            playground_stride = slider(
                WindowSettings, "doc_stride", text("inside.playground_stride"), elem_id="playground-stride"
            )
        playground_view = PlaygroundView(
            note=gr.Markdown(elem_id="playground-note"),
            plot=gr.Plot(label=text("inside.playground_plot"), elem_id="playground-plot"),
        )

    allowed = training.training_allowed()
    with gr.Tab(text("tab.fine_tune"), id="fine-tune"):
        gr.Markdown(
            text("train.intro", megabytes=training.MAX_UPLOAD_BYTES // 1_000_000)
            if allowed
            else text("train.off")
        )
        with gr.Row():
            with gr.Column():
                train_base = gr.Dropdown(
                    list(training.BASES),
                    value=next(iter(training.BASES)),
                    label=text("train.base"),
                    interactive=allowed,
                )
                train_file = gr.File(
                    label=text("train.file"), file_types=[".json", ".gz"], interactive=allowed
                )
                train_name = gr.Textbox(label=text("train.name"), placeholder="my-model", interactive=allowed)
            with gr.Column():
                with gr.Row():
                    train_steps = gr.Number(
                        default_of(TrainConfig, "max_steps"),
                        label=text("train.steps"),
                        precision=0,
                        minimum=0,  # 0: train for the epochs (saved configs may also say -1)
                        interactive=allowed,
                    )
                    train_epochs = gr.Number(
                        default_of(TrainConfig, "epochs"),
                        label=text("train.epochs"),
                        minimum=bound_of(TrainConfig, "epochs").low,
                        interactive=allowed,
                    )
                    train_lr = gr.Number(
                        default_of(TrainConfig, "learning_rate"),
                        label=text("train.learning_rate"),
                        interactive=allowed,
                    )
                train_batch = slider(TrainConfig, "batch_size", text("train.batch_size"), interactive=allowed)
                train_length = slider(
                    TrainConfig, "max_length", text("train.max_length"), interactive=allowed
                )
                train_stride = slider(
                    TrainConfig, "doc_stride", text("train.doc_stride"), interactive=allowed
                )
                with gr.Row():
                    train_placement = gr.Radio(
                        list(choices(Placement)),
                        value=default_of(TrainConfig, "placement"),
                        label=text("train.placement"),
                        interactive=allowed,
                    )
                    train_schedule = gr.Radio(
                        list(choices(Schedule)),
                        value=default_of(TrainConfig, "schedule"),
                        label=text("train.schedule"),
                        interactive=allowed,
                    )
        with gr.Row():
            start_button = gr.Button(text("train.start"), variant="primary", interactive=allowed)
            cancel_button = gr.Button(text("train.cancel"), variant="stop", interactive=allowed)
        training_status = gr.Markdown(elem_id="training-status")
        training_view = TrainingView(
            status=training_status,
            loss_plot=gr.Plot(label=text("train.loss_plot")),
            timer=gr.Timer(POLL_SECONDS, active=False),
            model_picker=model_picker,
        )
        gr.Markdown(text("explain.loss"))

    ask_button.click(
        ask,
        [
            question_box,
            context_box,
            model_picker,
            max_length,
            doc_stride,
            max_answer_length,
            n_best,
            use_max_context,
        ],
        list(ask_view),
        api_name="ask",
        concurrency_id="model",
    ).success(show_trace, last_answer, list(trace_view), api_visibility="private")
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
            preview,
            playground_inputs,
            list(playground_view),
            api_visibility="private",
            concurrency_id="model",
            trigger_mode="always_last",
            show_progress="hidden",
        )

    start_button.click(
        start_training,
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
        ],
        [training_status, training_view.timer],
        api_name="fine_tune",
    )
    cancel_button.click(cancel_training, None, training_status, api_name="cancel_fine_tune")
    demo.load(refresh_models, model_picker, model_picker, api_visibility="private")
    for trigger, options in ((training_view.timer.tick, {"concurrency_limit": None}), (demo.load, {})):
        trigger(
            poll_training,
            model_picker,
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
