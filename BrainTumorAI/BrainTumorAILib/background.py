"""Run a long computation off the GUI thread, with progress and Cancel.

Qt-free on purpose: the worker is a plain ``threading.Thread`` and the GUI polls
``poll()`` from a QTimer, so the same class serves Slicer, a web viewer and
tests. Torch releases the GIL inside its kernels, so the GUI stays responsive.

The work function receives a ``TaskContext``: it calls ``context.report(fraction,
message)`` between steps and stops early (raising ``TaskCancelled``) when
``context.check_cancelled()`` finds that the user pressed Cancel.

MRML must not be touched from the worker: collect inputs before starting, and
create output nodes from the result in the GUI thread when ``poll()`` says done.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from typing import Any, Callable, Optional


class TaskCancelled(Exception):
    """Raised inside the work function when the user cancelled it."""


@dataclasses.dataclass
class TaskStatus:
    """What the GUI shows: ``state`` is one of ``running``, ``done``, ``failed``,
    ``cancelled``; ``fraction`` in [0, 1]."""

    state: str
    fraction: float
    message: str
    result: Any = None
    error: Optional[BaseException] = None
    details: str = ""


class TaskContext:
    """Handed to the work function: progress reports and the cancel flag."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self.fraction = 0.0
        self.message = "Starting"

    def report(self, fraction: float, message: str = "") -> None:
        with self._lock:
            self.fraction = min(max(float(fraction), 0.0), 1.0)
            if message:
                self.message = message
        self.check_cancelled()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise TaskCancelled()

    def snapshot(self) -> tuple[float, str]:
        with self._lock:
            return self.fraction, self.message


class BackgroundTask:
    """``function(context, *args, **kwargs)`` running in a daemon thread."""

    def __init__(self, function: Callable[..., Any], *args, name: str = "BrainTumorAI", **kwargs) -> None:
        self.context = TaskContext()
        self._result: Any = None
        self._error: Optional[BaseException] = None
        self._details = ""
        self._started = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(function, args, kwargs), name=name, daemon=True
        )

    def _run(self, function, args, kwargs) -> None:
        try:
            self._result = function(self.context, *args, **kwargs)
        except BaseException as error:  # reported to the GUI thread through poll()
            self._error = error
            self._details = traceback.format_exc()

    def start(self) -> "BackgroundTask":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next progress report."""
        self.context._cancel.set()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def poll(self) -> TaskStatus:
        """The current state; never blocks."""
        fraction, message = self.context.snapshot()
        if self._thread.is_alive():
            return TaskStatus("running", fraction, message)
        if isinstance(self._error, TaskCancelled) or (self._error is None and self.context.cancelled()):
            return TaskStatus("cancelled", fraction, "Cancelled")
        if self._error is not None:
            return TaskStatus("failed", fraction, str(self._error), error=self._error, details=self._details)
        return TaskStatus("done", 1.0, "Done", result=self._result)

    def wait(self, timeout: Optional[float] = None) -> TaskStatus:
        """Block until the work ends (for scripts and tests), then poll."""
        self._thread.join(timeout)
        return self.poll()
