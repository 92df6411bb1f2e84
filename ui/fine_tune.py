"""The Fine-tune tab: fine-tune a model in the browser on an uploaded SQuAD/DRCD file (or the sample set),
one run or two that compare where the answer is placed in a training window, with progress and a loss curve.

Jobs run in a process of their own (``qa_core.train.jobs``): this part only starts, polls and cancels
them, so the page never imports the training loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import gradio as gr

from qa_core.explaining import lessons_figures
from qa_core.models import checkpoints
from qa_core.settings import Placement, Schedule, bound_of, choices, default_of
from qa_core.tooling.base_models.build import base_states
from qa_core.train import jobs as training
from qa_core.train.config import TrainConfig
from ui.lessons import refresh_runs
from ui.page import Page, refresh_models, refuse, slider
from ui.words import Choices, in_page_language, key, setting_choices, text, worded

POLL_SECONDS = 1.0
ABLATION_MEASUREMENTS = 4  # held-out scores during each run of a placement comparison: its learning curve
jobs = training.FineTuneJobs()


class TrainingView(NamedTuple):
    status: Any
    loss_plot: Any
    timer: Any
    model_picker: Any
    compare: Any  # the Lessons tab's run list, which a finished job's curves join


def base_choices() -> Choices:
    """The bases a job can start from, labelled in the page's language; the value is the name the API takes."""
    shipped = {str(checkpoints.ROOT / name): name for name in checkpoints.SHIPPED}
    return Choices(
        tuple(
            (key("train.base_shipped", name=shipped[path]) if path in shipped else key("train.base_encoder", name=path), name)
            for name, path in training.BASES.items()
        )
    )


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
        loss_plot=lessons_figures.loss_figure(status.losses),
        timer=gr.Timer(active=status.state in ("running", "cancelling")),
        model_picker=refresh_models(model) if finished else gr.skip(),
        compare=refresh_runs([*(compared or []), *status.finished]) if finished else gr.skip(),
    )




def _form(allowed: bool) -> dict[str, Any]:
    """The job's settings, named as the TrainConfig fields they set (and the base, data and name)."""
    form: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            bases = base_choices()
            form["base"] = worded(
                gr.Dropdown, choices=bases, value=bases.labelled[0][1], label=key("train.base"), interactive=allowed
            )
            form["notes"] = gr.Markdown(base_notes(), visible=allowed, elem_id="base-notes")
            form["data_file"] = worded(
                gr.File, label=key("train.file"), file_types=[".json", ".gz"], interactive=allowed
            )
            form["name"] = worded(gr.Textbox, label=key("train.name"), placeholder="my-model", interactive=allowed)
        with gr.Column():
            with gr.Row():
                form["max_steps"] = worded(
                    gr.Number,
                    default_of(TrainConfig, "max_steps"),
                    label=key("train.steps"),
                    precision=0,
                    minimum=0,  # 0: train for the epochs (saved configs may also say -1)
                    interactive=allowed,
                )
                form["epochs"] = worded(
                    gr.Number,
                    default_of(TrainConfig, "epochs"),
                    label=key("train.epochs"),
                    minimum=bound_of(TrainConfig, "epochs").low,
                    interactive=allowed,
                )
                form["learning_rate"] = worded(
                    gr.Number, default_of(TrainConfig, "learning_rate"), label=key("train.learning_rate"), interactive=allowed
                )
            for name in ("batch_size", "max_length", "doc_stride"):
                form[name] = slider(TrainConfig, name, key(f"train.{name}"), interactive=allowed)
            with gr.Row():
                for name, kind in (("placement", Placement), ("schedule", Schedule)):
                    form[name] = worded(
                        gr.Radio,
                        choices=setting_choices(choices(kind)),
                        value=default_of(TrainConfig, name),
                        label=key(f"train.{name}"),
                        interactive=allowed,
                    )
    return form


def _polled(page: Page, view: TrainingView, notes: Any) -> None:
    """The job's state on load, on every tick while it runs, and after a language switch."""
    inputs = [view.model_picker, view.compare]
    for trigger, options in ((view.timer.tick, {"concurrency_limit": None}), (page.blocks.load, {})):
        trigger(
            in_page_language(poll_training),
            [*inputs, page.language],
            list(view),
            api_visibility="private",
            show_progress="hidden",
            **options,
        )
    # a job may have built a base encoder since the page loaded
    page.blocks.load(in_page_language(base_notes), page.language, notes, api_visibility="private")
    page.after_switch += [(base_notes, [], [notes]), (poll_training, inputs, list(view))]


def render(page: Page, model_picker: Any, compare: Any) -> None:
    """Declare the Fine-tune tab; a finished job joins the model picker and the Lessons tab's run list."""
    allowed = training.training_allowed()
    with worded(gr.Tab, label=key("tab.fine_tune"), id="fine-tune"):
        megabytes = training.MAX_UPLOAD_BYTES // 1_000_000
        worded(gr.Markdown, value=key("train.intro", megabytes=megabytes) if allowed else key("train.off"))
        form = _form(allowed)
        with gr.Row():
            start = worded(gr.Button, value=key("train.start"), variant="primary", interactive=allowed)
            compare_button = worded(gr.Button, value=key("train.compare_placements"), interactive=allowed)
            cancel = worded(gr.Button, value=key("train.cancel"), variant="stop", interactive=allowed)
        worded(gr.Markdown, value=key("train.compare_placements_info", measurements=ABLATION_MEASUREMENTS))
        view = TrainingView(
            status=gr.Markdown(elem_id="training-status"),
            loss_plot=worded(gr.Plot, label=key("train.loss_plot")),
            timer=gr.Timer(POLL_SECONDS, active=False),
            model_picker=model_picker,
            compare=compare,
        )
        worded(gr.Markdown, value=key("explain.loss"))
    fields = ["name", "base", "data_file", "max_steps", "epochs", "learning_rate", "batch_size", "max_length"]
    fields += ["doc_stride", "placement", "schedule"]
    started = [view.status, view.timer]
    start.click(
        in_page_language(start_training),
        [*(form[f] for f in fields), page.language],
        started,
        api_name="fine_tune",
    )
    compared = [f for f in fields if f not in ("epochs", "placement")]
    compare_button.click(
        in_page_language(compare_placements),
        [*(form[f] for f in compared), page.language],
        started,
        api_name="compare_placements",
    )
    cancel.click(in_page_language(cancel_training), page.language, view.status, api_name="cancel_fine_tune")
    _polled(page, view, form["notes"])
