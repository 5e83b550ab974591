"""What the prognosis model reads at each visit, as one number vector per visit.

Per visit (in this order):

- image: the classifier's study embedding, standardised with the training mean and
  standard deviation, and a flag (1 = imaged; 0 and zeros for a visit without images);
- compartments: ``log1p`` of the tumour core, oedema and enhancing volumes (mL) from a
  BraTS-style segmentation, and a flag (0 and zeros without one);
- time: years since the first visit, and ``log1p(days since the previous visit) / log(365)``;
- treatments received by this visit: surgery, radiotherapy, chemotherapy (0/1 each);
- clinical covariates (the same at every visit): a number is ``(x - centre) / scale`` with
  a missing flag (0 and flag 1 when missing); a category is one-hot over its levels with a
  missing flag.

A :class:`FeatureSpec` fixes the layout and the scalings; it is stored in the model card so
training and inference build the same vector. Covariates-only models (``image_dim = 0``,
``compartments = False``) serve tabular survival data: one visit per patient.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import InputError
from .compartments import COMPARTMENTS
from .treatments import TREATMENTS

_GAP_SCALE = math.log(365.0)

# The clinical covariates of the imaging models (DESIGN.md: age, sex, KPS; each may be missing).
CLINICAL_COVARIATES: tuple[dict, ...] = (
    {"name": "age", "kind": "number", "centre": 55.0, "scale": 10.0},
    {"name": "sex", "kind": "category", "levels": ["F", "M"]},
    {"name": "kps", "kind": "number", "centre": 80.0, "scale": 10.0},
)


@dataclass
class VisitData:
    """One visit as the feature builder takes it (plain data).

    Attributes:
        day: days since the first visit (0 for the first).
        treatments: treatments received by this visit (subset of ``TREATMENTS``).
        embedding: the classifier's study embedding, or None for a visit without images.
        probabilities: the classifier's class probabilities of the same study (read when the
            spec names ``class_names``).
        compartments: ``{core_ml, oedema_ml, enhancing_ml}`` or None without a segmentation.
    """

    day: float
    treatments: tuple[str, ...] = ()
    embedding: Optional[np.ndarray] = None
    compartments: Optional[Mapping[str, float]] = None
    probabilities: Optional[Mapping[str, float]] = None


@dataclass
class FeatureSpec:
    """Layout and scalings of the visit vector (JSON-ready through :meth:`to_dict`)."""

    image_dim: int = 0
    image_mean: list = field(default_factory=list)
    image_std: list = field(default_factory=list)
    image_components: list = field(default_factory=list)
    class_names: list = field(default_factory=list)
    compartments: bool = False
    covariates: list = field(default_factory=lambda: [dict(c) for c in CLINICAL_COVARIATES])

    @property
    def names(self) -> list[str]:
        """One name per vector entry, in order."""
        names = []
        if self.image_dim:
            names += [f"image_{i}" for i in range(len(self.image_components) or self.image_dim)]
            names += [f"image_log_p_{c}" for c in self.class_names] + ["image_present"]
        if self.compartments:
            names += [f"log1p_{c}" for c in COMPARTMENTS] + ["segmentation_present"]
        names += ["years_since_first_visit", "log_gap_days"] + [f"treatment_{t}" for t in TREATMENTS]
        for covariate in self.covariates:
            if covariate["kind"] == "number":
                names.append(covariate["name"])
            else:
                names += [f"{covariate['name']}={level}" for level in covariate["levels"]]
            names.append(f"{covariate['name']}_missing")
        return names

    @property
    def size(self) -> int:
        return len(self.names)

    def columns(self, group: str) -> list[int]:
        """Vector positions of a part: ``image``, ``compartments`` (each with its presence
        flag last), or a covariate's name (its value columns, then its missing flag last)."""
        names = self.names
        if group == "image":
            return [i for i, n in enumerate(names) if n.startswith("image_")]
        if group == "compartments":
            return [i for i, n in enumerate(names) if n.startswith("log1p_") or n == "segmentation_present"]
        found = [i for i, n in enumerate(names) if n == group or n.startswith(f"{group}=") or n == f"{group}_missing"]
        if not found:
            raise InputError(f"This model has no covariate {group!r}.")
        return found

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "FeatureSpec":
        keys = ("image_dim", "image_mean", "image_std", "image_components", "class_names", "compartments", "covariates")
        return cls(**{k: data[k] for k in keys if k in data})


def covariate_vector(spec: FeatureSpec, values: Optional[Mapping]) -> np.ndarray:
    """The clinical part of the vector from ``{name: value}`` (None, NaN or absent = missing)."""
    values = dict(values or {})
    out = []
    for covariate in spec.covariates:
        name, value = covariate["name"], values.get(covariate["name"])
        missing = value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
        if covariate["kind"] == "number":
            if not missing:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise InputError(f"Covariate {name} must be a number, got {value!r}.") from None
                if not math.isfinite(value):
                    missing = True
            out.append(0.0 if missing else (value - covariate["centre"]) / covariate["scale"])
        else:
            levels = [str(level) for level in covariate["levels"]]
            if not missing and str(value) not in levels:
                raise InputError(f"Covariate {name} is {value!r}; this model knows {', '.join(levels)} "
                                 "(or leave it missing).")
            out += [float(not missing and str(value) == level) for level in levels]
        out.append(float(missing))
    return np.asarray(out, np.float32)


def image_part(spec: FeatureSpec, visit: VisitData) -> list[float]:
    """The image entries of a visit's vector: the standardised embedding (or its principal
    components when the spec has them), the log class probabilities, the presence flag."""
    size = len(spec.image_components) or spec.image_dim
    if visit.embedding is None:
        return [0.0] * (size + len(spec.class_names) + 1)
    vector = np.asarray(visit.embedding, np.float32)
    if vector.shape != (spec.image_dim,):
        raise InputError(f"An image embedding of shape {vector.shape} does not fit this model "
                         f"({spec.image_dim} values); use the classifier it was trained with.")
    standardised = (vector - np.asarray(spec.image_mean, np.float32)) / np.maximum(np.asarray(spec.image_std, np.float32), 1e-6)
    if spec.image_components:
        standardised = np.asarray(spec.image_components, np.float32) @ standardised
    out = list(standardised)
    if spec.class_names:
        if visit.probabilities is None:
            raise InputError("This prognosis model reads the classifier's class probabilities; give them with the embedding.")
        out += [math.log(max(float(visit.probabilities[c]), 1e-4)) for c in spec.class_names]
    return out + [1.0]


def visit_matrix(spec: FeatureSpec, visits: Sequence[VisitData], clinical: Optional[Mapping] = None) -> np.ndarray:
    """``(K, F)`` float32: one row per visit, visits in the order given (sorted by day)."""
    static = covariate_vector(spec, clinical)
    rows, previous = [], None
    for visit in visits:
        row = []
        if spec.image_dim:
            row += image_part(spec, visit)
        if spec.compartments:
            if visit.compartments is None:
                row += [0.0] * len(COMPARTMENTS) + [0.0]
            else:
                row += [math.log1p(max(float(visit.compartments[c]), 0.0)) for c in COMPARTMENTS] + [1.0]
        gap = 0.0 if previous is None else max(float(visit.day) - previous, 0.0)
        row += [float(visit.day) / 365.25, math.log1p(gap) / _GAP_SCALE]
        row += [float(t in visit.treatments) for t in TREATMENTS]
        rows.append(np.concatenate([np.asarray(row, np.float32), static]))
        previous = float(visit.day)
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, spec.size), np.float32)
