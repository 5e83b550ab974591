"""The fixed time grid of a discrete-time survival model, and survival curves on it.

The model predicts, for each interval ``j`` of the grid ``e_0 = 0 < e_1 < ... < e_J`` (days
since the first visit), the hazard ``h_j``: the probability of dying in the interval given
alive at its start (nnet-survival, Gensheimer and Narasimhan 2019). Then
``S(e_k) = prod_{j < k} (1 - h_j)``. Within an interval the hazard is spread evenly (constant
hazard), which gives S between the edges, the median, and S given alive at any day ``a``:
the intervals before ``a`` do not count, the one holding ``a`` counts for the part after it.

Everything here is numpy; the curves of a batch are computed at once (leading axes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class TimeGrid:
    """Interval edges in days, increasing from 0: ``J + 1`` edges, ``J`` intervals."""

    edges: tuple[float, ...]

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, float)
        if edges.ndim != 1 or len(edges) < 2 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
            raise InputError(f"A time grid needs increasing edges starting at 0, got {list(self.edges)[:5]}...")

    @classmethod
    def uniform(cls, horizon_days: float, intervals: int) -> "TimeGrid":
        """``intervals`` equal intervals from 0 to ``horizon_days``."""
        return cls(tuple(float(e) for e in np.linspace(0.0, float(horizon_days), int(intervals) + 1)))

    @property
    def n_intervals(self) -> int:
        return len(self.edges) - 1

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.edges, float)

    @property
    def horizon(self) -> float:
        return float(self.edges[-1])

    def exposure(self, alive_at) -> np.ndarray:
        """Share ``(..., J)`` of each interval lived through after ``alive_at`` (days): 0 for
        intervals that end before it, the remaining part for the one holding it, else 1."""
        edges = self.array
        a = np.asarray(alive_at, float)[..., None]
        widths = np.diff(edges)
        return np.clip((edges[1:] - np.maximum(edges[:-1], a)) / widths, 0.0, 1.0)

    def survival(self, hazards, alive_at=0.0) -> np.ndarray:
        """S at every edge ``(..., J + 1)`` given alive at ``alive_at``, from hazards ``(..., J)``."""
        hazards = np.clip(np.asarray(hazards, float), 0.0, 1.0 - 1e-12)
        log_step = self.exposure(alive_at) * np.log1p(-hazards)
        zero = np.zeros(log_step.shape[:-1] + (1,))
        return np.exp(np.concatenate([zero, np.cumsum(log_step, axis=-1)], axis=-1))

    def survival_at(self, hazards, times, alive_at=0.0) -> np.ndarray:
        """S at arbitrary ``times`` (days, 1-D) given alive at ``alive_at``: ``(..., T)``.
        Constant hazard inside an interval; held at its last value after the grid's end."""
        hazards = np.clip(np.asarray(hazards, float), 0.0, 1.0 - 1e-12)
        times = np.asarray(times, float)
        edges = self.array
        a = np.asarray(alive_at, float)[..., None]
        at_edges = self.survival(hazards, alive_at)
        index = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, self.n_intervals - 1)
        start = np.maximum(edges[index], a)
        part = np.clip((np.minimum(times, edges[-1]) - start) / np.diff(edges)[index], 0.0, 1.0)
        start_value = np.take_along_axis(at_edges, np.broadcast_to(index, at_edges.shape[:-1] + index.shape), -1)
        h = np.take_along_axis(hazards, np.broadcast_to(index, hazards.shape[:-1] + index.shape), -1)
        value = start_value * np.exp(part * np.log1p(-h))
        return np.where(times <= a, 1.0, value)

    def quantile_time(self, hazards, alive_at=0.0, level: float = 0.5) -> np.ndarray:
        """Day at which S falls to ``level`` (0.5: the median survival), NaN when it stays
        above it over the grid ("not reached"). Shape ``hazards.shape[:-1]``."""
        hazards = np.clip(np.asarray(hazards, float), 0.0, 1.0 - 1e-12)
        edges = self.array
        at_edges = self.survival(hazards, alive_at)
        below = at_edges <= level
        reached = below.any(axis=-1)
        k = np.where(reached, np.argmax(below, axis=-1), 1)  # first edge at or below the level
        j = np.maximum(k - 1, 0)
        a = np.broadcast_to(np.asarray(alive_at, float), j.shape)
        start = np.maximum(edges[j], a)
        s_start = np.take_along_axis(at_edges, j[..., None], -1)[..., 0]
        h = np.take_along_axis(hazards, j[..., None], -1)[..., 0]
        width = np.diff(edges)[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = start + width * np.log(level / s_start) / np.log1p(-h)
        return np.where(reached, np.minimum(t, edges[k]), np.nan)

    def targets(self, time, event, entry=0.0) -> tuple[np.ndarray, np.ndarray]:
        """Masks ``(survived, failed)``, each ``(N, J)``, of the censored discrete-time likelihood.

        A patient is at risk from the interval holding ``entry`` (alive then: the day of the
        visit the prediction is made at). Death at ``time``: survived every at-risk interval
        before the one holding ``time``, failed in that one. Censored at ``time``: survived the
        at-risk intervals before it, and that one too when censored in its second half
        (nnet-survival's rule). Past the grid's end: survived every at-risk interval.
        """
        time = np.atleast_1d(np.asarray(time, float))
        event = np.broadcast_to(np.atleast_1d(np.asarray(event, bool)), time.shape)
        entry = np.broadcast_to(np.atleast_1d(np.asarray(entry, float)), time.shape)
        if np.any(~np.isfinite(time)) or np.any(time < 0):
            raise InputError("Survival times must be finite and not negative.")
        if np.any(time < entry):
            raise InputError("A survival time is before the day the patient was last seen alive.")
        edges = self.array
        j = np.arange(self.n_intervals)
        at_risk = edges[1:][None, :] > entry[:, None]
        index = np.searchsorted(edges, time, side="right") - 1  # interval holding time; J past the end
        beyond = index >= self.n_intervals
        midpoint = (edges[:-1] + edges[1:]) / 2.0
        before = j[None, :] < index[:, None]
        same = j[None, :] == index[:, None]
        survived_censored = before | (same & (time[:, None] >= midpoint[None, :]))
        survived = at_risk & np.where((event & ~beyond)[:, None], before, survived_censored | beyond[:, None])
        failed = at_risk & same & (event & ~beyond)[:, None]
        return survived.astype(np.float32), failed.astype(np.float32)
