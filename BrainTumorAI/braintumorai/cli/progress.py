"""Progress of the long commands on stderr: a line people read, or JSON lines a program reads.

``--progress text`` rewrites one line (``\\r  stage (42%)``); ``--progress json`` prints one
JSON object per line, ``{"progress": 0.42, "stage": "Saliency"}``, flushed at once, so a
front end that runs the command in a child process (the Slicer module does) can show a
progress bar from the child's stderr. stdout is left to the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional, TextIO

PROGRESS_MODES = ("text", "json", "none")
# What a JSON progress line holds; anything else a program finds on stderr is a message.
PROGRESS_KEY = "progress"

Progress = Callable[[str, float], None]


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--progress text|json|none`` and ``--quiet``; without either, text progress when stderr
    is a terminal and none when it is a file or a pipe (see :func:`progress_mode`)."""
    parser.add_argument("--progress", choices=PROGRESS_MODES, default=None,
                        help="progress on stderr: text, json (one JSON object per line, for programs) or none "
                             "(default: text on a terminal, else none)")
    parser.add_argument("--quiet", "-q", dest="progress", action="store_const", const="none",
                        help="no progress on stderr (the same as --progress none)")


def progress_mode(args: argparse.Namespace) -> str:
    """The ``--progress`` asked for, else text on a terminal and none elsewhere."""
    if args.progress:
        return args.progress
    return "text" if sys.stderr.isatty() else "none"


# A rewritten text progress line is on stderr without its newline.
_line_open = False


def progress_printer(mode: str, stream: Optional[TextIO] = None) -> Optional[Progress]:
    """A ``(stage, fraction)`` callback printing in ``mode``; None for ``none``."""
    if mode == "none":
        return None

    def text(stage: str, fraction: float) -> None:
        global _line_open
        print(f"\r  {stage} ({fraction:.0%})".ljust(60), end="", file=stream or sys.stderr, flush=True)
        _line_open = _line_open or stream is None

    def json_line(stage: str, fraction: float) -> None:
        line = json.dumps({PROGRESS_KEY: round(min(max(float(fraction), 0.0), 1.0), 4), "stage": str(stage)})
        print(line, file=stream or sys.stderr, flush=True)

    return json_line if mode == "json" else text


# The stage a step reports when it has finished; the run it is part of goes on.
DONE_STAGE = "Done"


def scaled(report: Optional[Progress], start: float, end: float) -> Optional[Progress]:
    """``report`` for a step that covers ``start``..``end`` of the whole run. The step's own
    "Done" is not passed on: a line reading "Done (85%)" before "Writing the results" would
    say the run had ended; the run says "Done" itself when it has."""
    if report is None:
        return None

    def step(stage: str, fraction: float) -> None:
        if stage != DONE_STAGE:
            report(stage, start + (end - start) * float(fraction))

    return step


def end_text_progress(mode: str) -> None:
    """Finish the rewritten text line so the summary starts on a line of its own."""
    global _line_open
    if mode == "text":
        print(file=sys.stderr)
        _line_open = False


def end_open_line() -> None:
    """End a text progress line still open on stderr (a run stopped by an error or a
    signal), so the message that follows starts on a line of its own."""
    if _line_open:
        end_text_progress("text")
