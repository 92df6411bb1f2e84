"""The experiments' JSON file: written by the runner, read by the app into typed records (no torch here)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qa_core.explaining.lessons_records import ExperimentRun, Experiments, PositionBin, PostProcessingEffect
from qa_core.files import REPO_ROOT, write_text_atomically
from qa_core.models.curve import CurvePoint, RunScores

SHIPPED = REPO_ROOT / "assets" / "lessons.json"  # the reference results the app draws


def write(path: Path, experiments: Experiments) -> None:
    write_text_atomically(path, json.dumps(asdict(experiments), indent=1, ensure_ascii=False) + "\n")


def read(path: Path = SHIPPED) -> Experiments:
    """The experiments recorded at ``path``; a ValueError names what a damaged file lacks."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        post = data.get("post_processing")
        return Experiments(
            command=data["command"],
            machine=data["machine"],
            created=data["created"],
            recipe=data["recipe"],
            runs=tuple(run_from(r) for r in data["runs"]),
            post_processing=_post_processing(post) if post else None,
        )
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"{Path(path).name} is not an experiments file: {error} is missing or malformed"
        ) from None


def run_from(data: dict[str, Any]) -> ExperimentRun:
    return ExperimentRun(
        name=data["name"],
        about=data["about"],
        lessons=tuple(data["lessons"]),
        command=data["command"],
        seconds=data["seconds"],
        curve=tuple(
            CurvePoint(
                p["step"], p["windows_seen"], p["loss"], RunScores(**p["scores"]) if p["scores"] else None
            )
            for p in data["curve"]
        ),
        final=RunScores(**data["final"]),
        by_position=tuple(
            PositionBin(b["low"], b["high"], RunScores(**b["scores"])) for b in data["by_position"]
        ),
    )


def _post_processing(data: dict[str, Any]) -> PostProcessingEffect:
    return PostProcessingEffect(**{**data, "on": RunScores(**data["on"]), "off": RunScores(**data["off"])})
