"""A run's output folder, replaced whole or not at all.

    with output_folder(args.out, option="--out") as folder:   # checked and locked before the compute
        result = classifier.predict(...)
        result.save(folder.staging, final_dir=folder.final)
    # here folder.final holds this run's files and nothing else

A run writes into a fresh hidden folder beside the output folder (``.NAME.tmp-XXXX``,
same file system), and only when the block ends without an error is it swapped in:
the old folder is renamed aside, the new one renamed into place, the old one removed.
So a reader never sees a mix of two runs, a rerun with fewer modalities leaves no stale
maps, and an error, Ctrl-C or SIGTERM leaves the old folder as it was. Entering the
block checks, before any compute, that the folder can be written (the staging folder is
made there) and takes a lock beside it (``.NAME.lock``), so a second run into the same
folder is told that it is in use instead of mixing its files with the first one's.

Only an empty folder, none, or a folder holding nothing but what a result of the same kind
holds is replaced: the marker ``.braintumorai-output`` records the kind of result
(classify, demo, prognose, batch) and every file the run wrote, and a folder holding a
file no run wrote (an input copied there, the user's notes), a result of another kind, or
one of the inputs of this run is refused, never deleted. Hidden leftovers of a run that was
killed (``.NAME.tmp-*``, ``.NAME.old-*``) are removed by the next run only when they carry
this package's mark and the process that made them is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

from .errors import InputError

PathLike = Union[str, os.PathLike]

# Written into every output folder: what made it, its kind and the files it wrote, so a
# later run of the same kind may replace it.
MARKER = ".braintumorai-output"
# Written into a staging folder when it is made: the process writing it, so a later run can
# tell a leftover of a killed run (its process gone) from a run still writing.
STAGING_MARK = ".braintumorai-staging"
KINDS = ("classify", "demo", "prognose", "batch")
# The output folders swapped in by this process, latest last (the CLI says, when a signal
# stops it after that, that the results were complete).
COMPLETED: list = []
# What an output folder of an earlier version (without the marker) holds: classify's
# result.json, the demo's classification/result.json, prognose's survival.json, a batch's
# results.csv or cases/.
_EARLIER_RESULTS = {"result.json": "classify", os.path.join("classification", "result.json"): "demo",
                    "survival.json": "prognose", "results.csv": "batch"}
# What each kind of result holds at its top, for a folder of an earlier version whose
# marker lists no files.
_EARLIER_TOP = {"demo": {"patient", "classification", "survival", "report", MARKER},
                "batch": {"cases", "patients", "results.csv", MARKER},
                "prognose": {"survival.json", "survival.png", MARKER}}


@dataclass(frozen=True)
class OutputFolder:
    """``staging``: where this run writes; ``final``: where its files will be (for paths
    recorded inside the files, e.g. the saliency maps listed in result.json)."""

    staging: Path
    final: Path


def _describe(out: Path, option: Optional[str]) -> str:
    return f"'{option} {out}'" if option else f"the output folder '{out}'"


def kind_of_command(command: str) -> str:
    """``braintumorai classify`` -> ``classify``; ``ClassificationResult.save`` -> ``classify``."""
    for kind in KINDS:
        if kind in command.lower():
            return kind
    return "classify" if "classification" in command.lower() else command


def _read_marker(out: Path) -> Optional[dict]:
    try:
        data = json.loads((out / MARKER).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {} if (out / MARKER).exists() else None


def result_kind(out: Path) -> Optional[str]:
    """The kind of result ``out`` holds (classify, demo, prognose, batch), None when it holds
    none that this package wrote."""
    marker = _read_marker(out)
    if marker is not None and marker.get("kind") in KINDS:
        return marker["kind"]
    for name, kind in _EARLIER_RESULTS.items():
        if (out / name).is_file():
            return kind
    if (out / "cases").is_dir():
        return "batch"
    if marker is not None:  # an earlier version's marker without a kind
        return kind_of_command(str(marker.get("written_by", "")))
    return None


def _files_under(folder: Path) -> list[str]:
    """Relative paths of every file (and link) under ``folder``, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        found += [str(base / name) for name in files]
        found += [str(base / name) for name in dirs if os.path.islink(os.path.join(root, name))]
    return sorted(os.path.normpath(name) for name in found)


def _written_by_a_run(out: Path, kind: str) -> set[str]:
    """The files of ``out`` a run wrote: those its marker lists, else (an earlier version)
    those its result files name or its kind always holds."""
    marker = _read_marker(out) or {}
    listed = marker.get("files")
    if isinstance(listed, list):
        return {os.path.normpath(str(name)) for name in listed} | {MARKER}
    files = set(_files_under(out))
    if kind == "classify":
        allowed = {"result.json", MARKER}
        try:
            result = json.loads((out / "result.json").read_text())
            allowed |= {os.path.normpath(str(name)) for name in (result.get("saliency") or {}).values()}
            if result.get("brain_mask"):
                allowed.add(str(result["brain_mask"]))
        except (OSError, ValueError, AttributeError):
            pass
        return allowed | {name for name in files if name.startswith("report" + os.sep)}
    top = _EARLIER_TOP.get(kind, {MARKER})
    return {name for name in files if name.split(os.sep, 1)[0] in top or name.startswith(".results.")}


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_replaceable(out: Path, option: Optional[str] = None, kind: str = "classify",
                      inputs: Sequence[PathLike] = ()) -> None:
    """Refuse ``out`` unless it is absent, an empty folder, or a result of ``kind`` holding
    nothing a run did not write; refuse it too when one of ``inputs`` lies inside it."""
    where = _describe(out, option)
    out_real = Path(os.path.realpath(out))
    for given in inputs:
        if _inside(Path(os.path.realpath(given)), out_real):
            raise InputError(f"{where} holds the input '{given}', and a run replaces the whole folder; write the "
                             "results into another folder.")
    if out.exists() and not out.is_dir():
        raise InputError(f"{where} is a file, not a folder; give a folder for the results.")
    if not out.is_dir():
        return
    try:
        entries = {entry.name for entry in os.scandir(out)}
    except OSError as error:
        raise InputError(f"{where} cannot be read ({error.strerror}); check its permissions.") from None
    if not entries:
        return
    held = result_kind(out)
    if held is None:
        raise InputError(
            f"{where} already holds files that are not a BrainTumorAI result, and a run replaces the whole "
            "folder; give a new or empty folder.")
    if held != kind:
        raise InputError(f"{where} holds a {held} result, which a {kind} run would mix with or replace; give "
                         f"another folder for the {kind} results.")
    foreign = sorted(set(_files_under(out)) - _written_by_a_run(out, kind))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise InputError(f"{where} holds '{foreign[0]}'{more}, which no BrainTumorAI run wrote there, and a run "
                         "replaces the whole folder; move it out or give a new folder.")


def _check_creatable(out: Path, where: str) -> None:
    parent = out.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise InputError(f"{where} cannot be created because '{blocker}' is a file; choose another folder.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{where} cannot be created ({error.strerror or error}); choose a writable place.") from None


def _absolute(out: PathLike, where: str) -> Path:
    out = Path(os.path.abspath(out))  # "." and "results/" name a folder too
    if out == Path.cwd() or out in Path.cwd().parents:
        raise InputError(f"{where} is the current folder or holds it, and a run replaces the whole folder; "
                         "give a folder for the results inside it.")
    return out


def _mark(folder: Path, command: str, kind: str, files: Optional[list] = None) -> None:
    data = {"written_by": command, "kind": kind, "time": time.time()}
    if files is not None:
        data["files"] = files
    (folder / MARKER).write_text(json.dumps(data) + "\n")


@contextlib.contextmanager
def output_folder(out: PathLike, option: Optional[str] = "--out", command: str = "braintumorai",
                  kind: Optional[str] = None, inputs: Sequence[PathLike] = ()) -> Iterator[OutputFolder]:
    """Check, lock and stage an output folder; swap the staged files in when the block succeeds.

    Args:
        out: the output folder (created with its parents if needed).
        option: the command-line option that named it, for messages (None: the Python API).
        command: what wrote it, recorded in the marker file.
        kind: the kind of result (classify, demo, prognose); default: read from ``command``.
        inputs: the run's input files; ``out`` must not hold any of them.

    Raises:
        InputError: ``out`` is a file, holds files no run wrote, a result of another kind or an
            input, cannot be written, or is in use by another run.
    """
    where = _describe(Path(out), option)
    kind = kind or kind_of_command(command)
    out = _absolute(out, where)
    check_replaceable(out, option, kind, inputs)
    _check_creatable(out, where)
    parent = out.parent
    with _lock(parent / f".{out.name}.lock", where):
        remove_stale_leftovers(out)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=parent))
        except OSError as error:
            raise InputError(f"{where} cannot be written ({error.strerror or error}); choose a writable folder "
                             "with free space.") from None
        try:
            os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private (0700)
            _write_staging_mark(staging)
            yield OutputFolder(staging=staging, final=out)
            (staging / STAGING_MARK).unlink()
            _mark(staging, command, kind, _files_under(staging))
            check_replaceable(out, option, kind, inputs)  # nothing foreign appeared meanwhile
            with _signals_deferred(out):
                _swap_in(staging, out)
                COMPLETED.append(out)
        except OSError as error:
            raise InputError(f"Could not write {where} ({error.strerror or error}); check that it is writable and "
                             "has space.") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def batch_folder(out: PathLike, option: Optional[str] = "--out", command: str = "braintumorai batch") -> Iterator[Path]:
    """A batch's output folder, checked and locked for the run as :func:`output_folder` checks
    one (a file, below a file, not writable, in use, another kind of result, foreign files:
    one sentence before any work). Nothing is created yet: :func:`mark_batch_folder` makes and
    marks it once the cohort has been read, so a refusal leaves no trace. A batch adds to the
    folder case by case (it resumes), so it is not swapped in whole."""
    where = _describe(Path(out), option)
    out = _absolute(out, where)
    check_replaceable(out, option, "batch")
    _check_creatable(out, where)
    with _lock(out.parent / f".{out.name}.lock", where):
        if not os.access(out if out.is_dir() else out.parent, os.W_OK | os.X_OK):
            raise InputError(f"{where} cannot be written (permission denied); choose a writable folder.")
        yield out


def mark_batch_folder(out: Path, option: Optional[str] = "--out", command: str = "braintumorai batch") -> None:
    """Create ``out`` (checked by :func:`batch_folder`) and mark it as a batch result."""
    try:
        out.mkdir(exist_ok=True)
        if not (out / MARKER).exists():
            _mark(out, command, "batch")
    except OSError as error:
        raise InputError(f"{_describe(out, option)} cannot be written ({error.strerror or error}); choose a writable "
                         "folder with free space.") from None


def _write_staging_mark(staging: Path) -> None:
    (staging / STAGING_MARK).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # alive (another user's) or cannot tell: keep
    return False


def remove_stale_leftovers(out: Path) -> list[Path]:
    """Remove the hidden folders a killed run left beside ``out`` (``.NAME.tmp-*`` staging
    folders, ``.NAME.old-*`` earlier results renamed aside), each only when it carries this
    package's mark and the process that made it is gone. Returns those removed."""
    removed = []
    try:
        candidates = [p for p in out.parent.iterdir()
                      if p.name.startswith((f".{out.name}.tmp-", f".{out.name}.old-")) and p.is_dir()
                      and not p.is_symlink()]
    except OSError:
        return removed
    for path in candidates:
        try:
            if path.name.startswith(f".{out.name}.tmp-"):
                mark = json.loads((path / STAGING_MARK).read_text())
                pid, host = int(mark["pid"]), mark.get("host")
            else:  # .NAME.old-PID-TIME holds an earlier result (its marker) or is empty
                pid, host = int(path.name[len(f".{out.name}.old-"):].split("-")[0]), socket.gethostname()
                if any(path.iterdir()) and not (path / MARKER).exists():
                    continue
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours, or not readable: never removed
        if host == socket.gethostname() and pid != os.getpid() and _process_gone(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _swap_in(staging: Path, out: Path) -> None:
    """Rename ``out`` aside, ``staging`` into its place, then remove the old folder."""
    old = None
    if out.exists():
        old = staging.parent / f".{out.name}.old-{os.getpid()}-{time.time_ns()}"
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:
            os.replace(old, out)  # put the earlier result back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    from .io import _umask as umask

    return umask()


@contextlib.contextmanager
def _lock(path: Path, where: str) -> Iterator[None]:
    """An exclusive, non-blocking lock on ``path`` for the block; released (and the file
    removed) at its end, and by the OS if the process dies."""
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise InputError(f"{where} cannot be written ({error.strerror or error}); choose a writable folder.") from None
        if not _try_lock(handle):
            os.close(handle)
            raise InputError(f"{where} is in use by another BrainTumorAI run; wait for it to finish or choose "
                             "another folder.")
        # The file may have been removed by the run that held it just before: lock the one at ``path``.
        try:
            if os.stat(path).st_ino == os.fstat(handle).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(handle)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(handle)


def _try_lock(handle: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _signals_deferred(out: Path) -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the few renames of the swap, then act on them; the
    exception they raise then carries ``results_complete`` (``out``), as the result is in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    kept = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(number)
        if handler is not None:  # None: installed outside Python, left alone
            kept[number] = handler
            signal.signal(number, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)
        if received:
            try:
                signal.raise_signal(received[0])
            except KeyboardInterrupt as stop:
                stop.results_complete = str(out)
                raise
