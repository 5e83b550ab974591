"""Cancel reaches the process that works, not only its launcher (issue 16, item 5).

Inside Slicer the child is ``PythonSlicer``, a launcher that starts ``python-real`` and dies
on the first SIGTERM while ``python-real`` is still stopping. These tests run a real
launcher-like parent: it starts a worker in its own process group and dies on SIGTERM; the
worker ignores SIGTERM (a process slow to honour it). Cancel must still end the worker,
and the work folder must be deleted only after the whole group is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from BrainTumorAILib.process_task import CommandTask, python_executable

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX process groups (Windows: taskkill /T /F)")

WORKER = textwrap.dedent("""
    import os, signal, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)   # stops only when killed
    open(sys.argv[1], "w").write(str(os.getpid()))
    while True:
        time.sleep(0.05)
        if os.path.exists(sys.argv[2]):              # the work folder must outlive the worker
            open(sys.argv[2], "a").write("alive\\n")
""")
LAUNCHER = textwrap.dedent("""
    import subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]])
    sys.stderr.write('{"progress": 0.5, "stage": "working"}\\n'); sys.stderr.flush()
    worker.wait()                                    # the default SIGTERM action ends the launcher here
""")


class LauncherTask(CommandTask):
    """A CommandTask whose child is the launcher-like parent instead of the braintumorai CLI."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", LAUNCHER, WORKER, str(self.work_dir / "worker.pid"),
                str(self.work_dir / "heartbeat.txt")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def started(task: LauncherTask) -> int:
    pid_file = task.work_dir / "worker.pid"
    deadline = time.monotonic() + 20
    while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    (task.work_dir / "heartbeat.txt").write_text("")
    return int(pid_file.read_text())


@pytest.fixture
def launch():
    """Makes LauncherTasks, and kills their process groups after the test whatever its outcome:
    a failed assertion must not leave a worker that ignores SIGTERM running for hours."""
    tasks = []

    def make(work_dir, name):
        tasks.append(LauncherTask([], work_dir, name=name))
        return tasks[-1]

    yield make
    for task in tasks:
        if task.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(task.process.pid, signal.SIGKILL)  # the group: the launcher and its worker


def test_cancel_ends_the_worker_after_the_launcher_died_and_deletes_the_folder_only_then(tmp_path, launch):
    task = launch(tmp_path / "work", "Classification")
    task.cancel_grace_s = 0.5
    task.start()
    worker = started(task)
    task.cancel()
    deadline = time.monotonic() + 20
    launcher_gone_while_running = False
    while task.poll().state == "running" and time.monotonic() < deadline:
        launcher_gone_while_running |= task.process.poll() is not None and alive(worker)
        time.sleep(0.05)
    assert launcher_gone_while_running, "the launcher should die on SIGTERM before the worker (the case under test)"
    assert task.poll().state == "cancelled"
    assert not alive(worker), "Cancel left the worker running after its launcher died"
    assert task.work_dir.exists()  # poll() does not delete; the folder outlived the worker
    task.remove_work_dir()
    assert not task.work_dir.exists()


def test_removing_the_folder_mid_run_stops_the_whole_group_first(tmp_path, launch):
    """What Workflow.close() does when the scene closes or the module reloads mid-run."""
    task = launch(tmp_path / "work", "Survival prediction")
    task.cancel_grace_s = 0.5
    task.start()
    worker = started(task)
    task.remove_work_dir()
    assert not alive(worker) and not task.process.poll() is None
    assert not task.work_dir.exists()


def test_the_child_interpreter_is_checked_before_launching(tmp_path):
    assert python_executable() == sys.executable
    with pytest.raises(Exception, match="was not found"):
        python_executable("")
    with pytest.raises(Exception, match="was not found"):
        python_executable(str(tmp_path / "PythonSlicer"))
    slicer_app = tmp_path / "Slicer"
    slicer_app.write_text("")
    with pytest.raises(Exception, match="not PythonSlicer"):
        python_executable(str(slicer_app))


def test_a_bad_interpreter_is_one_sentence_before_any_file_is_written(tmp_path):
    slicer = pytest.importorskip("slicer")
    from slicer_helpers import oblique_image

    from BrainTumorAILib import ClassifyOptions, Workflow, volume_node_from_sitk_image

    scene = slicer.vtkMRMLScene()
    node = volume_node_from_sitk_image(scene, oblique_image(), "t1c")
    workflow = Workflow(scene, work_root=str(tmp_path / "work"), python=str(tmp_path / "PythonSlicer"))
    with pytest.raises(Exception, match="interpreter to run the computation was not found"):
        workflow.start_classification({"T1C": node}, None, ClassifyOptions(device="cpu"))
    assert not workflow.busy and not (tmp_path / "work").exists()
