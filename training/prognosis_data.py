"""A cached cohort (training/prognosis_cache.py) as padded visit tensors for the GRU.

``CohortSequences.build(cache, spec)`` turns every patient into ``(K, F)`` visit vectors
with :func:`braintumorai.survival.visit_features.visit_matrix` — the very function
inference uses — once per modality subset of the cache, padded to the longest patient.
The training loop then only selects and masks (:func:`augment`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from braintumorai.survival.time_grid import TimeGrid
from braintumorai.survival.visit_features import TREATMENTS, FeatureSpec, VisitData, visit_matrix
from braintumorai.survival.compartments import COMPARTMENTS


@dataclass
class CachedCohort:
    """A cache folder read into memory: ``visits`` (dict of arrays, one row per visit),
    ``patients`` (list of dicts), ``meta``."""

    visits: dict
    patients: list
    meta: dict

    @classmethod
    def open(cls, folder) -> "CachedCohort":
        folder = Path(folder)
        with np.load(folder / "visits.npz") as data:
            visits = {k: data[k] for k in data.files}
        return cls(visits, json.loads((folder / "patients.json").read_text()),
                   json.loads((folder / "meta.json").read_text()))

    @property
    def subsets(self) -> list[str]:
        return list(self.meta["subsets"])

    @property
    def classes(self) -> list[str]:
        """The classifier's classes (order of ``probabilities``); empty without images."""
        return list(self.meta.get("classes", []))

    def rows_of(self, patient: int) -> np.ndarray:
        return np.flatnonzero(self.visits["patient"] == patient)

    def visit_data(self, patient: int, subset: int, images: bool = True, compartments: bool = True) -> list[VisitData]:
        """The visits of one patient read with modality subset ``subset`` (index)."""
        out = []
        for row in self.rows_of(patient):
            vector = self.visits["embeddings"][row, subset]
            comp = self.visits["compartments"][row]
            imaged = images and vector.size > 0 and np.all(np.isfinite(vector))
            out.append(VisitData(
                day=float(self.visits["day"][row]),
                treatments=tuple(t for t, given in zip(TREATMENTS, self.visits["treatments"][row]) if given),
                embedding=vector if imaged else None,
                probabilities=dict(zip(self.classes, self.visits["probabilities"][row, subset].tolist()))
                if imaged else None,
                compartments=dict(zip(COMPARTMENTS, comp.tolist())) if compartments and np.all(np.isfinite(comp))
                else None))
        return out

    def clinical(self, patient: int) -> dict:
        p = self.patients[patient]
        return {"age": p.get("age"), "sex": p.get("sex"), "kps": p.get("kps")}

    def outcome(self) -> tuple[np.ndarray, np.ndarray]:
        """(survival days, event) per patient."""
        return (np.array([p["survival_days"] for p in self.patients], float),
                np.array([bool(p["event"]) for p in self.patients]))


def image_statistics(cohort: CachedCohort, components: int = 0) -> tuple[list, list, list]:
    """Mean and standard deviation of the embeddings over every visit and subset of the
    training set, and their first ``components`` principal directions (rows, scaled to unit
    variance), if asked."""
    vectors = cohort.visits["embeddings"].reshape(-1, cohort.visits["embeddings"].shape[-1])
    vectors = vectors[np.all(np.isfinite(vectors), axis=1)]
    mean, std = vectors.mean(0), np.maximum(vectors.std(0), 1e-3)
    rows = []
    if components:
        _, values, directions = np.linalg.svd((vectors - mean) / std, full_matrices=False)
        # Scaled so each component has unit variance over the training visits.
        rows = (directions[:components] / (values[:components, None] / np.sqrt(len(vectors)))).tolist()
    return mean.tolist(), std.tolist(), rows


@dataclass
class CohortSequences:
    """Padded visit tensors of a cohort.

    Attributes:
        x: float32 ``(S, N, K, F)``: patient ``n`` read with modality subset ``s``; rows past a
            patient's last visit are zeros.
        lengths: ``(N,)`` visits per patient.
        days: ``(N, K)`` visit days (NaN past the last).
        time, event: ``(N,)`` survival days and death flag.
        survived, failed: ``(N, K, J)`` likelihood masks of the prediction after each visit,
            read given alive on that visit's day (zeros past the last visit).
    """

    x: np.ndarray
    lengths: np.ndarray
    days: np.ndarray
    time: np.ndarray
    event: np.ndarray
    survived: np.ndarray
    failed: np.ndarray

    @classmethod
    def build(cls, cohort: CachedCohort, spec: FeatureSpec, grid: TimeGrid,
              patients: Optional[Sequence[int]] = None) -> "CohortSequences":
        patients = list(range(len(cohort.patients)) if patients is None else patients)
        lengths = np.array([len(cohort.rows_of(p)) for p in patients])
        k_max, n_subsets = int(lengths.max()), len(cohort.subsets)
        x = np.zeros((n_subsets, len(patients), k_max, spec.size), np.float32)
        days = np.full((len(patients), k_max), np.nan)
        time, event = (array[patients] for array in cohort.outcome())
        survived = np.zeros((len(patients), k_max, grid.n_intervals), np.float32)
        failed = np.zeros_like(survived)
        for n, patient in enumerate(patients):
            k = lengths[n]
            for s in range(n_subsets):
                x[s, n, :k] = visit_matrix(spec, cohort.visit_data(patient, s), cohort.clinical(patient))
            days[n, :k] = cohort.visits["day"][cohort.rows_of(patient)]
            survived[n, :k], failed[n, :k] = grid.targets(np.full(k, time[n]), np.full(k, event[n]), days[n, :k])
        return cls(x, lengths, days, time, event, survived, failed)

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, index) -> "CohortSequences":
        index = np.asarray(index)
        return CohortSequences(self.x[:, index], self.lengths[index], self.days[index], self.time[index],
                               self.event[index], self.survived[index], self.failed[index])

    def up_to_day(self, day: float) -> "CohortSequences":
        """The same patients with only the visits on or before ``day`` (the first visit always)."""
        keep = np.nan_to_num(self.days, nan=np.inf) <= day
        keep[:, 0] = True
        lengths = keep.sum(1)
        x = np.where(keep[None, :, :, None], self.x, 0.0).astype(np.float32)
        return CohortSequences(x, lengths, np.where(keep, self.days, np.nan), self.time, self.event,
                               self.survived * keep[..., None], self.failed * keep[..., None])


@dataclass(frozen=True)
class Augmentation:
    """How often, per patient and epoch, a part of the input is hidden so the model learns to
    predict without it: all images, the segmentation, one visit's images, each covariate."""

    no_images: float = 0.15
    no_compartments: float = 0.5
    visit_without_image: float = 0.1
    covariate_missing: float = 0.1


def augment(x: np.ndarray, spec: FeatureSpec, rng: np.random.Generator, settings: Augmentation,
            subset_choice: Optional[np.ndarray] = None) -> np.ndarray:
    """One training view ``(N, K, F)`` of ``x (S, N, K, F)``: a modality subset per patient,
    then parts hidden exactly as a visit without them would be encoded (values 0, presence
    flag 0, missing flag 1). Rows past a patient's last visit stay zeros."""
    n_subsets, n = x.shape[:2]
    chosen = rng.integers(n_subsets, size=n) if subset_choice is None else subset_choice
    view = x[chosen, np.arange(n)].copy()
    real = np.abs(view).sum(-1, keepdims=True) > 0  # padding rows stay zero
    if spec.image_dim:
        columns = spec.columns("image")
        hide_patient = rng.random(n) < settings.no_images
        hide_visit = rng.random(view.shape[:2]) < settings.visit_without_image
        view[..., columns] *= ~(hide_patient[:, None] | hide_visit)[..., None]
    if spec.compartments:
        view[..., spec.columns("compartments")] *= (rng.random(n) >= settings.no_compartments)[:, None, None]
    for covariate in spec.covariates:
        columns = spec.columns(covariate["name"])
        hide = (rng.random(n) < settings.covariate_missing)[:, None]
        view[..., columns[:-1]] *= ~hide[..., None]
        view[..., columns[-1]] = np.where(hide, 1.0, view[..., columns[-1]])
    return view * real


def configured_view(x: np.ndarray, spec: FeatureSpec, subset: int, images: bool = True,
                    compartments: bool = True) -> np.ndarray:
    """``(N, K, F)``: every patient read with modality subset ``subset``, the images and/or
    the segmentation hidden as a visit without them is encoded (for evaluation)."""
    view = x[subset].copy()
    if spec.image_dim and not images:
        view[..., spec.columns("image")] = 0.0
    if spec.compartments and not compartments:
        view[..., spec.columns("compartments")] = 0.0
    return view
