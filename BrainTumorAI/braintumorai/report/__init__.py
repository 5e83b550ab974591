"""The report for the tumour board: one self-contained HTML page and its figures as PNGs.

``write_report(out_dir, classification=..., saliency=..., reference=..., survival=...,
identifiers=...)`` writes it (see :mod:`braintumorai.report.writer`);
``read_classification_folder(folder)`` reads what ``braintumorai classify`` wrote.
Figures: saliency slices through each map's peak (and through the lesion, when a mask is
given) with colour bar and orientation labels, class probabilities, modality weights, the
survival curve with band and median and the curve after each visit.
"""

from .html import NOT_FOR_CLINICAL_USE  # noqa: F401
from .writer import REPORT_FILE, read_classification_folder, write_report  # noqa: F401

__all__ = ["NOT_FOR_CLINICAL_USE", "REPORT_FILE", "read_classification_folder", "write_report"]
