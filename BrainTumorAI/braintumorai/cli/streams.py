"""stdout and stderr that may not be writable (a full disk, ``> /dev/full``, a closed pipe).

A failed write to stderr is dropped (there is nowhere left to say anything; the exit code
still tells the outcome). A failed write to stdout, where the result goes, becomes
:class:`StdoutError`, which ``main`` turns into one sentence on stderr and exit code 3. At
the end both are pointed at the null device when they failed, so the interpreter's own final
flush cannot print "Exception ignored ... OSError" either.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


class StdoutError(OSError):
    """Writing the command's output to stdout failed."""


class _Guarded:
    """A text stream whose OSErrors are dropped (stderr) or raised as StdoutError (stdout)."""

    def __init__(self, stream, raising: bool) -> None:
        self._stream, self._raising, self.failed = stream, raising, False

    def _guard(self, action, *args):
        try:
            return action(*args)
        except BrokenPipeError:
            raise
        except OSError as error:
            self.failed = True
            if self._raising:
                raise StdoutError(error.errno, error.strerror) from None
            return None

    def write(self, text):
        return self._guard(self._stream.write, text)

    def flush(self):
        return self._guard(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _Streams:
    StdoutError = StdoutError

    def __init__(self) -> None:
        self.stdout, self.stderr = sys.stdout, sys.stderr
        self.guarded_out, self.guarded_err = _Guarded(sys.stdout, True), _Guarded(sys.stderr, False)

    def flush_stdout(self) -> None:
        self.guarded_out.flush()

    def finish(self) -> None:
        for guarded, original in ((self.guarded_out, self.stdout), (self.guarded_err, self.stderr)):
            try:
                original.flush()
            except OSError:
                guarded.failed = True
            if guarded.failed:
                _to_null(original)


def _to_null(stream) -> None:
    """Point ``stream``'s file descriptor at the null device and drop what its buffer holds."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
        stream.flush()


@contextlib.contextmanager
def guarded_streams() -> Iterator[_Streams]:
    """sys.stdout / sys.stderr guarded for the block (restored after it)."""
    streams = _Streams()
    sys.stdout, sys.stderr = streams.guarded_out, streams.guarded_err
    try:
        yield streams
    finally:
        sys.stdout, sys.stderr = streams.stdout, streams.stderr


def say(message: str) -> None:
    """One line on stderr; dropped when stderr cannot be written."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass
