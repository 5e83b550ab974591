"""``braintumorai sample`` and ``braintumorai cohort``: synthetic patients on disk
(BraTS-2023-style folders and a manifest.csv), readable by ``braintumorai.datasets``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..modalities import MODALITIES, normalise_modality


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--visits", type=int, metavar="K", help="visits per patient, 2 to 8 (default: drawn)")
    parser.add_argument("--modalities", nargs="+", default=list(MODALITIES), metavar="NAME",
                        help="modalities to write (default: all six)")
    parser.add_argument("--spacing", type=float, default=2.0, metavar="MM", help="voxel size in mm (default 2)")


def add_parser(subparsers) -> None:
    sample = subparsers.add_parser("sample", help="write one synthetic patient (all visits) with its manifest")
    _common(sample)
    sample.add_argument("--type", help="tumour type (default: drawn from the seed); no_tumor gives healthy scans")
    sample.set_defaults(run=run_sample)
    cohort = subparsers.add_parser("cohort", help="write a synthetic cohort with one manifest.csv")
    _common(cohort)
    cohort.add_argument("--patients", type=int, required=True, metavar="N")
    cohort.add_argument("--types", nargs="+", metavar="TYPE", help="tumour types to draw from (default: the five)")
    cohort.set_defaults(run=run_cohort)


def _check(args) -> tuple[str, ...]:
    from ..synthetic import CLASSES

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
    from ..datasets import write_manifest
    from ..synthetic.export import cohort_labels, write_synthetic_patient

    modalities = _check(args)
    if args.patients < 1:
        raise InputError("--patients must be at least 1.")
    records = []
    for index, label in enumerate(cohort_labels(args.patients, args.seed, args.types)):
        seed = args.seed * 100_000 + index
        records += write_synthetic_patient(args.out, f"SYN-{seed:07d}", seed, label, args.visits, modalities,
                                           args.spacing)
    manifest = write_manifest(args.out, records)
    print(f"wrote {args.patients} patients, {len(records)} visits to {Path(args.out)}; manifest {manifest}")
    return 0
