"""Cohort folders: BraTS-style writers, the synthetic manifest and one loader.

>>> from braintumorai.datasets import load_dataset, load_visit_images
>>> dataset = load_dataset("/data/MICCAI_BraTS2020_TrainingData")   # doctest: +SKIP
>>> print(dataset.skipped_report())                                  # doctest: +SKIP
>>> images = load_visit_images(dataset.records[0])                   # doctest: +SKIP
"""

from .layouts import BRATS2023_LABELS, LAYOUTS, Layout, detect_layout, ucsf_pdgm_id
from .loader import load_dataset, load_visit_images, load_visit_segmentation
from .manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    read_manifest,
    update_manifest,
    write_manifest,
)
from .records import Dataset, VisitRecord
from .writers import FILE_SUFFIXES, case_file, visit_case_id, write_case, write_image_atomic

__all__ = [
    "BRATS2023_LABELS", "Dataset", "FILE_SUFFIXES", "LAYOUTS", "Layout", "MANIFEST_COLUMNS",
    "MANIFEST_NAME", "VisitRecord", "case_file", "detect_layout", "load_dataset", "load_visit_images",
    "load_visit_segmentation", "read_manifest", "ucsf_pdgm_id", "update_manifest", "visit_case_id",
    "write_case", "write_image_atomic", "write_manifest",
]
