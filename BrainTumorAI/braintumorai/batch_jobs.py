"""What one batch job does, in whatever process runs it (this one, a local worker process, or
a Dask worker): classify one case, or predict one patient's survival, into a folder of its own.

A job's folder is written under a temporary name and renamed into place when complete, so
a finished job is a folder with its result file, and an interrupted one leaves nothing under
the final name. A job that fails writes ``error.json`` (its one-sentence error) instead, and
the batch goes on. Models are loaded once per process and reused across its jobs.
"""

from __future__ import annotations

import json
import os
import shutil
import traceback
from pathlib import Path
from typing import Optional

_models: dict = {}

CASE_RESULT = "result.json"
PATIENT_RESULT = "survival.json"
ERROR_FILE = "error.json"


def _classifier(model: Optional[str], device: Optional[str]):
    from .pipeline import Classifier

    key = ("classifier", model, device)
    if key not in _models:
        _models[key] = Classifier.load(model, device=device)
    return _models[key]


def _prognosticator(model: Optional[str], device: Optional[str]):
    from .prognosis import Prognosticator

    key = ("prognosis", model, device)
    if key not in _models:
        _models[key] = Prognosticator.load(model, device=device)
    return _models[key]


def _in_place(folder: Path, write) -> None:
    """Run ``write(temporary_folder)`` and rename the folder into place; a folder already
    there (the job was done meanwhile by another worker) is kept."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        write(temporary)
        try:
            os.rename(temporary, folder)
        except OSError:  # finished by someone else, or a failed attempt's folder: replace a failure only,
            # and only a folder holding nothing but the error.json a failed job writes.
            if _holds_only_an_error(folder):
                (folder / ERROR_FILE).unlink()
                folder.rmdir()
                os.rename(temporary, folder)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _holds_only_an_error(folder: Path) -> bool:
    try:
        return folder.is_dir() and not folder.is_symlink() and [p.name for p in folder.iterdir()] == [ERROR_FILE]
    except OSError:
        return False


def _error_sentence(error: BaseException) -> str:
    from .errors import BrainTumorAIError

    if isinstance(error, BrainTumorAIError):
        return str(error)
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return f"Unexpected error ({last}); please report it with this case."


def classify_job(job: dict) -> dict:
    """``job``: ``{case, folder, files, saliency, model, device}`` -> ``{case, ok, error}``."""
    folder = Path(job["folder"])

    def write(temporary: Path) -> None:
        try:
            classifier = _classifier(job.get("model"), job.get("device"))
            result = classifier.predict(job["files"], saliency=job.get("saliency"))
            result.save(temporary, final_dir=folder)  # the map paths in result.json name the final folder
        except Exception as error:  # recorded, and the batch goes on
            for child in temporary.iterdir():
                child.unlink()
            (temporary / ERROR_FILE).write_text(json.dumps({"case": job["case"], "error": _error_sentence(error)}))

    _in_place(folder, write)
    return {"case": job["case"], "ok": (folder / CASE_RESULT).exists()}


def prognose_job(job: dict) -> dict:
    """``job``: ``{patient, folder, visits: [{day, study, segmentation, treatments, name}], clinical,
    model, device}`` -> ``{patient, ok}``."""
    folder = Path(job["folder"])

    def write(temporary: Path) -> None:
        try:
            prediction = _prognosticator(job.get("model"), job.get("device")).predict(job["visits"], job["clinical"])
            prediction.save(temporary)
        except Exception as error:
            for child in temporary.iterdir():
                child.unlink()
            (temporary / ERROR_FILE).write_text(json.dumps({"patient": job["patient"],
                                                            "error": _error_sentence(error)}))

    _in_place(folder, write)
    return {"patient": job["patient"], "ok": (folder / PATIENT_RESULT).exists()}


def run_job(job: dict) -> dict:
    """Dispatch on ``job["kind"]`` (``classify`` or ``prognose``): the function the
    executors run."""
    import SimpleITK as sitk

    # One thread per worker process: the workers are the parallelism.
    if job.get("single_threaded"):
        import torch

        torch.set_num_threads(1)
        sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    return classify_job(job) if job["kind"] == "classify" else prognose_job(job)
