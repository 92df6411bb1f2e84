"""``gpu(fn)``: run ``fn`` on a lent GPU on a ZeroGPU Space, and unchanged everywhere else.

A ZeroGPU Space attaches a GPU only while a function wrapped in ``spaces.GPU`` runs. The ``spaces`` package
is installed on every Space and its wrapper does nothing off ZeroGPU; elsewhere the package is usually
absent, so it is imported only here, when a function is wrapped, and its absence leaves ``fn`` as it is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def gpu(fn: F, duration: int | None = None) -> F:
    """``spaces.GPU(fn)`` (with ``duration``, the most seconds one call may hold the GPU) or ``fn`` itself.

    ZeroGPU queues a call by its duration (60 s unless told), so a view that is known to be quick or slow
    says so; without the ``spaces`` package the duration is meaningless and ignored.
    """
    try:
        spaces = importlib.import_module("spaces")
    except ImportError:
        return fn
    if duration is None:
        return spaces.GPU(fn)
    return spaces.GPU(duration=duration)(fn)
