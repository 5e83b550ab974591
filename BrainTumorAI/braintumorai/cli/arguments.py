"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import math
import os
from typing import Optional

from ..case_folder import SEGMENTATION_TOKENS, expand_case_folders, is_segmentation_name
from ..errors import InputError
from ..modalities import assign_modalities, normalise_modality


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE... (modality from the name) and --modality NAME=FILE (explicit)."""
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="volume files, DICOM series folders or a case folder holding them (BraTS-style "
                             "names, a DICOM study); the modality is read from the name (t1c, t2f, FLAIR, CT1 ...)")
    parser.add_argument("--modality", "-m", action="append", default=[], metavar="NAME=FILE",
                        help="give a volume's modality explicitly (T1, T1C, T2, FLAIR, CT, PET); repeatable")
    parser.add_argument("--reference", metavar="MODALITY",
                        help="reference modality (default: first present of T1C, T1, FLAIR, T2, CT, PET)")
    parser.add_argument("--pet-weight", type=float, metavar="KG",
                        help="patient weight in kg, for PET SUV from Bq/mL (default: the DICOM tag, if any)")
    parser.add_argument("--pet-dose", type=float, metavar="MBQ",
                        help="injected dose in MBq, decay-corrected to the scan start, for PET SUV from Bq/mL "
                             "(default: the DICOM tags, if any)")


def pet_arguments(args: argparse.Namespace) -> dict[str, dict]:
    """``{"PET": {...}}`` from --pet-weight / --pet-dose (empty when neither was given)."""
    metadata = {}
    for option, value, key, scale in (("--pet-weight", args.pet_weight, "patient_weight_kg", 1.0),
                                      ("--pet-dose", args.pet_dose, "injected_dose_bq", 1e6)):
        if value is None:
            continue
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"{option} {value:g} is not a positive number; give it in "
                             f"{'kg' if scale == 1.0 else 'MBq'}, e.g. {option} {70 if scale == 1.0 else 370}.")
        metadata[key] = value * scale
    return {"PET": metadata} if metadata else {}


def check_exists(path: str, where: str = "") -> None:
    """Refuse a path that does not exist with that sentence (not "cannot tell the modality"),
    naming the nearest name in its folder when there is one (a typo). A link is left to the
    reader, which says what is wrong with it."""
    if os.path.exists(path) or os.path.lexists(path):
        return
    folder = os.path.dirname(os.path.abspath(path))
    near = []
    if os.path.isdir(folder):
        with contextlib.suppress(OSError):
            near = difflib.get_close_matches(os.path.basename(path.rstrip("/")), os.listdir(folder), n=1, cutoff=0.75)
    hint = f" (did you mean '{os.path.join(os.path.dirname(path), near[0])}'?)" if near else \
        "" if os.path.isdir(folder) else f" (nor does its folder '{folder}')"
    raise InputError(f"'{path}'{where} does not exist{hint}; check the path.")


def refuse_segmentation(path: str, command: str) -> None:
    if is_segmentation_name(path) and not os.path.isdir(path):
        raise InputError(f"'{path}' is a segmentation (a label map), and segmentations are not inputs of {command}: "
                         "it reads images only; leave it out.")


def unused_pet_options(args: argparse.Namespace, study) -> Optional[str]:
    """The sentence saying why --pet-weight / --pet-dose were not used, or None when they were
    (or were not given): a study without PET, or a PET whose units say it is already in SUV.

    ``study``: the :class:`~braintumorai.study.Study` read (its images and metadata)."""
    given = [option for option, value in (("--pet-weight", args.pet_weight), ("--pet-dose", args.pet_dose))
             if value is not None]
    if not given:
        return None
    options = " and ".join(given)
    verb = "were" if len(given) > 1 else "was"
    if "PET" not in study.images:
        return f"{options} {verb} not used: the study has no PET volume."
    from ..normalization import SUV_UNITS  # here, not at the top: numpy stays out of --help

    units = str((study.metadata or {}).get("PET", {}).get("units") or "").upper()
    if units in SUV_UNITS:
        return f"{options} {verb} not used: the PET is already in SUV (its units say {units})."
    return None


def input_files(args: argparse.Namespace) -> dict[str, str]:
    """modality -> path from FILE... and --modality NAME=FILE; a clear error on clashes."""
    explicit: dict[str, str] = {}
    command = getattr(args, "command", None) or "this command"
    for item in args.modality:
        if "=" not in item:
            raise InputError(f"'--modality {item}' is not of the form NAME=FILE, e.g. --modality T1C=post.nii.gz.")
        name, path = item.split("=", 1)
        if not path:
            raise InputError(f"'--modality {item}' names no file; give it as NAME=FILE, e.g. --modality T1C=post.nii.gz.")
        if name.strip().lower() in SEGMENTATION_TOKENS:
            raise InputError(f"'--modality {item}' gives a segmentation, and segmentations are not inputs of {command}: "
                             "it reads images only; leave it out.")
        check_exists(path, f" (--modality {name})")
        modality = normalise_modality(name)
        if modality in explicit:
            raise InputError(f"{modality} was given twice; keep one volume per modality.")
        explicit[modality] = path
    for path in args.files:
        check_exists(path)
        refuse_segmentation(path, command)
    by_name = assign_modalities(expand_case_folders(args.files)) if args.files else {}
    for modality, path in by_name.items():
        if modality in explicit:
            raise InputError(
                f"{modality} was given twice ('{explicit[modality]}' and '{path}'); keep one volume per modality."
            )
    files = {**by_name, **explicit}
    if not files:
        raise InputError("No volume was given; pass at least one FILE or --modality NAME=FILE.")
    return files
