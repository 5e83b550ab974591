"""Cohort-scale runs: classify every case and predict every patient's survival, resumably,
serially, on local worker processes, or on a Dask cluster.

    run_batch(root, out, workers=1, scheduler=None, ...)

- Cases come from the one dataset loader (a ``manifest.csv`` or any supported layout).
- ``out/cases/<case>/`` holds a case's ``result.json`` (and maps), ``out/patients/<patient>/``
  a patient's ``survival.json`` (patients with two or more dated visits); a job that failed
  holds ``error.json`` with its one sentence. Finished jobs are never redone; failed ones are
  tried again by the next run; an interrupted job leaves nothing under its final name.
- ``out/results.csv`` is rebuilt from those folders at the end (sorted by case), so a
  serial run, a parallel run and a resumed run give the same file.
- Parallelism is an existing engine's: ``concurrent.futures`` processes on this machine
  (``workers``), or ``dask.distributed`` (``scheduler``: the address of a running cluster,
  e.g. one started on SLURM or PBS with ``dask-jobqueue``, or a ``Client`` / ``LocalCluster``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from .batch_jobs import CASE_RESULT, ERROR_FILE, PATIENT_RESULT, run_job
from .errors import InputError

ProgressCallback = Callable[[int, int, float], None]


def plan_jobs(dataset, out: Path, saliency: Optional[str], model: Optional[str], prognosis_model: Optional[str],
              device: Optional[str], prognosis: bool = True) -> tuple[list[dict], list[dict]]:
    """(jobs to run, jobs already finished) for every case and every patient with two or
    more dated visits."""
    todo, done = [], []
    common = {"model": model, "device": device}
    for record in dataset.records:
        folder = out / "cases" / record.case_id
        job = {"kind": "classify", "case": record.case_id, "folder": str(folder), "files": dict(record.files),
               "saliency": saliency, **common}
        (done if (folder / CASE_RESULT).exists() else todo).append(job)
    if prognosis:
        for patient, visits in dataset.patients().items():
            dated = [v for v in visits if v.visit_day is not None]
            if len(dated) < 2:
                continue
            folder = out / "patients" / patient
            first = dated[0]
            job = {"kind": "prognose", "patient": patient, "folder": str(folder), "model": prognosis_model,
                   "device": device,
                   "visits": [{"day": v.visit_day, "study": dict(v.files), "segmentation": v.seg_path,
                               "treatments": list(v.treatments), "name": f"visit {v.case_id}"} for v in dated],
                   "clinical": {"age": first.age, "sex": first.sex if first.sex in ("M", "F") else None,
                                "kps": first.kps}}
            (done if (folder / PATIENT_RESULT).exists() else todo).append(job)
    return todo, done


def _execute(jobs: list[dict], workers: int, scheduler, report: Callable[[dict], None]) -> None:
    if scheduler is not None:
        from dask.distributed import Client, as_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            for future in as_completed(client.map(run_job, jobs, pure=False)):
                report(future.result())
        finally:
            if client is not scheduler:
                client.close()
    elif workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        single = [dict(job, single_threaded=True) for job in jobs]
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(run_job, job) for job in single]):
                report(future.result())
    else:
        for job in jobs:
            report(run_job(job))


def run_batch(root: os.PathLike, out: os.PathLike, workers: int = 1, scheduler=None, saliency: Optional[str] = None,
              model: Optional[str] = None, prognosis_model: Optional[str] = None, device: Optional[str] = None,
              prognosis: bool = True, progress: Optional[ProgressCallback] = None,
              out_option: Optional[str] = None) -> dict:
    """Run every job of the cohort at ``root`` (a folder, or a manifest file: that one is read)
    into ``out``; returns a summary ``{cases, patients, failed, skipped_finished, seconds,
    results_csv, skipped_by_loader}``. ``out`` is checked and locked before any work as
    :func:`braintumorai.output_folder.batch_folder` says; ``out_option`` names it in messages."""
    from .datasets import load_dataset
    from .output_folder import batch_folder, mark_batch_folder

    if workers < 1:
        raise InputError(f"--workers {workers} is not a number of processes; use 1 or more.")
    with batch_folder(out, option=out_option) as out:  # checked before any work, locked for the run
        dataset = load_dataset(Path(root))
        _refuse_unsafe_names(dataset)
        if not dataset.records:
            raise InputError(f"No usable case was found in '{root}'; "
                             f"{_first_reasons(dataset) or 'it is empty'}.")
        mark_batch_folder(out, option=out_option)
        return _run(dataset, out, workers, scheduler, saliency, model, prognosis_model, device, prognosis,
                    progress)


def _first_reasons(dataset, shown: int = 2) -> str:
    """The first reasons the loader left cases out, short (a cohort can skip hundreds)."""
    reasons = [f"{what}: {why.rstrip('.')}" for what, why in dataset.skipped[:shown]]
    more = len(dataset.skipped) - shown
    return "; ".join(reasons) + (f" (and {more} more left out)" if more > 0 else "")


def _refuse_unsafe_names(dataset) -> None:
    """Case and patient ids become folder names under --out: a path separator, '.' or '..'
    would reach outside it (every layout's reader keeps them plain; this is the last guard)."""
    for record in dataset.records:
        for what, name in (("case id", record.case_id), ("patient id", record.patient_id)):
            if not name or any(sep in name for sep in ("/", "\\", "\0")) or name in (".", "..") \
                    or os.path.isabs(name):
                raise InputError(f"The {what} '{name}' is not a plain folder name, and it would be written outside "
                                 "--out; rename it in the manifest.")


def _run(dataset, out: Path, workers, scheduler, saliency, model, prognosis_model, device, prognosis,
         progress) -> dict:
    todo, done = plan_jobs(dataset, out, saliency, model, prognosis_model, device, prognosis)
    start, finished = time.perf_counter(), [0]

    def report(_: dict) -> None:
        finished[0] += 1
        if progress:
            progress(finished[0], len(todo), time.perf_counter() - start)

    _execute(todo, workers, scheduler, report)
    csv_path = write_results_csv(out, dataset)
    failed = [p.parent.name for p in sorted(out.glob("*/*/" + ERROR_FILE))]
    return {"cases": len(dataset.records), "patients": sum(j["kind"] == "prognose" for j in todo + done),
            "ran": len(todo), "skipped_finished": len(done), "failed": failed,
            "seconds": time.perf_counter() - start, "results_csv": str(csv_path),
            "skipped_by_loader": dataset.skipped}


def _read(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_results_csv(out: Path, dataset) -> Path:
    """One row per case (sorted): its classification, its patient's survival figures, its error."""
    from .datasets.manifest import atomic_write_text

    rows, classes, with_ood = [], [], False
    for record in sorted(dataset.records, key=lambda r: r.case_id):
        case = out / "cases" / record.case_id
        result = _read(case / CASE_RESULT) or {}
        error = (_read(case / ERROR_FILE) or {}).get("error", "" if result else "not run")
        patient = out / "patients" / record.patient_id
        survival = _read(patient / PATIENT_RESULT) or {}
        survival_error = (_read(patient / ERROR_FILE) or {}).get("error", "")
        for name in result.get("classes", []):
            if name not in classes:
                classes.append(name)
        with_ood = with_ood or "ood_flag" in result
        rows.append((record, result, error, survival, survival_error))
    header = ["case", "patient", "visit_day", "predicted", *[f"p_{c}" for c in classes], "prediction_set",
              "uncertainty", *(["ood_score", "ood_flag"] if with_ood else []), "median_survival_days",
              "survival_1y", "survival_2y", "survival_risk", "error", "survival_error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record, result, error, survival, survival_error in rows:
        probabilities = result.get("probabilities", {})
        writer.writerow([
            record.case_id, record.patient_id, "" if record.visit_day is None else record.visit_day,
            result.get("predicted", ""), *[_number(probabilities.get(c)) for c in classes],
            ";".join(result.get("prediction_set", [])), _number(result.get("uncertainty")),
            *([_number(result.get("ood_score")), result.get("ood_flag", "")] if with_ood else []),
            _number(survival.get("median_days")), _number(survival.get("survival_1y")),
            _number(survival.get("survival_2y")), _number(survival.get("risk")), error, survival_error])
    return atomic_write_text(out / "results.csv", buffer.getvalue())


def _number(value) -> str:
    return "" if value is None else f"{float(value):.6g}"


def print_progress(done: int, total: int, seconds: float) -> None:
    """``[12/340] 3.1 jobs/min, about 1 h 45 min left`` on stderr, rewritten in place."""
    rate = done / max(seconds, 1e-9) * 60
    left = (total - done) / max(rate, 1e-9)
    eta = f"{int(left // 60)} h {int(left % 60)} min" if left >= 60 else f"{left:.0f} min" if left >= 1 else "<1 min"
    end = "\n" if done == total else ""
    print(f"\r  [{done}/{total}] {rate:.1f} jobs/min, about {eta} left".ljust(60), end=end, file=sys.stderr, flush=True)
