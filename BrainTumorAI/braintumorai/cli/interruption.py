"""Ctrl-C (SIGINT) and SIGTERM end every command with one line and exit code 130 / 143.

Both become exceptions raised where Python code runs next (SIGINT as Python's own
``KeyboardInterrupt``, SIGTERM as :class:`Terminated`, a subclass), so the
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


class Received:
    """The stop signals that arrived inside :func:`signals_as_exceptions`' block."""

    def __init__(self) -> None:
        self.numbers: list[int] = []

    def stop(self) -> "KeyboardInterrupt | None":
        """The interruption to report when a signal arrived, else None. A library can turn
        the ``KeyboardInterrupt`` into another error (numpy, interrupted while it loads,
        raises ImportError): what the user did is still a Ctrl-C or a SIGTERM."""
        if not self.numbers:
            return None
        return Terminated() if self.numbers[0] == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def signals_as_exceptions(ignore_after: bool = False) -> Iterator[Received]:
    """Within the block, the first SIGINT raises ``KeyboardInterrupt`` and the first SIGTERM
    :class:`Terminated`; signals after it are ignored, so the clean-up runs once and to its
    end (a second Ctrl-C would otherwise break it off with a traceback). Main thread only;
    elsewhere Python cannot install handlers and the block runs unchanged. A SIGINT that
    the parent process ignores (a background job) stays ignored. With ``ignore_after`` both are
    ignored after the block (the command is over; what is left is the interpreter's shutdown).
    Yields a :class:`Received` that records them."""
    received = Received()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop(signum, frame):
        if received.numbers:
            return
        received.numbers.append(signum)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) in (signal.default_int_handler, signal.SIG_DFL):
            previous[number] = signal.signal(number, stop)
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_IGN if ignore_after else handler)
