"""Writers of the BraTS-2023-style case folders used for synthetic cohorts.

One visit is one folder ``OUT/CASE-TTT/`` holding ``CASE-TTT-<suffix>.nii.gz`` per
modality, the suffixes of BraTS 2023 (``t1n, t1c, t2w, t2f``) extended with ``ct``
and ``pet``, and ``CASE-TTT-seg.nii.gz`` for the label map. Every file is written
to a temporary name in the same folder and then renamed with ``os.replace``, so a
crash or a full disk never leaves a half-written volume under the final name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Optional, Union

import SimpleITK as sitk

from ..errors import InputError
from ..io import write_image_atomic
from ..modalities import MODALITIES, normalise_modality
from .records import VisitRecord

PathLike = Union[str, "os.PathLike[str]"]

# Modality -> file suffix, BraTS 2023 naming for MRI, plain names for CT and PET.
FILE_SUFFIXES: dict[str, str] = {
    "T1": "t1n", "T1C": "t1c", "T2": "t2w", "FLAIR": "t2f", "CT": "ct", "PET": "pet",
}
SEG_SUFFIX = "seg"
EXTENSION = ".nii.gz"

# Characters allowed in a case id: it becomes a folder and a file name everywhere.
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Integer pixel types a label map may keep as they are.
_INTEGER_TYPES = {
    sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16,
    sitk.sitkUInt32, sitk.sitkInt32, sitk.sitkUInt64, sitk.sitkInt64,
}


def visit_case_id(patient_id: str, visit_index: int) -> str:
    """The BraTS 2023 style case id of a visit: ``PATIENT-TTT`` (``SYN-00001-002``)."""
    if visit_index < 0 or visit_index > 999:
        raise InputError(f"Visit index {visit_index} is outside 0-999; BraTS-style ids have three digits.")
    return f"{patient_id}-{visit_index:03d}"


def case_file(out_dir: PathLike, case_id: str, modality_or_seg: str) -> Path:
    """Path of one file of a case: ``out_dir/case_id/case_id-<suffix>.nii.gz``.

    ``modality_or_seg`` is a modality name (any spelling ``normalise_modality``
    accepts) or ``"seg"``.
    """
    if modality_or_seg.lower() == SEG_SUFFIX:
        suffix = SEG_SUFFIX
    else:
        suffix = FILE_SUFFIXES[normalise_modality(modality_or_seg)]
    return Path(out_dir) / case_id / f"{case_id}-{suffix}{EXTENSION}"




def _as_label_map(seg: sitk.Image, case_id: str) -> sitk.Image:
    """Integer label maps pass; float maps with whole values 0-255 become UInt8."""
    if seg.GetDimension() != 3:
        raise InputError(f"The segmentation of case {case_id} is {seg.GetDimension()}-D; give a 3-D label map.")
    if seg.GetPixelID() in _INTEGER_TYPES:
        return seg
    array = sitk.GetArrayViewFromImage(seg)
    import numpy as np

    if array.size and (not np.all(np.isfinite(array)) or np.any(array != np.round(array))
                       or array.min() < 0 or array.max() > 255):
        raise InputError(
            f"The segmentation of case {case_id} has non-integer or out-of-range values; "
            "give integer labels between 0 and 255."
        )
    return sitk.Cast(seg, sitk.sitkUInt8)


def write_case(
    out_dir: PathLike,
    case_id: str,
    images: Mapping[str, sitk.Image],
    seg: Optional[sitk.Image] = None,
    *,
    patient_id: Optional[str] = None,
    visit_day: Optional[int] = 0,
    label: Optional[str] = None,
    age: Optional[float] = None,
    sex: Optional[str] = None,
    kps: Optional[float] = None,
    treatments: Iterable[str] = (),
    survival_days: Optional[float] = None,
    event: Optional[int] = None,
    compress: bool = True,
) -> VisitRecord:
    """Write one visit as ``out_dir/case_id/case_id-{t1n,t1c,t2w,t2f,ct,pet,seg}.nii.gz``.

    Args:
        out_dir: cohort folder (created if needed).
        case_id: folder and file prefix, e.g. ``visit_case_id("SYN-00001", 0)``;
            letters, digits, '.', '_' and '-' only.
        images: ``{modality: 3-D image}``; keys in any spelling accepted by
            ``normalise_modality`` (``"T1C"``, ``"t1c"``, ``"t1ce"`` ...).
        seg: optional integer label map on the same grid.
        patient_id: defaults to ``case_id`` without a trailing ``-TTT``.
        visit_day, label, age, sex, kps, treatments, survival_days, event: copied
            into the returned record, for :func:`write_manifest`.

    Returns:
        The :class:`VisitRecord` of the written case (absolute paths), ready to be
        listed in ``manifest.csv`` with :func:`braintumorai.datasets.write_manifest`.
    """
    if not isinstance(case_id, str) or not _CASE_ID.match(case_id):
        raise InputError(
            f"Case id {case_id!r} is not usable as a folder name; use letters, digits, '.', '_' and '-'."
        )
    if not images:
        raise InputError(f"Case {case_id} has no image; give at least one modality.")
    canonical: dict[str, sitk.Image] = {}
    for name, image in images.items():
        modality = normalise_modality(name)
        if modality in canonical:
            raise InputError(f"Case {case_id} has two images for {modality}; give one per modality.")
        if not isinstance(image, sitk.Image) or image.GetDimension() != 3:
            raise InputError(f"The {modality} image of case {case_id} is not a 3-D SimpleITK image.")
        canonical[modality] = image
    if event not in (None, 0, 1):
        raise InputError(f"Event {event!r} of case {case_id} must be 1 (death), 0 (censored) or None.")
    if patient_id is None:
        patient_id = re.sub(r"-\d{3}$", "", case_id)

    files: dict[str, str] = {}
    for modality in MODALITIES:
        if modality in canonical:
            path = case_file(out_dir, case_id, modality)
            write_image_atomic(canonical[modality], path, compress)
            files[modality] = str(path.resolve())
    seg_path = None
    if seg is not None:
        path = case_file(out_dir, case_id, SEG_SUFFIX)
        write_image_atomic(_as_label_map(seg, case_id), path, compress)
        seg_path = str(path.resolve())
    return VisitRecord(
        patient_id=patient_id, case_id=case_id, visit_day=visit_day, files=files, seg_path=seg_path,
        label=label, age=age, sex=sex, kps=kps, treatments=tuple(treatments),
        survival_days=survival_days, event=event,
    )
