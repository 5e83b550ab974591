"""The censored discrete-time likelihood (torch).

With hazard logits ``z`` (``h = sigmoid(z)``) and the masks of
:meth:`braintumorai.survival.time_grid.TimeGrid.targets`, a patient contributes
``sum_j survived_j log(1 - h_j) + failed_j log h_j``: the chance of living through every
interval they were seen to live through, times the chance of dying in the interval they
died in. Both logs come from ``logsigmoid`` (``log(1 - sigmoid(z)) = logsigmoid(-z)``),
so large logits cannot overflow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discrete_time_nll(logits: torch.Tensor, survived: torch.Tensor, failed: torch.Tensor,
                      weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative log-likelihood over patients (or prediction points).

    Args:
        logits: ``(N, J)`` hazard logits.
        survived, failed: ``(N, J)`` 0/1 masks (see ``TimeGrid.targets``).
        weight: optional ``(N,)`` weights (e.g. one over a patient's number of visits, so
            every patient counts once); the mean is weighted.
    """
    log_likelihood = (survived * F.logsigmoid(-logits) + failed * F.logsigmoid(logits)).sum(dim=-1)
    if weight is None:
        return -log_likelihood.mean()
    return -(weight * log_likelihood).sum() / weight.sum().clamp_min(1e-12)
