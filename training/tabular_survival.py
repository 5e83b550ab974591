"""Tabular mode: the same discrete-time model on any survival CSV (one row per patient).

So the survival machinery can be checked on public data: a covariate is a number when its
column is numeric (centred and scaled with the training rows' mean and standard deviation),
else a category (one-hot over the training rows' levels); a missing value gets its flag. The
model is the prognosis GRU with a zero-length image part and one visit per patient; its
grid spans the training follow-up. The held-out rows are chosen by a seeded shuffle recorded
in the card, so ``evaluate`` scores the same split, and a CoxPHFitter on the same encoded
covariates and split is the reference.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from braintumorai.errors import InputError
from braintumorai.survival.time_grid import TimeGrid
from braintumorai.survival.visit_features import FeatureSpec, VisitData, covariate_vector, visit_matrix

from .prognosis_data import CohortSequences


def read_table(path: str, time_col: str, event_col: str, covariates: Sequence[str]):
    """The CSV as a DataFrame with the named columns checked (clear errors name the column)."""
    import pandas as pd

    if not Path(path).is_file():
        raise InputError(f"The CSV '{path}' does not exist; check the path.")
    frame = pd.read_csv(path)
    for column in [time_col, event_col, *covariates]:
        if column not in frame.columns:
            raise InputError(f"Column '{column}' is not in '{path}'; it has {', '.join(map(str, frame.columns))}.")
    frame = frame.dropna(subset=[time_col, event_col])
    time = pd.to_numeric(frame[time_col], errors="coerce")
    if time.isna().any() or (time < 0).any():
        raise InputError(f"Column '{time_col}' must hold non-negative numbers (survival or follow-up times).")
    events = set(pd.unique(frame[event_col]))
    if not events <= {0, 1, True, False}:
        raise InputError(f"Column '{event_col}' must hold 1 (event) or 0 (censored), found {sorted(map(str, events))[:5]}.")
    return frame


def file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split_rows(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row positions from a seeded shuffle."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def covariate_spec(frame, covariates: Sequence[str]) -> FeatureSpec:
    """Numbers centred and scaled, categories one-hot, from the training rows."""
    import pandas as pd

    specs = []
    for name in covariates:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and column.nunique(dropna=True) > 2:
            std = float(column.std()) if column.notna().sum() > 1 else 1.0
            specs.append({"name": name, "kind": "number", "centre": float(column.mean()), "scale": std or 1.0})
        else:
            levels = sorted(str(v) for v in column.dropna().unique())
            specs.append({"name": name, "kind": "category", "levels": levels})
    return FeatureSpec(image_dim=0, compartments=False, covariates=specs)


def _values(frame, spec: FeatureSpec) -> list[dict]:
    out = []
    for _, row in frame.iterrows():
        values = {}
        for covariate in spec.covariates:
            value = row[covariate["name"]]
            missing = value is None or (isinstance(value, float) and np.isnan(value))
            if covariate["kind"] == "category" and not missing:
                value = str(value)
                if value not in covariate["levels"]:
                    value = None  # a level the training rows never had counts as missing
            values[covariate["name"]] = None if missing else value
        out.append(values)
    return out


def sequences(frame, spec: FeatureSpec, grid: TimeGrid, time_col: str, event_col: str) -> CohortSequences:
    """One visit (day 0) per row, as the prognosis model reads it."""
    x = np.stack([visit_matrix(spec, [VisitData(day=0.0)], values) for values in _values(frame, spec)])[None]
    time = frame[time_col].to_numpy(float)
    event = frame[event_col].astype(int).to_numpy().astype(bool)
    survived, failed = grid.targets(time, event, 0.0)
    return CohortSequences(x=x.astype(np.float32), lengths=np.ones(len(frame), int), days=np.zeros((len(frame), 1)),
                           time=time, event=event, survived=survived[:, None], failed=failed[:, None])


def encoded_covariates(frame, spec: FeatureSpec):
    """The covariates as the model encodes them (for the Cox reference), constant columns dropped later."""
    import pandas as pd

    rows = [covariate_vector(spec, values) for values in _values(frame, spec)]
    names = spec.names[-len(rows[0]):]
    return pd.DataFrame(rows, columns=names, index=frame.index)
