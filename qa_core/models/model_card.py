"""The model card (README.md) written beside every trained checkpoint.

It is rebuilt from files in the model folder (training_config.json, learning_curve.jsonl,
eval_results.json), so figures in the card always come from a recorded measurement.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
from collections import Counter
from pathlib import Path

from qa_core.flags import dashed
from qa_core.models.checkpoints import NULL_THRESHOLD_KEY
from qa_core.models.curve import FILE_NAME as CURVE_FILE

DATA_LICENCES = {
    "train-v1.1": "SQuAD v1.1, CC BY-SA 4.0 (Rajpurkar et al., 2016)",
    "DRCD": "DRCD, CC BY-SA 3.0 (Delta Electronics)",
    "cmrc2018": "CMRC 2018, CC BY-SA 4.0",
    "hw7": "ML course HW7 files, derived from DRCD (CC BY-SA 3.0)",
}
COMMAND = "python -m qa_core.train"  # shipped model cards record runs as this command
NOTES = "model_card_notes.md"  # hand-written observations, kept across re-renders
LIMITED_MARK = " (first "  # how eval_results.json names a measurement on a file's first questions only
BASE_LICENCES = {
    "e5": "intfloat/multilingual-e5-small (MIT)",
    "minilm": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)",
}


def machine() -> str:
    """A one-line description of the hardware the run used."""
    import torch  # here, not at the top: a CLI's --help answers without loading torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPU cores"
    return f"CPU only: {os.cpu_count()} cores ({platform.machine()}), torch threads {torch.get_num_threads()}"


def write_model_card(
    folder: Path,
    *,
    name: str,
    config: dict,
    defaults: dict,
    steps: int,
    seconds: float,
    final_eval=None,
    unanswerable: dict[str, int] | None = None,
) -> None:
    """Record how the model was made, then render the card titled ``name`` (``folder`` may be a temporary one).

    ``unanswerable`` counts the run's questions without their answer: negatives made, by kind, and the
    training files' own impossible questions ("impossible"); recorded only when there are any.
    """
    run = {
        "command": train_command(config, defaults),
        "steps": steps,
        "seconds": round(seconds),
        "machine": machine(),
    }
    if unanswerable and any(unanswerable.values()):
        run["unanswerable"] = unanswerable
    if final_eval is not None:
        run["eval_slice"] = {"file": config.get("eval"), **final_eval.__dict__}
    history = _read_json(folder / "training_runs.json", [])
    (folder / "training_runs.json").write_text(json.dumps([*history, run], indent=2) + "\n", encoding="utf-8")
    render(folder, name)


def train_command(config: dict, defaults: dict) -> str:
    """The command line that reproduces a run: every option that differs from its default.

    Rebuilt from the resolved config rather than taken from sys.argv, so a run started from the
    app records a command that can really be typed.
    """
    parts: list[str] = []
    for key, value in config.items():
        if key in defaults and value == defaults[key]:
            continue
        if value is True:  # a switch that is off by default, such as --bf16
            parts.append(dashed(f"--{key}"))
            continue
        values = value if isinstance(value, list) else [value]
        parts += [dashed(f"--{key}"), *(str(v) for v in values)]
    return f"{COMMAND} {shlex.join(parts)}"


def _repeats(n: int) -> str:
    """A file listed n times in --train is read n times per epoch: the way to give a small data set more weight."""
    return f", listed {n} times: read {n} times per epoch" if n > 1 else ""


def render(folder: Path, name: str | None = None) -> None:
    """Rewrite README.md from the JSON records in ``folder``, titled ``name`` (default: the folder's name)."""
    config = _read_json(folder / "training_config.json", {})
    runs = _read_json(folder / "training_runs.json", [])
    evaluations = _read_json(folder / "eval_results.json", {})
    curve = [json.loads(line) for line in _lines(folder / CURVE_FILE)]
    threshold = _read_json(folder / "config.json", {}).get(NULL_THRESHOLD_KEY)
    notes = (folder / NOTES).read_text(encoding="utf-8").strip() if (folder / NOTES).is_file() else ""
    text = "\n".join(
        [
            f"# {name or folder.name}",
            "",
            "An extractive question-answering model: given a question and a paragraph, it scores every token as",
            "the answer's start and end. Load it with `AutoModelForQuestionAnswering.from_pretrained` and",
            "`AutoTokenizer.from_pretrained`, or ask it in this project's app.",
            "",
            *_made_from(config, runs),
            "## Training runs",
            *[_run_lines(i, r) for i, r in enumerate(runs, 1)],
            "",
            "## Evaluation (`python -m qa_core.data.evaluate`, whole files unless a limit is given)",
            "| file | questions | EM | F1 | strict accuracy | seconds |",
            "|---|---|---|---|---|---|",
            *[
                f"| {_file_cell(file)} | {r['n']} | {r['exact_match']:.1f} | {r['f1']:.1f} | {r['accuracy']:.3f} | {r['seconds']:.0f} |"
                for file, r in evaluations.items()
            ],
            "",
            *_no_answer_lines(threshold, evaluations),
            "## Learning curve (EM/F1 on the first questions of the evaluation file during training)",
            "| step | windows seen | loss | EM | F1 |",
            "|---|---|---|---|---|",
            *[
                f"| {p['step']} | {p['windows_seen']} | {_num(p.get('loss'))} | {p['exact_match']:.1f} | {p['f1']:.1f} |"
                for p in curve
            ],
            "",
            *(["## Notes", notes, ""] if notes else []),
            "## Settings",
            "```json",
            json.dumps(config, indent=2, ensure_ascii=False),
            "```",
            "",
        ]
    )
    (folder / "README.md").write_text(text, encoding="utf-8")


def _no_answer_lines(threshold: float | None, evaluations: dict[str, dict]) -> list[str]:
    """How the checkpoint says "not in the paragraph", what that costs answerable questions, and the trade-off.

    Nothing for a checkpoint that always answers and was never measured on unanswerable questions.
    """
    measured = {file: r for file, r in evaluations.items() if "best_spans" in r or "no_ans" in r}
    if threshold is None and not measured:
        return []
    rule = (
        "It always answers with its best span (no `qa_null_threshold` in config.json)."
        if threshold is None
        else f'It answers "not in the paragraph" when a question\'s null score (first token, start + end, '
        f"lowest over windows) beats its best span's score by more than `{NULL_THRESHOLD_KEY}` = "
        f"{threshold:.3f} (config.json)."
    )
    lines = ["## Questions without an answer", rule, ""]
    if measured:
        lines += [
            "| file | unanswerable questions caught | answerable F1 | answerable F1 had every question been answered |",
            "|---|---|---|---|",
            *[_no_answer_row(file, r) for file, r in measured.items()],
            "",
        ]
    for file, r in evaluations.items():
        if r.get("trade_off"):
            lines += [
                f"Trade-off of the threshold on {_file_cell(file)} (answerable F1 against unanswerable questions caught):",
                "",
                "| null threshold | unanswerable questions caught | answerable F1 |",
                "|---|---|---|",
                *[
                    f"| {p['threshold']:.3f} | {100 * p['no_ans_accuracy']:.1f}% | {p['has_ans_f1']:.1f} |"
                    for p in r["trade_off"]
                ],
                "",
            ]
    return lines


def _no_answer_row(file: str, result: dict) -> str:
    """One file's cost of abstaining: a v1.1 file's questions all have an answer, so its overall F1 is theirs."""
    caught = f"{100 * result['no_ans']['accuracy']:.1f}%" if result.get("no_ans") else "(none in the file)"
    answerable = (result.get("has_ans") or result)["f1"]
    every = result.get("best_spans", {}).get("f1", answerable)
    return f"| {_file_cell(file)} | {caught} | {answerable:.1f} | {every:.1f} |"


def evaluation_key(data_file: str, limit: int) -> str:
    """The name a measurement has in eval_results.json: the file's name, and how many questions if not all."""
    return Path(data_file).name + (f"{LIMITED_MARK}{limit})" if limit else "")


def _file_cell(key: str) -> str:
    """The file's name as code and the limit as words: "`dev.json` (first 2000)"."""
    name, limited, rest = key.partition(LIMITED_MARK)
    return f"`{name}`" + (limited + rest if limited else "")


def _made_from(config: dict, runs: list[dict]) -> list[str]:
    """The base and the training data, with their licences: the model inherits the data's share-alike terms."""
    architecture_only = (
        " (its architecture only: trained from random weights)" if config.get("init") == "random" else ""
    )
    return [
        "## Made from",
        f"- Base encoder: `{config.get('base', '?')}` ({_licence(config.get('base', ''), BASE_LICENCES)})"
        + architecture_only,
        *[
            f"- Training data: `{Path(f).name}` ({_licence(f, DATA_LICENCES)}){_repeats(n)}"
            for f, n in Counter(config.get("train", [])).items()
        ],
        *[_unanswerable_line(i, r["unanswerable"]) for i, r in enumerate(runs, 1) if "unanswerable" in r],
        "- The training data is share-alike licensed; so is this model's use of it.",
        "",
    ]


def _unanswerable_line(i: int, counts: dict[str, int]) -> str:
    """How many questions of training run ``i`` had no answer in their paragraph, and where they came from."""
    made = ", ".join(f"{n} {kind}" for kind, n in counts.items() if kind != "impossible")
    return (
        f"- Questions without their answer (labelled at the first token), run {i}: negatives made from the "
        f"training data: {made or 'none'}; impossible questions of the files: {counts.get('impossible', 0)}."
    )


def _run_lines(i: int, run: dict) -> str:
    minutes = run["seconds"] / 60
    return f"{i}. `{run['command']}`: {run['steps']} steps in {minutes:.0f} min on {run['machine']}."


def _licence(name: str, table: dict[str, str]) -> str:
    return next((licence for key, licence in table.items() if key.lower() in name.lower()), "see its source")


def _num(value) -> str:
    return "" if value is None else f"{value:.3f}"


def _read_json(path: Path, default):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []
