"""Small untrained checkpoints for fast pipeline tests: a classifier reading T1C and FLAIR and a
prognosis model on its embeddings (their outputs are meaningless; the contracts are real)."""

from __future__ import annotations

from pathlib import Path

import torch

from braintumorai.checkpoints import save_checkpoint
from braintumorai.models import ModalityAttentionNet, PrognosisGRU
from braintumorai.survival.time_grid import TimeGrid
from braintumorai.survival.visit_features import FeatureSpec

GRID = TimeGrid.uniform(1826.25, 30)


def tiny_models(folder: Path) -> tuple[Path, Path]:
    """Write ``tiny-classifier`` and ``tiny-prognosis`` into ``folder``; returns their .pt paths."""
    torch.manual_seed(0)
    classifier = ModalityAttentionNet(("HGG", "LGG"), ("T1C", "FLAIR"), embed_dim=8)
    classifier_card = save_checkpoint(classifier, folder / "tiny-classifier",
                                      {"spacing_mm": [6.0, 6.0, 6.0], "grid_size": [32, 36, 32]})
    # Four principal components of the 16-number embedding and the log class probabilities.
    components = torch.eye(16)[:4].tolist()
    spec = FeatureSpec(image_dim=16, image_mean=[0.0] * 16, image_std=[1.0] * 16, image_components=components,
                       class_names=["HGG", "LGG"], compartments=True)
    prognosis = PrognosisGRU(spec.size, GRID.n_intervals, hidden=8, members=3)
    save_checkpoint(prognosis, folder / "tiny-prognosis", {
        "time_grid_days": list(GRID.edges), "features": spec.to_dict(),
        "band": {"z": 1.645, "offsets": {kind: {g: [-0.5 - i / 4, 0.4 + i / 4] for g in ("1", "2", "3", "4+")}
                                         for i, kind in enumerate(("images+segmentation", "images", "segmentation",
                                                                   "covariates"))}},
        "image_model": {"name": str(folder / "tiny-classifier.json"), "sha256": classifier_card["sha256"]}})
    return folder / "tiny-classifier.pt", folder / "tiny-prognosis.pt"
