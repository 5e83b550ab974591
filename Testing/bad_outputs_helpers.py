"""Helpers of the output / process catalogue (``test_bad_input_catalogue_outputs.py``, issue 15
sections 1, 4 and 5): each row runs the real command line in a child process, as a user's
shell would, and the runner checks what every row must do.

A row's ``build(tmp, fixtures)`` makes its files under ``tmp`` and returns a :class:`Run`: the
arguments, the folders whose bytes must not change (the inputs), the ``--out`` folder, the
exit code and the fragments of the one sentence on stderr, and for rows that succeed a
``check(run, completed)`` of what ``--out`` holds.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    args: list
    watched: list = field(default_factory=list)  # folders or files that must stay byte-identical
    out: Optional[Path] = None  # must be untouched after a refusal
    expect: tuple = (2,)  # accepted exit codes
    says: tuple = ()  # fragments of the stderr sentence
    check: Optional[Callable] = None  # check(run, completed) after the command
    address_space: Optional[int] = None  # bytes, ulimit -v for the child
    stdout_full: bool = False  # stdout on /dev/full
    stderr_full: bool = False  # stderr on /dev/full (nothing can be read back)
    signal_after: Optional[float] = None  # seconds, SIGINT then
    signal_when: Optional[Path] = None  # SIGINT as soon as this path exists
    signal_on_library: Optional[str] = None  # SIGINT as soon as the child has mapped this library
    outside: Optional[Path] = None  # a folder where nothing may appear or vanish
    one_sentence: bool = True


@dataclass
class Row:
    id: str
    kind: str  # refused / warned / handled
    build: Callable


def command_line(args: list) -> list:
    return [sys.executable, "-m", "braintumorai", *map(str, args)]


def environment() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "BrainTumorAI"), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def execute(run: Run, cwd: Path) -> subprocess.CompletedProcess:
    """Run the command as a user's shell would (SIGINT not ignored), with the limits of ``run``."""
    def limits():
        if run.address_space:
            resource.setrlimit(resource.RLIMIT_AS, (run.address_space, run.address_space))

    stdout = open(os.devnull if not run.stdout_full else "/dev/full", "w") if run.stdout_full else subprocess.PIPE
    stderr = open("/dev/full", "w") if run.stderr_full else subprocess.PIPE
    started = time.monotonic()
    child = subprocess.Popen(command_line(run.args), cwd=cwd, env=environment(), stdout=stdout, stderr=stderr,
                             text=True, preexec_fn=limits, start_new_session=False)
    if run.signal_after is not None or run.signal_when is not None or run.signal_on_library:
        while child.poll() is None:
            if run.signal_on_library and _has_mapped(child.pid, run.signal_on_library):
                break
            if run.signal_after is not None and time.monotonic() - started >= run.signal_after:
                break
            if run.signal_when is not None and run.signal_when.exists():
                break
            time.sleep(0.002)
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    return subprocess.CompletedProcess(child.args, child.returncode, out or "", err or "")


def _has_mapped(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def listing(folder: Path) -> set:
    """Every path under ``folder`` (names only), for 'nothing written or removed outside'."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()
