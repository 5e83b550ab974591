"""``braintumorai`` command line: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import BrainTumorAIError
from . import (batch_command, bench_command, classify_command, demo_command, inspect_command, models_command,
               prognose_command, synthetic_commands)

# Each sub-command module has add_parser(subparsers) and run(args) -> int.
COMMANDS = [inspect_command, classify_command, prognose_command, batch_command, demo_command, bench_command,
            models_command, synthetic_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="braintumorai",
        description="Brain-tumour classification and survival prediction (research only, not for clinical use).",
    )
    parser.add_argument("--version", action="version", version=f"braintumorai {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrainTumorAIError as error:
        print(f"braintumorai {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
