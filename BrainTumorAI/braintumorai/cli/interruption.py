"""Ctrl-C (SIGINT) and SIGTERM end every command with one line and exit code 130 / 143.

Both become exceptions raised where Python code runs next (SIGINT is Python's own
``KeyboardInterrupt``; SIGTERM is turned into :class:`Terminated`, a subclass), so the
clean-up of every ``with`` block runs on the way out: a staged output folder is removed
and the earlier one stays (:mod:`braintumorai.output_folder`), a temporary file beside
an output is deleted (:func:`braintumorai.io.atomic_output`). ``main`` then prints one
line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (e.g. ``kill``, a batch scheduler's time limit)."""


def exit_code(stop: KeyboardInterrupt) -> int:
    """128 + the signal number, as shells report a process ended by a signal: 130 or 143."""
    return 128 + int(signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)


def describe(stop: KeyboardInterrupt) -> str:
    return "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C (SIGINT)"


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere
    Python cannot install handlers and the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
