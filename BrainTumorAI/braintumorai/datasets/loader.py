"""One entry point for every supported cohort folder, and lazy image loading."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

import SimpleITK as sitk

from ..errors import InputError
from ..io import read_image
from ..modalities import normalise_modality
from .layouts import LAYOUTS, detect_layout
from .records import Dataset, VisitRecord

PathLike = Union[str, "os.PathLike[str]"]


def load_dataset(root: PathLike, layout: str = "auto", require_all: bool = True) -> Dataset:
    """Find every visit under ``root`` without reading any image.

    Args:
        root: a manifest file (any name: that manifest is read), or the cohort folder (the one holding the case folders, ``manifest.csv``,
            ``images_structural`` or ``Patient-NNN``; a folder whose only
            sub-folder is such a folder works too).
        layout: ``"auto"`` or one of ``LAYOUTS`` (synthetic, lumiere, upenn_gbm,
            ucsf_pdgm, brats2020, brats2021, brats2023).
        require_all: leave out a case that lacks one of the layout's MRI
            modalities (T1, T1C, T2, FLAIR); with False a case is kept with the
            modalities it has. In the synthetic layout the manifest says which
            modalities a case has, and those are always required.

    Returns:
        A :class:`Dataset`; ``skipped`` lists each case or CSV row left out and why
        (missing modality file, unreadable CSV row, id in a CSV without images).

    Raises:
        InputError: ``root`` is not a folder, ``layout`` is unknown, or no layout
            is recognised (e.g. an empty folder).
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise InputError(f"The dataset folder '{path}' does not exist; give the folder that holds the cases.")
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv") and layout in ("auto", "synthetic"):
        from .layouts import _read_synthetic

        return _read_synthetic(path.parent, require_all, manifest=path)  # this manifest, not the folder's
    if not path.is_dir():
        raise InputError(f"'{path}' is a file, not a folder; give the folder that holds the cases.")
    if layout != "auto" and layout not in LAYOUTS:
        raise InputError(f"Unknown layout '{layout}'; use 'auto' or one of {', '.join(LAYOUTS)}.")
    if layout == "auto":
        found = detect_layout(path)
        if found is None:
            # Archives often unpack into one wrapping folder (MICCAI_BraTS2020_TrainingData/).
            children = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if len(children) == 1:
                found = detect_layout(children[0])
                if found is not None:
                    path = children[0]
        if found is None:
            raise InputError(
                f"No supported dataset layout was found in '{path}'; expected one of: "
                + "; ".join(f"{name} ({spec.description})" for name, spec in LAYOUTS.items())
                + "."
            )
        layout = found
    return LAYOUTS[layout].read(path, require_all)


def _read(path: str, what: str) -> sitk.Image:
    if not os.path.isfile(path):
        raise InputError(f"The {what} file '{path}' is missing; reload the dataset to refresh its file list.")
    return read_image(path)


def load_visit_images(record: VisitRecord, modalities: Optional[Iterable[str]] = None) -> dict[str, sitk.Image]:
    """Read the images of one visit: ``{modality: SimpleITK.Image}`` in channel order.

    Reads with ``braintumorai.io.read_image``, so a dataset's files pass the same
    checks as any input (3-D, complete, finite, not constant). ``modalities`` picks a
    subset; asking for one the visit lacks is an InputError.
    """
    wanted = list(record.files) if modalities is None else [normalise_modality(m) for m in modalities]
    absent = [m for m in wanted if m not in record.files]
    if absent:
        raise InputError(
            f"Case {record.case_id} has no {', '.join(absent)} image; it has {', '.join(record.modalities)}."
        )
    return {m: _read(record.files[m], f"{m} image of case {record.case_id}") for m in record.modalities if m in wanted}


def load_visit_segmentation(record: VisitRecord) -> Optional[sitk.Image]:
    """The label map of a visit, or None when it has none.

    Read with SimpleITK directly: an all-zero map (no tumour) is valid here.
    """
    if record.seg_path is None:
        return None
    if not os.path.isfile(record.seg_path):
        raise InputError(f"The segmentation file '{record.seg_path}' of case {record.case_id} is missing.")
    try:
        return sitk.ReadImage(record.seg_path)
    except RuntimeError as error:
        raise InputError(f"Cannot read the segmentation file '{record.seg_path}' of case {record.case_id}.") from error
