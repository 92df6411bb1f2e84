"""BERT QA Explorer: ask a question about a paragraph, see how BERT found the answer, fine-tune your own model.

This file only declares the page and wires its events. The answers come from ``qa_core.engine``, every
figure and table from ``qa_core.figures`` (drawn from the engine's trace, nothing recomputed here), and
fine-tuning runs in ``qa_core.finetune``.

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

import gradio as gr

from qa_core import checkpoints, figures, finetune, int8
from qa_core.engine import Answer, AnswerSettings, QAEngine

EXAMPLES = json.loads((Path(__file__).parent / "assets" / "examples.json").read_text(encoding="utf-8"))
DEFAULTS = AnswerSettings()
TRAINING_DEFAULTS = finetune.FineTuneRequest(name="", base="", data_file="")  # read for its default settings
MAX_LOADED_MODELS = 3  # each multilingual model holds a few hundred MB; older ones are dropped first
QUEUE_SIZE = int(os.environ.get("QA_QUEUE_SIZE", "32"))  # more waiting are turned away, not kept in memory
CONCURRENCY = 2  # model runs at once (CPU bound: more would only share the same cores)
SESSIONS = 200  # browser sessions whose last answer (with its trace, about 1-2 MB) is kept in memory
SESSION_TTL_S = 3600
POLL_SECONDS = 1.0
HIGHLIGHT_COLOURS = {"answer": "#fbbf24"}

log = logging.getLogger(__name__)
_engines: dict[Path, tuple[int, QAEngine]] = {}  # checkpoint folder -> (weights mtime, engine)
_engines_lock = threading.Lock()
jobs = finetune.FineTuneJobs()


def model_names() -> list[str]:
    return list(checkpoints.available())


def default_model() -> str | None:
    names = model_names()
    return checkpoints.DEFAULT_NAME if checkpoints.DEFAULT_NAME in names else next(iter(names), None)


def load_engine(name: str | None) -> tuple[str, QAEngine]:
    """The engine for a model picker name (blank = the default), loaded once and kept warm.

    A user checkpoint fine-tuned again under the same name replaces its folder, so the weights'
    modification time is part of what makes a cached engine current.
    """
    models = checkpoints.available()
    if not models:
        checkpoints.default_checkpoint()  # raises the error that says how to get a model
    name = name or default_model()
    if name not in models:
        raise ValueError(f"There is no model called {name!r}; choose one of: {', '.join(models)}.")
    path = models[name]
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    with _engines_lock:
        cached = _engines.get(path)
        if cached is None or cached[0] != mtime:
            _engines.pop(path, None)
            if len(_engines) >= MAX_LOADED_MODELS:
                _engines.pop(next(iter(_engines)))
            log.info("Loading %s from %s", name, path)
            _engines[path] = (mtime, QAEngine.load(path, int8=int8.requested()))
        return name, _engines[path][1]


def answer_settings(
    max_length: float, doc_stride: float, max_answer_length: float, n_best: float, use_max_context: bool
) -> AnswerSettings:
    return AnswerSettings(
        max_length=int(max_length),
        doc_stride=int(doc_stride),
        max_answer_length=int(max_answer_length),
        n_best=int(n_best),
        use_max_context=bool(use_max_context),
    )


def run_model(
    question: str, context: str, model: str | None, settings: AnswerSettings
) -> tuple[str, QAEngine, Answer]:
    """Answer with the chosen model; input a person can fix becomes a message in the page, not a traceback."""
    try:
        name, engine = load_engine(model)
        return name, engine, engine.answer(question, context, settings)
    except (ValueError, OSError) as error:
        raise gr.Error(str(error)) from None


def summary(answer: Answer, model: str, in_int8: bool) -> str:
    if not answer.n_best:
        return f"`{model}` found no span that can be an answer here: try a larger max answer length."
    lines = [
        f"**{answer.text}** (characters {answer.start}–{answer.end}) · score **{answer.score:.2f}** · "
        f"probability **{answer.probability:.0%}** among the {len(answer.n_best)} best spans · model `{model}`"
        f"{' (int8)' if in_int8 else ''}"
    ]
    if answer.question_truncated:
        lines.append(
            f"⚠️ The question is long: the model read only its first {answer.trace.question_tokens} tokens."
        )
    return "\n\n".join(lines)


def ask(
    question: str,
    context: str,
    model: str | None,
    max_length: float,
    doc_stride: float,
    max_answer_length: float,
    n_best: float,
    use_max_context: bool = DEFAULTS.use_max_context,
):
    settings = answer_settings(max_length, doc_stride, max_answer_length, n_best, use_max_context)
    name, engine, answer = run_model(question, context, model, settings)
    scores = figures.scores_figure(answer.trace)
    return (
        figures.highlight_segments(answer),
        summary(answer, name, engine.int8),
        figures.nbest_table(answer),
        scores,
        scores,
        answer,
        name,
    )


def answer_api(question: str, context: str, model: str = "") -> dict:
    """Answer a question from a paragraph. Returns {answer, start, end, score, probability, model};
    ``context[start:end] == answer``. ``model`` is a name from the model picker (blank: the default)."""
    name, _, answer = run_model(question, context, model, DEFAULTS)
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
    return [
        (
            f"Window {w.window.index + 1}: paragraph tokens {w.window.doc_start}–{w.window.doc_end - 1}"
            + (" (answer)" if w.window.index == trace.winning_window else ""),
            w.window.index,
        )
        for w in trace.windows
    ]


def show_trace(answer: Answer):
    trace = answer.trace
    window = trace.winning_window or 0
    return (
        f"Drawn from the last question: **{trace.question}** ({len(trace.windows)} window(s)).",
        gr.Dropdown(choices=window_choices(answer), value=window),
        figures.token_table(trace, window),
        figures.windows_figure(
            [w.window for w in trace.windows],
            trace.paragraph_tokens,
            figures.answer_doc_tokens(trace),
            trace.winning_window,
        ),
        figures.span_matrix_figure(trace),
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
):
    """Redraw the windows for new max_length / doc_stride with the tokenizer alone: no model run."""
    try:
        name, engine = load_engine(model)
        settings = AnswerSettings(max_length=int(max_length), doc_stride=int(doc_stride))
        windows = engine.preview_windows(question, context, settings)
    except (ValueError, OSError) as error:
        return gr.skip(), f"⚠️ {error}"
    asked = (
        last is not None
        and last_model == name
        and (last.trace.question, last.trace.context) == (question, context)
    )
    figure = figures.windows_figure(
        windows, windows[-1].doc_end, figures.answer_doc_tokens(last.trace) if asked else None
    )
    note = (
        f"{len(windows)} window(s) of at most {int(max_length)} tokens over {windows[-1].doc_end} paragraph tokens; "
        f"neighbouring windows share {int(doc_stride)} tokens."
    )
    return figure, note


def refresh_models(current: str | None):
    names = model_names()
    return gr.Dropdown(choices=names, value=current if current in names else default_model())


def progress_text(status: finetune.JobStatus) -> str:
    """The job's own line for people (step, time left, EM/F1 at the end) under a headline of its state."""
    head = {
        "idle": "",
        "running": f"**Running** for {finetune.format_duration(status.elapsed_s)}",
        "finished": f"**Finished** in {finetune.format_duration(status.elapsed_s)}: choose `{status.checkpoint}` in the Ask tab's "
        "model picker",
        "cancelled": "**Cancelled**",
        "failed": "**Failed**",
    }[status.state]
    return "\n\n".join(line for line in (head, status.message) if line)


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
    placement: str,
    schedule: str,
):
    try:
        status = jobs.start(
            finetune.FineTuneRequest(
                name=(name or "").strip(),
                base=base,
                data_file=data_file or str(finetune.SAMPLE_DATA),
                max_steps=int(max_steps),
                epochs=float(epochs),
                learning_rate=float(learning_rate),
                batch_size=int(batch_size),
                max_length=int(max_length),
                doc_stride=int(doc_stride),
                placement=placement,
                schedule=schedule,
            )
        )
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return progress_text(status), gr.Timer(active=True)


def cancel_training() -> str:
    return progress_text(jobs.cancel())


def poll_training(model: str | None):
    """One look at the background job; the timer stops itself once the job is over."""
    status = jobs.status()
    picker = refresh_models(model) if status.state == "finished" else gr.skip()
    return (
        progress_text(status),
        figures.loss_figure(status.losses),
        gr.Timer(active=status.state == "running"),
        picker,
    )


with gr.Blocks(title="BERT QA Explorer") as demo:
    gr.Markdown(
        "# BERT QA Explorer\n"
        "Paste a paragraph (Chinese or English), ask a question, and get the answer as a span of the paragraph. "
        "The **Inside the model** tab shows how BERT got there; **Fine-tune** trains your own model."
    )
    last_answer = gr.State(None, time_to_live=SESSION_TTL_S)
    last_model = gr.State(None, time_to_live=SESSION_TTL_S)

    with gr.Tab("Ask", id="ask"):
        with gr.Row():
            with gr.Column(scale=3):
                context_box = gr.Textbox(label="Paragraph", lines=10, max_lines=30, elem_id="paragraph")
                question_box = gr.Textbox(label="Question", lines=1, elem_id="question")
            with gr.Column(scale=1):
                model_picker = gr.Dropdown(
                    model_names(), value=default_model(), label="Model", elem_id="model"
                )
                refresh_button = gr.Button("Refresh the model list", size="sm")
                with gr.Accordion("Advanced settings", open=False):
                    max_length = gr.Slider(
                        32, 512, DEFAULTS.max_length, step=16, label="Max length (tokens per window)"
                    )
                    doc_stride = gr.Slider(
                        0, 256, DEFAULTS.doc_stride, step=8, label="Doc stride (tokens windows share)"
                    )
                    max_answer_length = gr.Slider(
                        1, 100, DEFAULTS.max_answer_length, step=1, label="Max answer length (tokens)"
                    )
                    n_best = gr.Slider(1, 20, DEFAULTS.n_best, step=1, label="N-best (answers listed)")
                    use_max_context = gr.Checkbox(
                        DEFAULTS.use_max_context,
                        label="Max-context rule",
                        info="A token two windows share may start the answer only in the window that gives it "
                        "more surrounding text (BERT's run_squad). Untick to let every window propose it.",
                    )
                ask_button = gr.Button("Ask", variant="primary", elem_id="ask-button")
        gr.Examples(
            [[e["context"], e["question"]] for e in EXAMPLES],
            inputs=[context_box, question_box],
            example_labels=[e["label"] for e in EXAMPLES],
        )
        highlighted = gr.HighlightedText(
            label="Answer in the paragraph", color_map=HIGHLIGHT_COLOURS, elem_id="highlighted"
        )
        answer_summary = gr.Markdown(elem_id="answer-summary")
        ask_scores_plot = gr.Plot(label="Start and end scores of every paragraph token", elem_id="ask-scores")
        nbest = gr.Dataframe(label="The n best answers", interactive=False, elem_id="nbest")
        with gr.Accordion("How is the answer chosen?", open=False):
            gr.Markdown(figures.EXPLANATIONS["answer"])
            gr.Markdown(figures.EXPLANATIONS["n_best"])

    with gr.Tab("Inside the model", id="inside") as inside_tab:
        trace_note = gr.Markdown(
            "Ask a question on the **Ask** tab first: everything here is drawn from its answer.",
            elem_id="trace-note",
        )
        gr.Markdown("## 1. What BERT reads: tokens and their ids")
        for key in ("input_ids", "token_type_ids", "attention_mask", "special_tokens"):
            gr.Markdown(figures.EXPLANATIONS[key])
        window_picker = gr.Dropdown(label="Window", choices=[], elem_id="window-picker")
        token_table = gr.Dataframe(interactive=False, label="Tokens of the window", elem_id="token-table")
        gr.Markdown("## 2. Long paragraphs are read in overlapping windows")
        gr.Markdown(figures.EXPLANATIONS["windows"])
        windows_plot = gr.Plot(label="Windows over the paragraph tokens", elem_id="windows-plot")
        gr.Markdown("## 3. Start and end scores")
        gr.Markdown(figures.EXPLANATIONS["scores"])
        scores_plot = gr.Plot(label="Start and end scores", elem_id="scores-plot")
        gr.Markdown("## 4. From scores to a span")
        gr.Markdown(figures.EXPLANATIONS["span_matrix"])
        matrix_plot = gr.Plot(label="Span scores of the winning window", elem_id="matrix-plot")
        gr.Markdown(
            "## Windowing playground\n"
            "Move the sliders to see how the paragraph on the Ask tab is cut into windows. "
            "Only the tokenizer runs, so the picture changes at once."
        )
        with gr.Row():
            playground_length = gr.Slider(
                32, 512, DEFAULTS.max_length, step=16, label="Max length", elem_id="playground-length"
            )
            playground_stride = gr.Slider(
                0, 256, DEFAULTS.doc_stride, step=8, label="Doc stride", elem_id="playground-stride"
            )
        playground_note = gr.Markdown(elem_id="playground-note")
        playground_plot = gr.Plot(label="Windows", elem_id="playground-plot")

    training = finetune.training_allowed()
    with gr.Tab("Fine-tune", id="fine-tune"):
        gr.Markdown(
            "Fine-tune a model on your own questions (SQuAD JSON or the homework's JSON, up to "
            f"{finetune.MAX_UPLOAD_BYTES // 1_000_000} MB) or on the sample set. A part of the questions is held "
            "out and scored at the end; the new model joins the Ask tab's model picker."
            if training
            else "**Training is turned off on this server.** Run the app on your own machine to fine-tune models."
        )
        with gr.Row():
            with gr.Column():
                train_base = gr.Dropdown(
                    list(finetune.BASES),
                    value=next(iter(finetune.BASES)),
                    label="Start from",
                    interactive=training,
                )
                train_file = gr.File(
                    label="Training data (leave empty to use the sample set)",
                    file_types=[".json", ".gz"],
                    interactive=training,
                )
                train_name = gr.Textbox(
                    label="Name of the new model", placeholder="my-model", interactive=training
                )
            with gr.Column():
                with gr.Row():
                    train_steps = gr.Number(
                        TRAINING_DEFAULTS.max_steps,
                        label="Steps",
                        precision=0,
                        minimum=1,
                        interactive=training,
                    )
                    train_epochs = gr.Number(
                        TRAINING_DEFAULTS.epochs,
                        label="Epochs (0 = use steps)",
                        minimum=0,
                        interactive=training,
                    )
                    train_lr = gr.Number(
                        TRAINING_DEFAULTS.learning_rate, label="Learning rate", interactive=training
                    )
                train_batch = gr.Slider(
                    1, 32, TRAINING_DEFAULTS.batch_size, step=1, label="Batch size", interactive=training
                )
                train_length = gr.Slider(
                    64, 512, TRAINING_DEFAULTS.max_length, step=16, label="Max length", interactive=training
                )
                train_stride = gr.Slider(
                    0, 256, TRAINING_DEFAULTS.doc_stride, step=8, label="Doc stride", interactive=training
                )
                with gr.Row():
                    train_placement = gr.Radio(
                        ["random", "centre"],
                        value=TRAINING_DEFAULTS.placement,
                        label="Answer placement in training windows",
                        interactive=training,
                    )
                    train_schedule = gr.Radio(
                        ["linear", "constant"],
                        value=TRAINING_DEFAULTS.schedule,
                        label="Learning-rate schedule",
                        interactive=training,
                    )
        with gr.Row():
            start_button = gr.Button("Start", variant="primary", interactive=training)
            cancel_button = gr.Button("Cancel", variant="stop", interactive=training)
        training_status = gr.Markdown(elem_id="training-status")
        loss_plot = gr.Plot(label="Training loss")
        gr.Markdown(figures.EXPLANATIONS["loss"])
        training_timer = gr.Timer(POLL_SECONDS, active=False)

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
        [highlighted, answer_summary, nbest, ask_scores_plot, scores_plot, last_answer, last_model],
        api_name="ask",
        concurrency_id="model",
    ).success(
        show_trace,
        last_answer,
        [trace_note, window_picker, token_table, windows_plot, matrix_plot],
        api_visibility="private",
    )
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
            [playground_plot, playground_note],
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
        [training_status, training_timer],
        api_name="fine_tune",
    )
    cancel_button.click(cancel_training, None, training_status, api_name="cancel_fine_tune")
    training_timer.tick(
        poll_training,
        model_picker,
        [training_status, loss_plot, training_timer, model_picker],
        api_visibility="private",
        concurrency_limit=None,
        show_progress="hidden",
    )
    demo.load(refresh_models, model_picker, model_picker, api_visibility="private")
    demo.load(
        poll_training,
        model_picker,
        [training_status, loss_plot, training_timer, model_picker],
        api_visibility="private",
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if default_model():  # load the default model while the server starts, so the first answer is quick
        threading.Thread(target=load_engine, args=(None,), daemon=True).start()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        max_file_size=finetune.MAX_UPLOAD_BYTES, state_session_capacity=SESSIONS
    )
