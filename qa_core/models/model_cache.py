"""Models kept warm in a server: loaded once, the least recently used dropped, reloaded when retrained.

Each multilingual model holds a few hundred MB, so a server keeps only a few. A user's checkpoint
fine-tuned again under the same name replaces its folder, so the weights file's modification time
and size are part of what makes a kept model current.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Model = TypeVar("Model")
WEIGHTS = "model.safetensors"


class ModelCache(Generic[Model]):
    """At most ``capacity`` loaded models by folder; safe to call from several request threads."""

    def __init__(self, load: Callable[[Path], Model], capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 model, got {capacity}.")
        self._load, self._capacity = load, capacity
        self._models: OrderedDict[Path, tuple[tuple[int, int], Model]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, folder: Path) -> Model:
        """The model of ``folder``, loaded now if it is not kept or its weights changed since."""
        version = weights_version(folder)
        with self._lock:
            kept = self._models.get(folder)
            if kept is not None and kept[0] == version:
                self._models.move_to_end(folder)  # most recently used last
                return kept[1]
            self._models.pop(folder, None)
            while len(self._models) >= self._capacity:
                dropped, _ = self._models.popitem(last=False)
                log.info("dropping %s, the least recently used model", dropped.name)
            log.info("loading %s", folder.name)
            model = self._load(folder)
            self._models[folder] = (version, model)
            return model

    def kept(self) -> list[Path]:
        """The folders of the kept models, least recently used first."""
        with self._lock:
            return list(self._models)


def weights_version(folder: Path) -> tuple[int, int] | None:
    """What changes when a folder's weights are rewritten: modification time and size of the weights file.

    None for a model that is not a local folder (a hub id), whose weights do not change under a name.
    """
    try:
        stat = (folder / WEIGHTS).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
