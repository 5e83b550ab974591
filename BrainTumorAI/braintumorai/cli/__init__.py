"""``braintumorai`` command line: one sub-command per module in this package.

This module imports nothing heavy at its top: the sub-commands (and numpy, SimpleITK,
torch behind them) are imported inside :func:`main`, so that a Ctrl-C, a SIGTERM, a memory
limit or a library that does not load during those first seconds ends in one sentence too.
"""

from __future__ import annotations

import sys

try:  # a Ctrl-C while Python loads these few modules: one line, not a traceback
    import argparse
    import os
    from typing import Optional, Sequence

    from .interruption import describe, exit_code, signals_as_exceptions
    from .streams import guarded_streams, say
except KeyboardInterrupt:
    sys.stderr.write("braintumorai: stopped by Ctrl-C (SIGINT) while starting; nothing was written.\n")
    raise SystemExit(130) from None

# Exit codes (README, "Command line"): 0 done; 2 bad input or options; 3 the machine could not
# do it (out of memory, a memory limit too low, a library that does not load, standard output
# that cannot be written); 130 Ctrl-C (SIGINT); 143 SIGTERM.
EXIT_BAD_INPUT = 2
EXIT_RESOURCES = 3
# Below this address-space limit (ulimit -v) PyTorch aborts while it loads (C++ std::bad_alloc,
# which Python cannot catch), OpenBLAS hangs or a thread cannot start (measured: 1.0, 1.1 and
# 1.2 GB on the tiny test model): refused before it is tried.
MIN_ADDRESS_SPACE = 2 * 1024 ** 3
# Commands that load PyTorch.
_TORCH_COMMANDS = {"classify", "prognose", "batch", "demo", "bench"}


def _commands():
    from . import (batch_command, bench_command, classify_command, demo_command, inspect_command,
                   models_command, prognose_command, synthetic_commands)

    # Each sub-command module has add_parser(subparsers) and run(args) -> int.
    return [inspect_command, classify_command, prognose_command, batch_command, demo_command, bench_command,
            models_command, synthetic_commands]


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (what is wrong, and where to read more)
    instead of the usage block and a second line."""

    def error(self, message: str):
        message = message[0].upper() + message[1:] if message else "Invalid arguments"
        self.exit(2, f"{self.prog}: {message.rstrip('.')}; see {self.prog} --help.\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _OneLineParser(
        prog="braintumorai",
        description="Brain-tumour classification and survival prediction (research only, not for clinical use).",
    )
    parser.add_argument("--version", action="version", version=f"braintumorai {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in _commands():
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
    """Run one command; bad input, Ctrl-C, SIGTERM, too little memory and an unwritable
    standard output end it with one line on stderr and the exit codes above (never a traceback,
    never ITK's console output)."""
    code, stopped = _main(argv)
    if stopped and argv is None:
        # Stopped on the real command line: every clean-up has run and the line is printed.
        # The interpreter's shutdown after a stop can still abort inside a native library's
        # teardown (glibc "double free or corruption", exit -6 instead of 130, seen once in
        # CI); ending the process here keeps the exit code the user's shell reads.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a full or closed stream: its one line was already tried
                pass
        os._exit(code)
    return code


def _main(argv: Optional[Sequence[str]]) -> "tuple[int, bool]":
    """The command's exit code, and whether a signal stopped it."""
    command, args = "braintumorai", None

    def stopped(stop: KeyboardInterrupt) -> "tuple[int, bool]":
        _end_open_line()
        completed = getattr(sys.modules.get("braintumorai.output_folder"), "COMPLETED", [])
        done = getattr(stop, "results_complete", None) or (str(completed[-1]) if completed else None)
        hint = (f"the results were already complete in '{done}'." if done else
                getattr(args, "interrupted_hint", "nothing half-written was left in place."))
        say(f"{command}: stopped by {describe(stop)}; {hint}")
        return exit_code(stop), True

    # On the real command line (argv None) Ctrl-C and SIGTERM are ignored once the command has
    # ended: the interpreter's shutdown would otherwise be killed by them without a word.
    with guarded_streams() as streams, signals_as_exceptions(ignore_after=argv is None) as received:
        try:
            from ..errors import BrainTumorAIError
            from ..output_folder import COMPLETED

            COMPLETED.clear()
            from .arguments_check import check_argv

            argv = list(sys.argv[1:] if argv is None else argv)
            parser = build_parser()
            check_argv(parser, argv)  # unknown flags, negative visit days: one sentence each
            args = parser.parse_args(argv)
            command = f"braintumorai {args.command}"
            if args.command in _TORCH_COMMANDS:
                _check_address_space(command)
                quiet_itk()
            code = _run(args, command, BrainTumorAIError)
            streams.flush_stdout()
            return code, False
        except KeyboardInterrupt as stop:
            return stopped(stop)
        except _ResourceError as error:
            _end_open_line()
            say(f"{command}: {error}")
            return EXIT_RESOURCES, False
        except MemoryError:
            _end_open_line()
            say(f"{command}: ran out of memory; close other programs, raise the memory limit or give smaller "
                "volumes.")
            return EXIT_RESOURCES, False
        except ImportError as error:  # a library that does not load: often too little address space
            stop = received.stop()
            if stop is not None:  # a Ctrl-C that numpy, loading, turned into ImportError
                return stopped(stop)
            say(f"{command}: a library could not be loaded ({_short(error)}); if a memory limit is set "
                "(ulimit -v), raise it, else reinstall BrainTumorAI's requirements.")
            return EXIT_RESOURCES, False
        except streams.StdoutError as error:
            say(f"{command}: could not write to standard output ({error.strerror or error}); send it to a file or "
                "pipe that can take it.")
            return EXIT_RESOURCES, False
        finally:
            streams.finish()  # a final flush into a full device must not print "Exception ignored"


class _ResourceError(Exception):
    """The machine cannot run the command (memory, address space)."""


def _run(args: argparse.Namespace, command: str, expected) -> int:
    try:
        return int(args.run(args) or 0)
    except expected as error:
        _end_open_line()
        say(f"{command}: {error}")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`braintumorai classify --json | head`): end quietly, as cat
        # does. stdout is pointed at devnull so the interpreter's final flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except RuntimeError as error:
        text = str(error)
        if any(sign in text for sign in ("can't allocate memory", "bad_alloc", "out of memory",
                                         "Cannot allocate memory", "can't start new thread")):
            raise _ResourceError(f"ran out of memory ({_short(error)}); close other programs, raise the memory "
                                 "limit or give smaller volumes.") from None
        raise


def _check_address_space(command: str) -> None:
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft < MIN_ADDRESS_SPACE:
        raise _ResourceError(f"the memory limit (ulimit -v) of {soft / 1024 ** 2:.0f} MB is below the "
                             f"{MIN_ADDRESS_SPACE / 1024 ** 3:.0f} GB this command needs to load PyTorch; raise it "
                             "(ulimit -v unlimited) and run it again.")


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _end_open_line() -> None:
    progress = sys.modules.get(__name__ + ".progress")
    if progress is not None:
        progress.end_open_line()


if __name__ == "__main__":
    sys.exit(main())
