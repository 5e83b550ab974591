"""Training the PrognosisGRU ensemble on cached visit sequences.

Each member trains on a bootstrap sample of the patients and stops early on the patients
its sample left out (out of bag), so the members differ as models fitted to other cohorts
would, which the band's spread part needs. The loss is the censored discrete-time
likelihood of the prediction after every visit, read given alive on that visit's day
(no look-ahead), every prediction counting alike. (Weighting each patient once instead
would give the first-visit predictions of short-lived patients, who have few visits, more
weight than those of long-lived ones: the first-visit curves came out too low.)
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from braintumorai.models import PrognosisGRU
from braintumorai.survival.likelihood import discrete_time_nll
from braintumorai.survival.visit_features import FeatureSpec

from .prognosis_data import Augmentation, CohortSequences, augment


@dataclass(frozen=True)
class FitSettings:
    hidden: int = 64
    members: int = 5
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 20
    seed: int = 0
    augmentation: Augmentation = field(default_factory=Augmentation)

    @classmethod
    def from_dict(cls, data: dict) -> "FitSettings":
        data = dict(data)
        if "augmentation" in data:
            data["augmentation"] = Augmentation(**data["augmentation"])
        return cls(**data)


def sequence_loss(logits: torch.Tensor, survived: torch.Tensor, failed: torch.Tensor,
                  lengths: torch.Tensor) -> torch.Tensor:
    """Likelihood loss of logits ``(B, K, J)``: the mean over the real visits (those before
    ``lengths``) of each visit's prediction; padding counts nothing."""
    k = logits.shape[1]
    weight = (torch.arange(k)[None, :] < lengths[:, None]).float()
    return discrete_time_nll(logits.reshape(-1, logits.shape[-1]), survived.reshape(-1, logits.shape[-1]),
                             failed.reshape(-1, logits.shape[-1]), weight.reshape(-1))


def _tensors(data: CohortSequences, view: np.ndarray):
    return (torch.from_numpy(view), torch.from_numpy(data.survived), torch.from_numpy(data.failed),
            torch.from_numpy(data.lengths))


def fit_ensemble(train: CohortSequences, spec: FeatureSpec, n_intervals: int, settings: FitSettings,
                 log=print) -> PrognosisGRU:
    """Train ``settings.members`` GRUs (bootstrap + out-of-bag early stopping); returns the ensemble."""
    torch.manual_seed(settings.seed)
    model = PrognosisGRU(spec.size, n_intervals, hidden=settings.hidden, members=settings.members,
                         dropout=settings.dropout)
    # The cohort's average hazard per interval over every prediction point: the starting baseline.
    at_risk = (train.survived + train.failed).sum(axis=(0, 1))
    model.start_from(train.failed.sum(axis=(0, 1)) / np.maximum(at_risk, 1.0))
    n = len(train)
    for m, member in enumerate(model.members):
        rng = np.random.default_rng([settings.seed, m])
        sample = rng.integers(n, size=n)
        out_of_bag = np.setdiff1d(np.arange(n), sample)
        held = train.take(out_of_bag)
        held_tensors = _tensors(held, augment(held.x, spec, np.random.default_rng([settings.seed, m, 1]),
                                              settings.augmentation))
        start = time.time()
        best, epochs = _fit_member(member, train.take(sample), held_tensors, spec, settings, rng)
        log(f"  member {m + 1}/{settings.members}: out-of-bag loss {best:.4f} after {epochs} epochs "
            f"({time.time() - start:.0f} s)")
    return model.eval()


def _fit_member(member, data: CohortSequences, held, spec: FeatureSpec, settings: FitSettings, rng):
    optimiser = torch.optim.AdamW(member.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    best, best_state, stale, epoch = np.inf, copy.deepcopy(member.state_dict()), 0, 0
    for epoch in range(1, settings.max_epochs + 1):
        member.train()
        x, survived, failed, lengths = _tensors(data, augment(data.x, spec, rng, settings.augmentation))
        order = torch.from_numpy(rng.permutation(len(data)))
        for batch in order.split(settings.batch_size):
            loss = sequence_loss(member(x[batch]), survived[batch], failed[batch], lengths[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        member.eval()
        with torch.no_grad():
            held_loss = float(sequence_loss(member(held[0]), *held[1:]))
        if held_loss < best - 1e-4:
            best, best_state, stale = held_loss, copy.deepcopy(member.state_dict()), 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    member.load_state_dict(best_state)
    return best, epoch


def member_hazards(model: PrognosisGRU, view: np.ndarray) -> np.ndarray:
    """Hazards ``(M, N, K, J)`` of every member after every visit of ``view (N, K, F)``."""
    model.eval()
    with torch.no_grad():
        return model.hazards(torch.from_numpy(np.ascontiguousarray(view, np.float32))).numpy()
