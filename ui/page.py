"""What the page's parts share: the server's policy, the session's last answer, the loaded models.

Each tab is a module of its own (``ui.ask``, ``ui.inside``, ...) that declares its components and wires
its events beside them; what one tab needs from another (the last answer, the model picker) passes
through a ``Page`` or the part that declared it, never through a global found by name.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from qa_core.answering.engine import QAEngine
from qa_core.files import REPO_ROOT, write_text_atomically
from qa_core.models import checkpoints, int8
from qa_core.models.model_cache import ModelCache
from qa_core.settings import ContextSettings, RequestLimits, bound_of, default_of
from ui.words import DEFAULT_LANGUAGE, Key, in_page_language, text, worded
from ui.zerogpu import gpu

ASSETS = REPO_ROOT / "assets"
LIMITS = RequestLimits(max_chars=20_000, max_windows=64)  # ~ 20k characters of Chinese at the defaults
MAX_LOADED_MODELS = 3  # each multilingual model holds a few hundred MB; the least recently used is dropped
QUEUE_SIZE = int(os.environ.get("QA_QUEUE_SIZE", "32"))  # more waiting are turned away, not kept in memory
# integrated gradients plans no more steps than fit in this many seconds (0: every step asked for), so one
# 64-step request on a slow CPU cannot hold one of the CONCURRENCY model slots for two minutes
EXPLAIN_SECONDS = float(os.environ.get("QA_EXPLAIN_SECONDS", "30")) or None
CONCURRENCY = 2  # model runs at once (CPU bound: more would only share the same cores)
SESSIONS = 200  # browser sessions whose last answer (with its trace, about 1-2 MB) is kept in memory
SESSION_TTL_S = 3600
DELETE_CACHE = (3600, 3600)  # Gradio's copies of the CSV downloads: checked hourly, dropped after an hour
CSV_DIR = Path(tempfile.gettempdir()) / "qa-explorer-csv"  # the numbers behind the views, for download
NARROW_MIN_WIDTH = 260  # px: controls side by side in a row stack on a phone instead of squeezing

log = logging.getLogger(__name__)
models: ModelCache[QAEngine] = ModelCache(
    lambda folder: QAEngine.load(folder, int8=int8.requested()), MAX_LOADED_MODELS
)


@dataclass
class Page:
    """The state every part reads: the page's language and the session's last answer and model."""

    blocks: Any  # the page itself, for the events it fires on load
    language: Any = field(default_factory=lambda: gr.State(DEFAULT_LANGUAGE))
    last_answer: Any = field(default_factory=lambda: gr.State(None, time_to_live=SESSION_TTL_S))
    last_model: Any = field(default_factory=lambda: gr.State(None, time_to_live=SESSION_TTL_S))
    # redrawn in the new language after a switch: (callback, inputs without the language, outputs)
    after_switch: list[tuple[Callable, list, list]] = field(default_factory=list)


def model_names() -> list[str]:
    return list(checkpoints.available())


def model_choices() -> list[tuple[str, str]]:
    """The model picker's choices: a shipped model marked as such in the page's language; the value is
    the name the API takes."""
    return [
        (text("ask.model_shipped", name=name) if name in checkpoints.SHIPPED else name, name)
        for name in model_names()
    ]


def default_model() -> str | None:
    names = model_names()
    return checkpoints.DEFAULT_NAME if checkpoints.DEFAULT_NAME in names else next(iter(names), None)


def layer_slider(label: Key, elem_id: str) -> gr.Slider:
    """A layer slider (0 = the embeddings) spanning the default model's layers, read from its config.json
    without loading it, so the slider does not offer 48 layers until the first view is computed."""
    bound = bound_of(ContextSettings, "layer")
    name = default_model()
    config = checkpoints.resolve(name)[1] / "config.json" if name else None
    layers = json.loads(config.read_text(encoding="utf-8")).get("num_hidden_layers") if config else None
    default = default_of(ContextSettings, "layer")
    return worded(gr.Slider, bound.low, layers or bound.high, default, step=bound.step, label=label, elem_id=elem_id)


def load_engine(name: str | None) -> tuple[str, QAEngine]:
    """The engine for a model picker name (blank = the default), loaded once and kept warm."""
    name, folder = checkpoints.resolve(name)
    return name, models.get(folder)


def refresh_models(current: str | None):
    names = model_names()
    return gr.Dropdown(choices=model_choices(), value=current if current in names else default_model())


def refuse(error: Exception) -> gr.Error:
    """The message for the person; for the server log one line, since input someone can fix needs no traceback."""
    log.info("refused a request: %s", error)
    return gr.Error(str(error), print_exception=False)


def model_run(callback: Callable) -> Callable:
    """A callback that runs a model, in the page's language; on a ZeroGPU Space it holds the lent GPU meanwhile.

    The language is set inside the wrapped call, since ZeroGPU may run it in another process.
    """
    return gpu(in_page_language(callback))


def within(value: float, low: int, high: int) -> int:
    """A slider's value as a whole number inside the current model's range (another model may have fewer layers)."""
    return min(max(int(value), low), high)


def slider(record: type, name: str, label: Key, **options: Any) -> gr.Slider:
    """A slider whose range, step and starting value are the setting's own."""
    bound = bound_of(record, name)
    default = default_of(record, name)
    return worded(gr.Slider, bound.low, bound.high, default, step=bound.step, label=label, **options)


def write_csv(view: str, key: str, table) -> str:
    """The numbers of one view as a CSV file, named after the view and the result (``key``) it belongs to.

    One folder for every server on the machine, files older than Gradio's own copies are dropped on each
    write: a server that is killed leaves nothing that grows, and a name is a result, so sharing is safe.
    """
    CSV_DIR.mkdir(parents=True, exist_ok=True)
    stale = time.time() - DELETE_CACHE[1]
    for old in CSV_DIR.glob("*.csv"):
        if old.stat().st_mtime < stale:
            old.unlink(missing_ok=True)
    path = CSV_DIR / f"{view}-{key}.csv"
    # with a byte-order mark, spreadsheet programs read the Chinese as UTF-8
    write_text_atomically(path, "\ufeff" + table.to_csv(index=False))
    return str(path)


@functools.cache
def asset(name: str) -> Any:
    """One of the page's JSON assets (examples written by the team), read once however many parts use it."""
    return json.loads((ASSETS / name).read_text(encoding="utf-8"))


def computed_view(page: Page, button: Any, compute: Callable, inputs: list, view: tuple) -> None:
    """``button`` runs ``compute`` (a model run) and fills ``view``; its endpoint is named after ``compute``."""
    button.click(
        model_run(compute),
        [*inputs, page.language],
        list(view),
        api_name=compute.__name__,
        concurrency_id="model",
        preprocess=False,  # each such callback checks every value: an API client may send anything
    )


def layer_redraws(layer: Any, redraw: Callable, kept: Any, outputs: Any) -> None:
    """Moving ``layer`` redraws from the ``kept`` record: cheap enough for every step of a drag."""
    layer.change(
        redraw,
        [kept, layer],
        outputs,
        api_visibility="private",
        show_progress="hidden",
        trigger_mode="always_last",
    )
