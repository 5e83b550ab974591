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

Only a folder this package wrote (it holds ``.braintumorai-output``, or the
``result.json`` of an earlier version's classify or demo), an empty folder, or none is
replaced: a folder holding other files is refused, never deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

from .errors import InputError

PathLike = Union[str, os.PathLike]

# Written into every output folder: what made it, so a later run may replace it.
MARKER = ".braintumorai-output"
# What an output folder of an earlier version (without the marker) holds: classify's
# result.json, or the demo's classification/result.json.
_EARLIER_RESULTS = ("result.json", os.path.join("classification", "result.json"))


@dataclass(frozen=True)
class OutputFolder:
    """``staging``: where this run writes; ``final``: where its files will be (for paths
    recorded inside the files, e.g. the saliency maps listed in result.json)."""

    staging: Path
    final: Path


def _describe(out: Path, option: Optional[str]) -> str:
    return f"'{option} {out}'" if option else f"the output folder '{out}'"


def check_replaceable(out: Path, option: Optional[str] = None) -> None:
    """Refuse ``out`` unless it is absent, an empty folder, or an earlier output folder."""
    where = _describe(out, option)
    if out.exists() and not out.is_dir():
        raise InputError(f"{where} is a file, not a folder; give a folder for the results.")
    if out.is_dir():
        try:
            entries = {entry.name for entry in os.scandir(out)}
        except OSError as error:
            raise InputError(f"{where} cannot be read ({error.strerror}); check its permissions.") from None
        earlier = MARKER in entries or any((out / name).is_file() for name in _EARLIER_RESULTS)
        if entries and not earlier:
            raise InputError(
                f"{where} already holds files that are not a BrainTumorAI result, and a run replaces the whole "
                "folder; give a new or empty folder.")


@contextlib.contextmanager
def output_folder(out: PathLike, option: Optional[str] = "--out", command: str = "braintumorai") -> Iterator[OutputFolder]:
    """Check, lock and stage an output folder; swap the staged files in when the block succeeds.

    Args:
        out: the output folder (created with its parents if needed).
        option: the command-line option that named it, for messages (None: the Python API).
        command: what wrote it, recorded in the marker file.

    Raises:
        InputError: ``out`` is a file or holds foreign files, cannot be written, or is in
            use by another run.
    """
    where = _describe(Path(out), option)
    out = Path(os.path.abspath(out))  # "." and "results/" name a folder too
    if out == Path.cwd() or out in Path.cwd().parents:
        raise InputError(f"{where} is the current folder or holds it, and a run replaces the whole folder; "
                         "give a folder for the results inside it.")
    check_replaceable(out, option)
    parent = out.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise InputError(f"{where} cannot be created because '{blocker}' is a file; choose another folder.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{where} cannot be created ({error.strerror or error}); choose a writable place.") from None
    with _lock(parent / f".{out.name}.lock", where):
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        except OSError as error:
            raise InputError(f"{where} cannot be written ({error.strerror or error}); choose a writable folder "
                             "with free space.") from None
        try:
            os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private (0700)
            yield OutputFolder(staging=staging, final=out)
            (staging / MARKER).write_text(json.dumps({"written_by": command, "time": time.time()}) + "\n")
            check_replaceable(out, option)  # nothing foreign appeared meanwhile
            with _signals_deferred():
                _swap_in(staging, out)
        except OSError as error:
            raise InputError(f"Could not write {where} ({error.strerror or error}); check that it is writable and "
                             "has space.") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)


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
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the few renames of the swap, then act on them."""
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
            signal.raise_signal(received[0])
