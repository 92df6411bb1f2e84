"""The Lessons tab: the homework's lessons as measured runs (where the answer sits in a training window,
learning-rate decay, pre-training, post-processing) and learning curves compared side by side."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import gradio as gr

from qa_core.explaining import lessons, lessons_figures
from qa_core.explaining.lessons_records import ExperimentRun, Experiments, RunCurve
from qa_core.models import checkpoints
from qa_core.models.curve import FILE_NAME as CURVE_FILE
from qa_core.models.curve import curve_points
from qa_core.settings import bound_of, described, require_number
from qa_core.tooling.experiments import results as experiment_results
from qa_core.tooling.experiments.plan import REFERENCE
from qa_core.train import jobs as training
from qa_core.train.config import TrainConfig
from ui import confidence
from ui.page import NARROW_MIN_WIDTH, Page, load_engine, model_names, refuse, write_csv
from ui.words import in_page_language, key, text, worded

LESSON_WINDOW = 64  # tokens per training window in the Lessons view: most sample paragraphs are longer
TRAINING_LESSONS = ("placement", "schedule", "pretraining")
# run, what it changes, EM, F1, minutes, command: the headers stay whole and the command gets the most room
RUNS_TABLE_WIDTHS = ["11%", "24%", "7%", "7%", "10%", "41%"]  # the lessons a pair of training runs shows

log = logging.getLogger(__name__)


class PlacementView(NamedTuple):
    """What "where the answer sits in a training window" fills in."""

    windows: Any
    histogram: Any
    note: Any


class CompareView(NamedTuple):
    plot: Any
    csv: Any


def shipped_experiments() -> Experiments | None:
    """The reference experiments the Lessons tab draws; a missing or damaged file leaves that part empty."""
    try:
        return experiment_results.read()
    except (OSError, ValueError) as error:
        log.warning("no reference experiments to show: %s", error)
        return None


EXPERIMENTS = shipped_experiments()


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


def reference_tables() -> tuple[Any, Any]:
    """The post-processing effect and every reference run, with column names in the page's language."""
    return lessons_figures.post_processing_table(EXPERIMENTS.post_processing), lessons_figures.runs_table(EXPERIMENTS)


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
        name = run.name.replace("-", "_")
        numbers |= {f"{name}_em": run.final.exact_match, f"{name}_f1": run.final.f1}
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
    """Every learning curve there is to compare: the reference runs, then each model folder that kept one.

    Keyed by the English name the API takes, whichever language the page shows it in (``run_choices``).
    """
    curves = {
        key("lessons.reference_run", name=r.name).english(): RunCurve(r.name, r.curve)
        for r in (EXPERIMENTS.runs if EXPERIMENTS else ())
    }
    for name in model_names():
        points = curve_points(checkpoints.resolve(name)[1] / CURVE_FILE)
        if points:
            curves[name] = RunCurve(name, points, reference=False)
    return curves


def run_choices(curves: dict[str, RunCurve]) -> list[tuple[str, str]]:
    """The runs to compare, a reference run labelled in the page's language."""
    return [
        (text("lessons.reference_run", name=curve.name) if curve.reference else name, name)
        for name, curve in curves.items()
    ]


def refresh_runs(chosen: list[str] | None):
    curves = run_curves()
    return gr.CheckboxGroup(choices=run_choices(curves), value=[n for n in chosen or [] if n in curves])


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


def _placements(page: Page, model_picker: Any) -> None:
    """Where the answer sits in a training window: one question's draws and the whole file's histogram."""
    worded(gr.Markdown, value=key("lessons.windows_intro"))
    with gr.Row():
        with gr.Column(scale=2):
            data_file = worded(gr.File, label=key("lessons.file"), file_types=[".json", ".gz"])
        with gr.Column(scale=1, min_width=NARROW_MIN_WIDTH):
            number = worded(gr.Number, 1, label=key("lessons.question_number"), precision=0, minimum=1)
            length = _window_slider()
            draws = worded(gr.Slider, 1, lessons.MAX_DRAWS, 5, step=1, label=key("lessons.draws"))
            button = worded(
                gr.Button, value=key("lessons.windows_button"), variant="primary", elem_id="lessons-button"
            )
    view = PlacementView(
        note=gr.Markdown(elem_id="lessons-note"),
        windows=worded(gr.Plot, label=key("lessons.windows_plot"), elem_id="lessons-windows"),
        histogram=worded(gr.Plot, label=key("lessons.histogram_plot"), elem_id="lessons-histogram"),
    )
    button.click(
        in_page_language(lessons_windows),
        [data_file, number, model_picker, length, draws, page.language],
        list(view),
        api_name="lessons_windows",
        concurrency_id="model",
    )


def _window_slider() -> gr.Slider:
    """Training windows as long as training allows, starting short: most sample paragraphs are longer."""
    bound = bound_of(TrainConfig, "max_length")
    return worded(gr.Slider, bound.low, bound.high, LESSON_WINDOW, step=bound.step, label=key("lessons.max_length"))


def _reference_runs(page: Page) -> None:
    """The shipped reference experiments, lesson by lesson; their plots are redrawn after a language switch."""
    if EXPERIMENTS is None:
        worded(gr.Markdown, value=key("lessons.missing"))
        return
    worded(
        gr.Markdown,
        value=key("lessons.experiments_intro", machine=EXPERIMENTS.machine, command=EXPERIMENTS.command),
    )
    drawn, plots = iter(reference_figures()), []
    for lesson in TRAINING_LESSONS:
        worded(gr.Markdown, value=key(f"lessons.{lesson}", **lesson_numbers(EXPERIMENTS.runs_of(lesson))))
        with gr.Row():
            plots += [
                worded(gr.Plot, next(drawn), label=key("lessons.curves_of_runs")),
                worded(gr.Plot, next(drawn), label=key("lessons.final_scores_of_runs")),
            ]
        if lesson == "placement":
            plots.append(worded(gr.Plot, next(drawn), label=key("lessons.answer_positions"), elem_id="lessons-position"))
    worded(gr.Markdown, value=key("lessons.post_processing", **post_processing_numbers(EXPERIMENTS)))
    post_processing, runs = reference_tables()
    tables = [
        gr.Dataframe(post_processing, interactive=False, wrap=True),
        worded(
            gr.Dataframe,
            runs,
            label=key("lessons.runs_table"),
            wrap=True,
            column_widths=RUNS_TABLE_WIDTHS,
        ),
    ]
    page.after_switch += [(reference_figures, [], plots), (reference_tables, [], tables)]


def _compare(page: Page) -> Any:
    """Learning curves side by side: the reference runs and every model folder that kept its curve."""
    worded(gr.Markdown, value=key("lessons.compare_intro"))
    comparable = run_choices(run_curves())  # reads every model folder's curve: once, not per argument
    with gr.Row():
        chosen = worded(
            gr.CheckboxGroup,
            comparable,
            value=[name for _, name in comparable[:2]],
            label=key("lessons.compare_runs"),
        )
        with gr.Column(scale=0, min_width=NARROW_MIN_WIDTH):
            button = worded(
                gr.Button, value=key("lessons.compare_button"), variant="primary", elem_id="compare-button"
            )
            refresh = worded(gr.Button, value=key("lessons.compare_refresh"), size="sm")
    view = CompareView(
        plot=worded(gr.Plot, label=key("lessons.curves_plot"), elem_id="compare-plot"),
        csv=worded(gr.DownloadButton, label=key("lessons.compare_csv"), size="sm"),
    )
    button.click(in_page_language(compare_runs), [chosen, page.language], list(view), api_name="compare_runs")
    refresh.click(in_page_language(refresh_runs), [chosen, page.language], chosen, api_visibility="private")
    page.after_switch.append((refresh_runs, [chosen], [chosen]))
    return chosen


def render(page: Page, model_picker: Any) -> Any:
    """Declare the Lessons tab; returns its run list, which a finished fine-tuning job's curves join."""
    with worded(gr.Tab, label=key("tab.lessons"), id="lessons"):
        worded(gr.Markdown, value=key("lessons.intro"))
        _placements(page, model_picker)
        _reference_runs(page)
        runs = _compare(page)
        confidence.render(page, model_picker)
        return runs
