"""One loaded model shared by a server's concurrent requests: many forward passes at once, or one change.

Reading attention weights needs the eager attention kernel, and the kernel is a setting of the model
that every request shares. Switching it while another request is inside a forward pass would hand that
request a kernel it did not ask for, so a switch waits until no pass runs and holds new ones back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ModelLock:
    """A shared-or-exclusive lock: forward passes share it; a change of how the model runs takes it alone.

    A waiting change goes first: new passes wait behind it, so a busy server cannot starve it.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._passes = 0
        self._changing = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Run a forward pass alongside others, never during a change."""
        with self._changed:
            self._changed.wait_for(lambda: not self._changing and not self._waiting)
            self._passes += 1
        try:
            yield
        finally:
            with self._changed:
                self._passes -= 1
                self._changed.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Change the model (and run with the change) while no other pass runs."""
        with self._changed:
            self._waiting += 1
            self._changed.wait_for(lambda: not self._changing and self._passes == 0)
            self._waiting -= 1
            self._changing = True
        try:
            yield
        finally:
            with self._changed:
                self._changing = False
                self._changed.notify_all()
