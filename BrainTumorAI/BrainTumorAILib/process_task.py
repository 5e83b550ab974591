"""Run a ``braintumorai`` command in a child process, with progress and Cancel, and no thread.

Slicer never enables PythonQt's thread support, so a Python thread only advances while the
GUI thread runs Python; inference therefore runs in a separate process, as in the mature AI
extensions. The child is the package's own command line (``braintumorai classify ...
--progress json``). Its stdout and stderr go to files in the task's work folder, which
``poll()`` reads from where it stopped: no pipe can fill up, no reader thread is needed,
and the same code runs on Linux, macOS and Windows, in Slicer, a web viewer and pytest.

    task = CommandTask(["classify", "--modality", "T1C=t1c.nrrd", "--out", "out"], work_dir,
                       on_done=lambda folder: read_classification_folder(folder / "out")).start()
    status = task.poll()      # from a QTimer in the GUI thread: state, fraction, message
    task.cancel()             # ends the child and everything it started

Cancel signals the child's process group by its id (the group outlives its leader: inside
Slicer the child is the ``PythonSlicer`` launcher, which dies on the first SIGTERM while
``python-real``, the process that works, is still stopping), SIGTERM first (the CLI stops with
exit code 143 and leaves nothing half-written), then SIGKILL to the group after a grace period
if any member is left. The task counts as ended, and its work folder may be deleted, only once
no process of the group is left. On Windows the tree is ended with ``taskkill /T /F`` (run with
``CREATE_NO_WINDOW``). The results are read only after a clean exit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from braintumorai.errors import BrainTumorAIError

# Folder holding the ``braintumorai`` package (the scripted module folder), put on the child's path.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])
# Runs the CLI with the package folder on sys.path, whatever the child's environment says.
_BOOTSTRAP = ("import sys; sys.path.insert(0, {folder!r}); from braintumorai.cli import main; "
              "sys.exit(main())")
CANCEL_GRACE_S = 5.0
INTERRUPTED_CODES = (130, 143, -signal.SIGTERM, -getattr(signal, "SIGKILL", 9))
# The CLI ends bad input with exit code 2 and one sentence on stderr.
INPUT_ERROR_CODE = 2
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows only: no console window flashes up


class CommandError(BrainTumorAIError):
    """The child refused its input: ``str()`` is the command's one sentence."""


@dataclasses.dataclass
class TaskStatus:
    """What the GUI shows: ``state`` is ``running``, ``done``, ``failed`` or ``cancelled``;
    ``fraction`` in [0, 1]; ``result`` what ``on_done`` returned; ``details`` the child's log."""

    state: str
    fraction: float
    message: str
    result: Any = None
    error: Optional[BaseException] = None
    details: str = ""


def new_work_folder(prefix: str, work_root: Optional[os.PathLike] = None) -> Path:
    """A new empty folder for one task under ``work_root`` (default: <temp>/BrainTumorAI)."""
    import tempfile

    root = Path(work_root or Path(tempfile.gettempdir()) / "BrainTumorAI")
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def python_executable(executable: Optional[str] = None) -> str:
    """The interpreter for the child: ``sys.executable`` (inside Slicer, Slicer sets it to
    ``PythonSlicer``, found on its PATH; an empty string when it was not found).

    Raises BrainTumorAIError when it is missing, or is the Slicer application itself (which
    would open a second Slicer window instead of running the command).
    """
    executable = sys.executable if executable is None else executable
    if not executable or not Path(executable).is_file():
        raise BrainTumorAIError(f"The Python interpreter to run the computation was not found (sys.executable is "
                                f"'{executable}'); start Slicer from its installation folder, or reinstall it.")
    if Path(executable).stem.lower() == "slicer":
        raise BrainTumorAIError(f"sys.executable is the Slicer application ({executable}), not PythonSlicer; "
                                "start Slicer from its installation folder, or reinstall it.")
    return executable


def _has_live_member(group: int) -> bool:
    """Whether the process group has a member that is not a zombie. A killed orphan stays a
    zombie (still a member for ``killpg``) until init reaps it, which can take a while; on
    systems without /proc every member counts."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after the last ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


class CommandTask:
    """One ``braintumorai`` command in a child process.

    Args:
        arguments: the command line after ``braintumorai`` (``--progress json`` is added);
            relative paths are relative to ``work_dir``.
        work_dir: a folder owned by this task: the child runs there and writes its logs there.
        on_done: called once, in the thread that polls, with ``work_dir`` after the child
            exited with 0; its return value becomes ``TaskStatus.result``.
        python: the interpreter (default :func:`python_executable`).
        name: how messages call the task ("Classification").
    """

    def __init__(self, arguments: Sequence[str], work_dir: os.PathLike, on_done: Optional[Callable[[Path], Any]] = None,
                 python: Optional[str] = None, name: str = "BrainTumorAI") -> None:
        self.arguments = [str(a) for a in arguments] + ["--progress", "json"]
        self.work_dir = Path(work_dir)
        self.on_done = on_done
        self.python = python or python_executable()
        self.name = name
        self.process: Optional[subprocess.Popen] = None
        self._offset = 0
        self._pending = ""
        self._log: list[str] = []
        self._fraction, self._message = 0.0, "Starting"
        self._cancel_time: Optional[float] = None
        self._status: Optional[TaskStatus] = None
        self._exit_code: Optional[int] = None
        self._killed = False
        self._started = time.monotonic()
        self.cancel_grace_s = CANCEL_GRACE_S

    @property
    def stderr_path(self) -> Path:
        return self.work_dir / "stderr.txt"

    def command(self) -> list[str]:
        return [self.python, "-c", _BOOTSTRAP.format(folder=PACKAGE_PARENT), *self.arguments]

    def start(self) -> "CommandTask":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        environment = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        options: dict[str, Any] = {}
        if os.name == "nt":
            options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | _NO_WINDOW
        else:
            options["start_new_session"] = True  # its own process group: Cancel reaches all it starts
        with open(self.work_dir / "stdout.txt", "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(self.command(), cwd=self.work_dir, env=environment, stdin=subprocess.DEVNULL,
                                            stdout=stdout, stderr=stderr, **options)
        self._started = time.monotonic()
        return self

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def _read_stderr(self) -> None:
        """Take the complete lines the child has written since the last call."""
        try:
            with open(self.stderr_path, "rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except OSError:
            return
        self._offset += len(chunk)
        text = self._pending + chunk.decode("utf-8", errors="replace")
        *lines, self._pending = text.split("\n")
        for line in lines:
            line = line.rstrip("\r")
            try:
                progress = json.loads(line) if line.startswith("{") else None
            except ValueError:
                progress = None
            if isinstance(progress, dict) and "progress" in progress:
                self._fraction = float(progress["progress"])
                self._message = str(progress.get("stage") or self._message)
            elif line.strip():
                self._log.append(line)

    def poll(self) -> TaskStatus:
        """The current state; never blocks (a finished task keeps returning its final status).

        The task is ``running`` until the child has exited *and* no process of its group is
        left (a cancelled launcher may die before the process it started)."""
        if self._status is not None:
            return self._status
        if self.process is None:
            raise RuntimeError("start() the task before polling it")
        self._read_stderr()
        if self._exit_code is None:
            self._exit_code = self.process.poll()
        cancelling = self._cancel_time is not None
        if self._exit_code is None or (cancelling and self.group_alive()):
            if cancelling and not self._killed and time.monotonic() - self._cancel_time > self.cancel_grace_s:
                self._kill_group()
            return TaskStatus("running", self._fraction, "Cancelling" if cancelling else self._message)
        self._read_stderr()
        if self._pending.strip():
            self._log.append(self._pending.strip())
            self._pending = ""
        self._status = self._final_status(self._exit_code)
        return self._status

    def _final_status(self, code: int) -> TaskStatus:
        details = "\n".join(self._log)
        if self._cancel_time is not None and code != 0:
            return TaskStatus("cancelled", self._fraction, "Cancelled", details=details)
        if code in INTERRUPTED_CODES:
            return TaskStatus("cancelled", self._fraction, "Stopped from outside", details=details)
        if code != 0:
            last = self._log[-1] if self._log else f"ended with exit code {code} and no message"
            prefix = f"braintumorai {self.arguments[0]}: "
            if code == INPUT_ERROR_CODE and last.startswith(prefix):
                error: BaseException = CommandError(last[len(prefix):])
            else:
                error = RuntimeError(f"the {self.name.lower()} process {last}" if not self._log else last)
            return TaskStatus("failed", self._fraction, str(error), error=error, details=details)
        try:
            result = self.on_done(self.work_dir) if self.on_done else None
        except Exception as error:  # reading the results failed: reported like any other failure
            return TaskStatus("failed", 1.0, str(error), error=error, details=details)
        return TaskStatus("done", 1.0, "Done", result=result, details=details)

    def group_alive(self) -> bool:
        """Whether any process of the child's group (the child, what it started) is left."""
        process = self.process
        if process is None:
            return False
        if os.name == "nt":  # no process groups: the tree ends with its root (taskkill /T)
            return process.poll() is None
        process.poll()  # reap the leader, so that a dead one no longer counts as a member
        try:
            os.killpg(process.pid, 0)  # start_new_session: the group's id is the child's pid
        except ProcessLookupError:
            return False
        except PermissionError:  # a member that is not ours any more (pid reused): not our work
            return False
        return _has_live_member(process.pid)

    def _signal_group(self, signal_number) -> None:
        """Send ``signal_number`` to the whole group by its id, whatever state the leader is in."""
        process = self.process
        if process is None:
            return
        if os.name == "nt":
            if process.poll() is None:
                subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True, check=False,
                               creationflags=_NO_WINDOW)
            return
        try:
            os.killpg(process.pid, signal_number)
        except (ProcessLookupError, PermissionError):
            pass

    def _kill_group(self) -> None:
        self._killed = True
        self._signal_group(getattr(signal, "SIGKILL", signal.SIGTERM))

    def cancel(self) -> None:
        """Ask the child (and whatever it started) to stop; ``poll()`` says ``cancelled`` once
        the whole group is gone (SIGKILL to the group after ``cancel_grace_s``)."""
        if self._status is not None or self.process is None:
            return
        if self._cancel_time is None:
            self._cancel_time = time.monotonic()
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout_s: Optional[float] = None) -> bool:
        """Cancel and wait (blocking, at most ``2 * cancel_grace_s``) until no process of the
        group is left; True when it is gone."""
        if self.process is None:
            return True
        if self._status is None:
            self.cancel()
        deadline = time.monotonic() + (self.cancel_grace_s if timeout_s is None else timeout_s)
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.group_alive():
            self._kill_group()
            deadline = time.monotonic() + self.cancel_grace_s
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        return not self.group_alive()

    def remove_work_dir(self) -> None:
        """Delete the work folder (inputs, logs, outputs), only once no process of the group is
        left (one still running is stopped first); kept, with a warning, if one survives SIGKILL."""
        if self.group_alive() and not self.stop():
            import logging

            logging.warning("BrainTumorAI: a process of %s is still running; its work folder %s is kept.",
                            self.name, self.work_dir)
            return
        shutil.rmtree(self.work_dir, ignore_errors=True)
