"""How numbers and class names are written wherever a person reads them (report, figures,
command-line summaries), so each is spelled one way everywhere.

A probability is never rounded to certainty: 0.99957 is "> 0.999", not "1.000"; an
uncertainty of 0.002 is "< 0.01", not "0.00". A class is shown by its human label with
the model's id beside it when they differ ("lower-grade glioma (lower_grade_glioma)"), and
classes are listed most probable first.
"""

from __future__ import annotations

from typing import Mapping, Sequence

# Labels of the bundled model's ids that are not just the id with spaces; any other id
# (a model card may declare its own classes) is shown with its underscores as spaces.
_HUMAN_LABELS = {
    "lower_grade_glioma": "lower-grade glioma",
    "no_tumor": "no tumour",
}


def probability_text(value: float, digits: int = 3) -> str:
    """``value`` in [0, 1] with ``digits`` decimals, never rounded to 0 or 1 when it is
    not: ``0.99957 -> "> 0.999"``, ``0.00004 -> "< 0.001"``, ``1.0 -> "1"``, ``0.0 -> "0"``."""
    value = float(value)
    step = 10.0 ** -digits
    if value >= 1.0:
        return "1"
    if value <= 0.0:
        return "0"
    if value > 1.0 - step:
        return f"> {1.0 - step:.{digits}f}"
    if value < step:
        return f"< {step:.{digits}f}"
    return f"{value:.{digits}f}"


def class_label(class_id: str) -> str:
    """The human label of a model class id ("lower_grade_glioma" -> "lower-grade glioma")."""
    return _HUMAN_LABELS.get(class_id, str(class_id).replace("_", " "))


def class_name(class_id: str) -> str:
    """The label with the model's id beside it when they differ:
    "lower-grade glioma (lower_grade_glioma)", "glioblastoma"."""
    label = class_label(class_id)
    return label if label == class_id else f"{label} ({class_id})"


def by_probability(classes: Sequence[str], probabilities: Mapping[str, float]) -> list[str]:
    """The classes, most probable first (ties keep the model's order)."""
    return sorted(classes, key=lambda c: -float(probabilities[c]))


# Said with every answer of a model trained on phantoms: the OOD score compares a study with the
# training phantoms, so a real study the model gets wrong can still look "like the training
# data" (issue 19: the real BraTS 2023 sample, metastasis 0.95, not flagged).
SYNTHETIC_CAVEAT = ("The model was trained on synthetic phantoms only and has not been validated on real scans: on a "
                    "real study its answer and its prediction set can be wrong even when confident and not flagged.")


def model_caveat(model: Mapping) -> str:
    """:data:`SYNTHETIC_CAVEAT` for a result whose model (result.json's ``model``: its
    ``trained_on``, the card's training-data source) was trained on synthetic data, else ""."""
    return SYNTHETIC_CAVEAT if "synthetic" in str((model or {}).get("trained_on") or "").lower() else ""
