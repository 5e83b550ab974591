"""Saliency quality on phantoms, where the tumour is known: pointing game, share of
saliency inside tumour + oedema, and deletion AUC, each beside a random and a
uniform map (REFERENCES.md, "Interpretability")."""

from __future__ import annotations

import numpy as np
import torch

from braintumorai import saliency as saliency_maps
from braintumorai.calibration import apply_temperature

from .metrics import markdown_table
from .saliency_metrics import deletion_auc, energy_inside, pointing_game, random_map, uniform_map


def evaluate_saliency(model, cached, temperature: float, cases: int = 60, seed: int = 0, steps: int = 10,
                      methods=("gradcam",)) -> dict:
    """Figures over ``cases`` tumour-bearing test phantoms (evenly over the classes).

    Maps explain the predicted class and are computed on the model grid, where the
    phantom's tumour mask is known; the map-to-reference step is tested separately. The
    pointing game is counted strictly inside tumour + oedema (0 voxels) and within one
    voxel of it. ``methods``: ``layercam`` (gated), ``layercam-ungated``, ``gradcam``,
    ``gradcam++``.
    """
    model.eval()
    with_tumour = np.flatnonzero(np.asarray(cached.tumour).reshape(len(cached), -1).any(1))
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(with_tumour, size=min(cases, len(with_tumour)), replace=False))
    rows = {name: {"pointing": [], "pointing_0": [], "inside": [], "region_share": [], "deletion": []}
            for name in (*methods, "random", "uniform")}
    for case in chosen:
        x = torch.from_numpy(np.asarray(cached.channels[case], np.float32)[None])
        present = torch.from_numpy(cached.present[case][None])
        brain = np.asarray(cached.brain[case], bool)
        tumour = np.asarray(cached.tumour[case], bool)
        with torch.no_grad():
            probabilities = apply_temperature(model(x, present).logits.numpy()[0], temperature)
        target = int(np.argmax(probabilities))

        def score(image: np.ndarray) -> float:
            with torch.no_grad():
                logits = model(torch.from_numpy(image[None].astype(np.float32)), present).logits.numpy()[0]
            return float(apply_temperature(logits, temperature)[target])

        maps = {}
        for method in methods:
            if method.startswith("layercam"):
                maps[method] = saliency_maps.layercam(model, x, present, class_index=target,
                                                      gated=method == "layercam")[0]
            else:
                maps[method] = saliency_maps.gradcam(model, x, present, class_index=target, method=method)[0]
        maps["random"] = random_map(brain.shape, brain, seed=int(case))
        maps["uniform"] = uniform_map(brain)
        image = x.numpy()[0]
        for name, heat in maps.items():
            heat = np.where(brain, heat, 0.0)
            inside, share = energy_inside(heat, tumour, brain)
            rows[name]["pointing"].append(pointing_game(heat, tumour))
            rows[name]["pointing_0"].append(pointing_game(heat, tumour, tolerance_voxels=0))
            rows[name]["inside"].append(inside)
            rows[name]["region_share"].append(share)
            rows[name]["deletion"].append(deletion_auc(score, image, heat, brain, steps=steps, seed=int(case)))
    summary = {name: {"pointing_game": float(np.mean(r["pointing"])),
                      "pointing_game_0_voxels": float(np.mean(r["pointing_0"])),
                      "saliency_inside_tumour": float(np.nanmean(r["inside"])),
                      "tumour_share_of_brain": float(np.mean(r["region_share"])),
                      "deletion_auc": float(np.mean(r["deletion"]))}
               for name, r in rows.items()}
    table_rows = [{"map": name, "pointing game, 0 voxels": f"{s['pointing_game_0_voxels']:.3f}",
                   "pointing game, 1 voxel": f"{s['pointing_game']:.3f}",
                   "saliency inside tumour+oedema": f"{s['saliency_inside_tumour']:.3f}",
                   "tumour+oedema share of brain": f"{s['tumour_share_of_brain']:.3f}",
                   "deletion AUC (lower is better)": f"{s['deletion_auc']:.3f}"} for name, s in summary.items()]
    return {"cases": int(len(chosen)), "deletion_steps": steps, "maps": summary,
            "table": markdown_table(table_rows, list(table_rows[0]))}
