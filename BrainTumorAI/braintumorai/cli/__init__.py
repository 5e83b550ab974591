"""``braintumorai`` command line: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import BrainTumorAIError
from . import (batch_command, bench_command, classify_command, demo_command, inspect_command, models_command,
               prognose_command, synthetic_commands)
from .interruption import describe, exit_code, signals_as_exceptions
from .progress import end_open_line

# Each sub-command module has add_parser(subparsers) and run(args) -> int.
COMMANDS = [inspect_command, classify_command, prognose_command, batch_command, demo_command, bench_command,
            models_command, synthetic_commands]


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (what is wrong, and where to read more)
    instead of the usage block and a second line."""

    def error(self, message: str):
        message = message[0].upper() + message[1:] if message else "Invalid arguments"
        self.exit(2, f"{self.prog}: {message.rstrip('.')}; see {self.prog} --help.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="braintumorai",
        description="Brain-tumour classification and survival prediction (research only, not for clinical use).",
    )
    parser.add_argument("--version", action="version", version=f"braintumorai {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def quiet_itk() -> None:
    """Keep ITK's console warnings (``WARNING: In .../itkGDCMSeriesFileNames.cxx, line 101 ...
    No Series were found``) off the terminal: what they mean reaches the user as the one-line
    error or the result's warnings. Only the command line does this; inside 3D Slicer ITK's
    output belongs to the application."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; bad input, Ctrl-C and SIGTERM end it with one line on stderr and
    exit code 2, 130 or 143 (never a traceback, never ITK's console output)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_itk()
    with signals_as_exceptions():
        try:
            return int(args.run(args) or 0)
        except BrainTumorAIError as error:
            end_open_line()
            print(f"braintumorai {args.command}: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as stop:
            end_open_line()
            hint = getattr(args, "interrupted_hint", "nothing half-written was left in place.")
            print(f"braintumorai {args.command}: stopped by {describe(stop)}; {hint}", file=sys.stderr)
            return exit_code(stop)
        except MemoryError:
            end_open_line()
            print(f"braintumorai {args.command}: ran out of memory; close other programs or give smaller volumes.",
                  file=sys.stderr)
            return 2
        except BrokenPipeError:
            # The reader went away (`braintumorai classify --json | head`): end quietly, as cat
            # does. stdout is pointed at devnull so the interpreter's final flush cannot fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


if __name__ == "__main__":
    sys.exit(main())
