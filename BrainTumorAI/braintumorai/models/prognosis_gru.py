"""PrognosisGRU: survival curves from a patient's visits, updated at every visit.

Design (DESIGN.md "Models"; anchors: Dynamic-DeepHit, Lee et al. 2019, an RNN over
irregular longitudinal measurements with discrete-time outputs; nnet-survival, Gensheimer
and Narasimhan 2019, the discrete-time likelihood):

- Each visit is one vector (:mod:`braintumorai.survival.visit_features`): image
  embedding, tumour compartment volumes, years since the first visit and the gap since
  the previous one (the visits are irregular), treatments, clinical covariates, each part
  with its presence flag.
- A GRU reads the visits in order; after visit ``k`` a linear head gives the hazard
  logits of every interval of the time grid. The prediction after visit ``k`` is read
  given alive on that visit's day, so it uses only what was known then (no look-ahead),
  and the loss is the censored likelihood from that day on (training/prognosis_fit.py).
- An ensemble of ``members`` independent GRUs (bootstrap-trained) in one module: their
  mean hazard is the prediction, their disagreement the band's scale
  (:mod:`braintumorai.survival.band`).

``forward(x (B, K, F)) -> hazard logits (M, B, K, J)``; padding after a patient's last visit
does not change the outputs before it (the GRU is causal).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelError

__all__ = ["PrognosisGRU"]


class _Member(nn.Module):
    """One GRU. Its head writes the hazard logits as ``baseline_j + risk + departure_j``: a
    baseline per interval (started at the training cohort's average hazards), one risk
    score that moves every interval alike (proportional odds), and small per-interval
    departures. Learning the common shift first needs far fewer patients than ``J``
    independent outputs would."""

    def __init__(self, n_features: int, n_intervals: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.baseline = nn.Parameter(torch.zeros(n_intervals))
        self.risk = nn.Linear(hidden, 1)
        self.departure = nn.Linear(hidden, n_intervals)
        nn.init.zeros_(self.risk.bias)
        nn.init.zeros_(self.departure.bias)
        nn.init.normal_(self.departure.weight, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.embed(x))
        states = self.dropout(states)
        return self.baseline + self.risk(states) + self.departure(states)


class PrognosisGRU(nn.Module):
    """An ensemble of GRUs giving discrete-time hazards after each visit.

    Args:
        n_features: length ``F`` of a visit vector (``FeatureSpec.size``).
        n_intervals: intervals ``J`` of the time grid.
        hidden: GRU width.
        members: ensemble size ``M`` (>= 2 for a band).
        dropout: dropout on the visit embedding and before the head (training only).
    """

    architecture = "PrognosisGRU"

    def __init__(self, n_features: int, n_intervals: int, hidden: int = 64, members: int = 5,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if n_features < 1 or n_intervals < 1 or hidden < 1 or members < 1:
            raise ModelError("PrognosisGRU needs at least one feature, interval, hidden unit and member.")
        self.config = dict(n_features=int(n_features), n_intervals=int(n_intervals), hidden=int(hidden),
                           members=int(members), dropout=float(dropout))
        self.members = nn.ModuleList(_Member(n_features, n_intervals, hidden, dropout) for _ in range(members))

    @property
    def n_features(self) -> int:
        return self.config["n_features"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Hazard logits ``(M, B, K, J)`` after each of the ``K`` visits of ``x (B, K, F)``."""
        if x.ndim != 3 or x.shape[-1] != self.n_features:
            raise ModelError(f"Expected visits of shape (batch, visits, {self.n_features}), got {tuple(x.shape)}.")
        return torch.stack([member(x) for member in self.members])

    def start_from(self, hazards) -> None:
        """Set every member's baseline to the logits of ``hazards (J,)`` (e.g. the training
        cohort's average hazard per interval), so training starts from the right curve."""
        logits = torch.logit(torch.as_tensor(hazards, dtype=torch.float32).clamp(1e-4, 1 - 1e-4))
        with torch.no_grad():
            for member in self.members:
                member.baseline.copy_(logits)

    def hazards(self, x: torch.Tensor) -> torch.Tensor:
        """Hazards in (0, 1), ``(M, B, K, J)``."""
        return torch.sigmoid(self(x))
