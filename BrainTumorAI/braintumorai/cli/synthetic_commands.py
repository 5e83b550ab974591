"""``braintumorai sample`` and ``braintumorai cohort``: synthetic patients on disk
(BraTS-2023-style folders and a manifest.csv), readable by ``braintumorai.datasets``."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from ..errors import InputError
from ..modalities import MODALITIES, normalise_modality
from .progress import add_progress_argument, end_text_progress, progress_mode, progress_printer


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same patients (default 0)")
    parser.add_argument("--visits", type=int, metavar="K", help="visits per patient, 2 to 8 (default: drawn)")
    parser.add_argument("--modalities", nargs="+", default=list(MODALITIES), metavar="NAME",
                        help="modalities to write (default: all six)")
    parser.add_argument("--spacing", type=float, default=2.0, metavar="MM", help="voxel size in mm (default 2)")
    add_progress_argument(parser)


def add_parser(subparsers) -> None:
    sample = subparsers.add_parser("sample", help="write one synthetic patient (all visits) with its manifest")
    _common(sample)
    sample.add_argument("--type", metavar="TYPE", help=f"tumour type: {TYPE_NAMES} (default: drawn "
                                                      "from the seed); no_tumor gives healthy scans")
    sample.set_defaults(run=run_sample)
    cohort = subparsers.add_parser("cohort", help="write a synthetic cohort with one manifest.csv")
    _common(cohort)
    cohort.add_argument("--patients", type=int, required=True, metavar="N", help="number of patients (1 or more)")
    cohort.add_argument("--types", nargs="+", metavar="TYPE",
                        help=f"tumour types to draw from: {TYPE_NAMES} (default: the five tumour types)")
    cohort.set_defaults(run=run_cohort,
                        interrupted_hint="the patients written so far are complete and listed in manifest.csv; "
                                         "rerun the same command to finish the cohort.")


# braintumorai.synthetic.CLASSES, spelled out so that --help does not import the generator.
TYPE_NAMES = "glioblastoma, lower_grade_glioma, metastasis, meningioma, lymphoma, no_tumor"
# Phantom voxel sizes that generate in reasonable time and memory (1 mm: 1 GB, 2 s a case).
SPACING_RANGE_MM = (0.5, 8.0)


def _check(args) -> tuple[str, ...]:
    from ..synthetic import CLASSES

    low, high = SPACING_RANGE_MM
    if not (math.isfinite(args.spacing) and low <= args.spacing <= high):
        raise InputError(f"--spacing {args.spacing:g} is out of range; give a voxel size from {low:g} to {high:g} mm.")
    if args.seed < 0:
        raise InputError(f"--seed {args.seed} is negative; give a seed of 0 or more.")
    if args.visits is not None and not 1 <= args.visits <= 8:
        raise InputError(f"--visits {args.visits} is out of range; use 1 to 8 (2 to 8 for tumour types).")
    for label in ([args.type] if getattr(args, "type", None) else []) + list(getattr(args, "types", None) or []):
        if label not in CLASSES:
            raise InputError(f"Unknown tumour type '{label}'; use one of {', '.join(CLASSES)}.")
    return tuple(normalise_modality(m) for m in args.modalities)


def run_sample(args: argparse.Namespace) -> int:
    from ..datasets import update_manifest
    from ..synthetic.export import write_synthetic_patient

    modalities = _check(args)
    patient_id = f"SYN-{args.seed:05d}"
    records = write_synthetic_patient(args.out, patient_id, args.seed, args.type, args.visits, modalities, args.spacing)
    manifest = update_manifest(args.out, records)
    print(f"wrote {patient_id}: {len(records)} visit(s) of {records[0].label} to {Path(args.out)}; manifest {manifest}")
    return 0


def run_cohort(args: argparse.Namespace) -> int:
    """Write the cohort patient by patient; manifest.csv lists the finished patients after
    each one, so an interrupted run leaves a consistent cohort that the same command resumes."""
    from ..datasets import read_manifest, update_manifest, write_manifest
    from ..datasets.manifest import atomic_write_text
    from ..synthetic.export import cohort_labels, write_synthetic_patient

    modalities = _check(args)
    if args.patients < 1:
        raise InputError("--patients must be at least 1.")
    out = Path(args.out)
    settings = {"seed": args.seed, "patients": args.patients, "visits": args.visits, "modalities": list(modalities),
                "spacing": args.spacing, "types": args.types}
    done = _resumable_patients(out, settings)
    if done is None:
        atomic_write_text(out / COHORT_SETTINGS, json.dumps(settings, indent=2) + "\n")
        done = {}
    mode = progress_mode(args)
    report = progress_printer(mode)
    start, written = time.perf_counter(), 0
    for index, label in enumerate(cohort_labels(args.patients, args.seed, args.types)):
        seed = args.seed * 100_000 + index
        patient_id = f"SYN-{seed:07d}"
        if patient_id in done:
            continue
        records = write_synthetic_patient(out, patient_id, seed, label, args.visits, modalities, args.spacing)
        update_manifest(out, records)
        written += 1
        if report:
            left = (time.perf_counter() - start) / written * (args.patients - index - 1) / 60
            report(f"patient {index + 1} of {args.patients}, about {left:.0f} min left", (index + 1) / args.patients)
    end_text_progress(mode)
    records, _ = read_manifest(out)
    manifest = write_manifest(out, records)
    resumed = f" ({len(done)} patients were already there)" if done else ""
    print(f"wrote {args.patients} patients, {len(records)} visits to {out}; manifest {manifest}{resumed}")
    return 0


# The settings of a cohort being written; a rerun with the same settings resumes it.
COHORT_SETTINGS = "cohort.json"


def _resumable_patients(out: Path, settings: dict):
    """Patients already complete in ``out`` (id -> True) when it holds a cohort begun with
    the same settings; None for a new cohort. Refuses a folder holding another cohort."""
    from ..datasets import read_manifest

    path = out / COHORT_SETTINGS
    if not path.is_file():
        if (out / "manifest.csv").is_file():
            raise InputError(f"'--out {out}' already holds a cohort (manifest.csv); give a new folder.")
        return None
    try:
        earlier = json.loads(path.read_text())
    except ValueError:
        earlier = None
    if earlier != settings:
        raise InputError(f"'--out {out}' holds a cohort begun with other settings ({COHORT_SETTINGS}); give the same "
                         "options to resume it, or a new folder.")
    if not (out / "manifest.csv").is_file():
        return {}
    records, _ = read_manifest(out)
    complete = {r.patient_id for r in records if all(Path(f).is_file() for f in r.files.values())}
    return {patient: True for patient in complete}
