"""Command-line mistakes argparse answers badly, caught before it parses.

- a mistyped flag: argparse first complains about a required option that is missing (``--ouput
  x`` says "the following arguments are required: --out"); here the unknown flag is named with
  the nearest known one and the sub-command's help;
- a negative day after ``--visit`` / ``--treatment`` (``--visit -30:DIR``): argparse reads it as
  an option and says "expected one argument"; here the sentence says to write ``--visit=-30:DIR``.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from typing import Sequence

_NEGATIVE_DAY = re.compile(r"^-\d+(\.\d*)?:")
_DAY_OPTIONS = ("--visit", "--treatment")


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _subparsers(parser: argparse.ArgumentParser) -> dict:
    for action in parser._actions:  # argparse keeps the sub-parsers on this action
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def check_argv(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Exit 2 with one sentence for an unknown flag of the sub-command or a negative visit day."""
    commands = _subparsers(parser)
    name = next((token for token in argv if not token.startswith("-")), None)
    if name not in commands:
        return  # argparse says what is wrong with the command itself
    sub = commands[name]
    known = [option for action in sub._actions for option in action.option_strings]
    takes_value = {option for action in sub._actions if action.nargs != 0 for option in action.option_strings}
    tokens = list(argv[argv.index(name) + 1:])
    prog = f"braintumorai {name}"
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            return
        flag = token.split("=", 1)[0]
        if flag in _DAY_OPTIONS and "=" not in token and index + 1 < len(tokens) \
                and _NEGATIVE_DAY.match(tokens[index + 1]):
            _fail(f"{prog}: a day before the first one must be written {flag}={tokens[index + 1]} (with '='), "
                  f"since a value starting with '-' reads as an option; see {prog} --help.")
        if token.startswith("--") and len(token) > 2:
            matches = [option for option in known if option.startswith(flag)]  # argparse accepts unique prefixes
            if flag not in known and len(matches) > 1:
                _fail(f"{prog}: {flag} is short for more than one flag ({', '.join(matches)}); write it in full.")
            if flag not in known and not matches:
                near = difflib.get_close_matches(flag, [o for o in known if o.startswith("--")], n=1, cutoff=0.6)
                hint = f" (did you mean {near[0]}?)" if near else ""
                _fail(f"{prog}: unknown flag {flag}{hint}; see {prog} --help for its flags.")
            option = flag if flag in known else matches[0]
            if option in takes_value and "=" not in token:
                index += 1  # its value, whatever it looks like
        index += 1
