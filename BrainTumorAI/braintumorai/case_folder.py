"""A case folder given where volume files are expected (``classify``, ``inspect``,
``prognose --visit DAY:FOLDER``): the folder of one study, as BraTS and most toolkits write it.

- volume files named by modality (``BraTS-GLI-00001-000-t1c.nii.gz``, ``flair.nrrd``, ...):
  those files; a ``*seg*`` file is the segmentation, kept apart;
- a DICOM study folder (one sub-folder per series): those series folders;
- a DICOM series folder itself (files without a volume suffix): not a case folder, read as
  one volume.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import InputError

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
SEGMENTATION_TOKENS = ("seg", "segmentation")


def is_segmentation_name(path: os.PathLike) -> bool:
    """True for a BraTS-style segmentation file name (``case-seg.nii.gz``, ``seg.nii.gz``)."""
    tokens = Path(path).name.lower().replace("-", "_").replace(".", "_").split("_")
    return any(token in SEGMENTATION_TOKENS for token in tokens)


def case_folder_contents(folder: os.PathLike) -> Optional[tuple[list[str], Optional[str]]]:
    """``(volumes, segmentation)`` of a case folder, or None when ``folder`` is not a folder
    or is a DICOM series folder (one volume). Volumes are sorted paths (files or DICOM
    series folders); a folder holding neither is refused with one sentence."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    entries = sorted(folder.iterdir())
    images = [p for p in entries if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)]
    if images:
        segmentations = [p for p in images if is_segmentation_name(p)]
        if len(segmentations) > 1:
            raise InputError(f"The folder '{folder}' holds {len(segmentations)} segmentations; keep one.")
        volumes = [str(p) for p in images if p not in segmentations]
        return volumes, (str(segmentations[0]) if segmentations else None)
    series = [str(p) for p in entries if p.is_dir() and not p.name.startswith(".")]
    cases = [p for p in series if _holds_volume_files(Path(p))]
    if cases or (folder / "manifest.csv").is_file():
        raise InputError(f"'{folder}' is a cohort folder (it holds {len(cases)} case folder{'s' if len(cases) != 1 else ''}"
                         " with volume files), not one study; give one case's folder, or run braintumorai batch on it.")
    if any(p.is_file() and not p.name.startswith(".") for p in entries):
        return None  # files without a volume suffix: a DICOM series
    if not series:
        raise InputError(f"The folder '{folder}' holds no volume (NIfTI, NRRD, MetaImage or DICOM series); "
                         "give the volume files themselves.")
    return series, None


def _holds_volume_files(folder: Path) -> bool:
    try:
        return any(p.name.lower().endswith(IMAGE_SUFFIXES) and p.is_file() for p in folder.iterdir())
    except OSError:
        return False


def expand_case_folders(paths: list[str]) -> list[str]:
    """Each case folder among ``paths`` replaced by its volumes (segmentations left out)."""
    expanded = []
    for path in paths:
        contents = case_folder_contents(path)
        expanded += [path] if contents is None else contents[0]
    return expanded
