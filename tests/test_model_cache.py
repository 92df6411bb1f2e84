"""The server's model cache: least recently used dropped first, a retrained model reloaded, loads counted."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from qa_core.models.model_cache import WEIGHTS, ModelCache


def _folders(tmp_path: Path, *names: str) -> list[Path]:
    folders = []
    for name in names:
        folder = tmp_path / name
        folder.mkdir()
        (folder / WEIGHTS).write_bytes(b"weights of " + name.encode())
        folders.append(folder)
    return folders


class Loader:
    """Stands in for QAEngine.load: records every load and returns a fresh object each time."""

    def __init__(self) -> None:
        self.loads: list[str] = []

    def __call__(self, folder: Path) -> object:
        self.loads.append(folder.name)
        return object()


def test_a_kept_model_is_loaded_once(tmp_path):
    (a,) = _folders(tmp_path, "a")
    loader = Loader()
    cache = ModelCache(loader, capacity=2)
    assert cache.get(a) is cache.get(a)
    assert loader.loads == ["a"]


def test_the_least_recently_used_model_is_dropped_not_the_first_loaded(tmp_path):
    a, b, c = _folders(tmp_path, "a", "b", "c")
    loader = Loader()
    cache = ModelCache(loader, capacity=2)
    cache.get(a)
    cache.get(b)
    cache.get(a)  # a is now the most recently used
    cache.get(c)  # so b goes
    assert cache.kept() == [a, c]
    cache.get(a)
    assert loader.loads == ["a", "b", "c"], "a stayed warm"
    cache.get(b)
    assert loader.loads[-1] == "b" and cache.kept() == [a, b]


def test_a_model_retrained_under_the_same_name_is_reloaded(tmp_path):
    (a,) = _folders(tmp_path, "a")
    loader = Loader()
    cache = ModelCache(loader, capacity=2)
    first = cache.get(a)
    weights = a / WEIGHTS
    weights.write_bytes(b"new weights, another size")
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = cache.get(a)
    assert second is not first and loader.loads == ["a", "a"]
    assert cache.kept() == [a], "the old copy is not kept beside the new one"


def test_concurrent_requests_for_one_model_load_it_once(tmp_path):
    (a,) = _folders(tmp_path, "a")
    loader = Loader()
    cache = ModelCache(loader, capacity=1)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(a))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loader.loads == ["a"] and len({id(m) for m in got}) == 1


def test_a_cache_must_hold_at_least_one_model():
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        ModelCache(Loader(), capacity=0)
