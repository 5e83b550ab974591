"""How well the out-of-distribution score separates clean test phantoms from studies the
model cannot judge: corrupted studies and the held-out shifted set.

Corruptions act on the cached, normalised channels as the pipeline would have produced
them from the corrupted files (a volume given as another modality is normalised as the
modality it was given as):

- ``PET given as T1C``, ``CT given as FLAIR``: the wrong modality assigned;
- ``T1 and T2 swapped``;
- ``heavy noise``: every MRI volume with Gaussian noise twice its tissue contrast;
- ``not a brain``: every volume replaced by smooth random texture inside the mask;
- ``20 mm noise cube as FLAIR``: a cube of noise alone, given as FLAIR.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import mannwhitneyu

from braintumorai.ood import ood_score
from braintumorai.ood_image import image_features
from braintumorai.synthetic.anatomy import smooth_field

from .metrics import markdown_table
from .ood_fit import cached_image_features, cached_vectors


def _zscore(volume: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """MRI normalisation of an already normalised channel (z-score inside the brain)."""
    values = volume[brain]
    out = (volume - values.mean()) / (values.std() + 1e-6)
    return np.where(brain, out, 0.0).astype(np.float32)


def corrupt(kind: str, channels: np.ndarray, present: np.ndarray, brain: np.ndarray, modalities, seed: int):
    """One corrupted case: ``(channels (M, D, H, W), present (M,))``; see :func:`corrupted_brain`
    for the brain mask the pipeline would find in it."""
    rng = np.random.default_rng(seed)
    x, p = channels.copy(), present.copy()
    index = {m: i for i, m in enumerate(modalities)}
    if kind == "PET given as T1C":
        x[index["T1C"]] = _zscore(channels[index["PET"]], brain)
        p[index["PET"]] = False
        x[index["PET"]] = 0
    elif kind == "CT given as FLAIR":
        x[index["FLAIR"]] = _zscore(channels[index["CT"]], brain)
        p[index["CT"]] = False
        x[index["CT"]] = 0
    elif kind == "T1 and T2 swapped":
        x[[index["T1"], index["T2"]]] = channels[[index["T2"], index["T1"]]]
    elif kind == "heavy noise":
        for m in ("T1", "T1C", "T2", "FLAIR"):
            noisy = channels[index[m]] + 2.0 * rng.standard_normal(brain.shape).astype(np.float32)
            x[index[m]] = _zscore(noisy, brain)
    elif kind == "not a brain":
        for i in np.flatnonzero(p):
            x[i] = _zscore(smooth_field(rng, brain.shape, 12), brain)
    elif kind == "20 mm noise cube as FLAIR":
        x[:] = 0
        p[:] = False
        p[index["FLAIR"]] = True
        cube = np.zeros(brain.shape, bool)
        centre = np.asarray(brain.shape) // 2
        cube[tuple(slice(c - 3, c + 4) for c in centre)] = True
        x[index["FLAIR"]] = _zscore(rng.standard_normal(brain.shape).astype(np.float32), cube)
    else:
        raise ValueError(f"Unknown corruption {kind!r}.")
    return x, p


def corrupted_brain(kind: str, brain: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """The brain mask of a corrupted case: the study's own, except for the noise cube,
    whose only non-zero voxels are the cube."""
    if kind == "20 mm noise cube as FLAIR":
        return np.any(channels != 0, axis=0)
    return brain


CORRUPTIONS = ("PET given as T1C", "CT given as FLAIR", "T1 and T2 swapped", "heavy noise", "not a brain",
               "20 mm noise cube as FLAIR")


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """Probability that an out-of-distribution study scores above an in-distribution one."""
    return float(mannwhitneyu(outside, inside, alternative="two-sided").statistic / (len(inside) * len(outside)))


def evaluate_ood(model, card: dict, test, shifted=None, cases: int = 100, seed: int = 0) -> dict:
    """AUROC of the score between the clean test phantoms and each corruption (on
    ``cases`` test phantoms), all corruptions pooled, and the shifted set; share flagged."""
    modalities = tuple(card["modalities"])
    ood = card["ood"]
    spacing = card["spacing_mm"]
    use_image = bool(ood.get("image"))
    clean = ood_score(ood, modalities, cached_vectors(model, test.channels, test.present),
                      cached_image_features(test, spacing) if use_image else None)
    threshold = float(ood["threshold"])
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(test), size=min(cases, len(test)), replace=False))
    rows, pooled = [], []
    for kind in CORRUPTIONS:
        xs, ps = zip(*(corrupt(kind, np.asarray(test.channels[i], np.float32), test.present[i],
                               np.asarray(test.brain[i], bool), modalities, seed + int(i)) for i in chosen))
        features = None
        if use_image:
            features = np.stack([image_features(x, p, corrupted_brain(kind, np.asarray(test.brain[i], bool), x), spacing)
                                 for x, p, i in zip(xs, ps, chosen)])
        scores = ood_score(ood, modalities, cached_vectors(model, np.stack(xs), np.stack(ps)), features)
        pooled.append(scores)
        rows.append({"set": kind, "cases": len(scores), "AUROC": auroc(clean, scores),
                     "flagged": float(np.mean(scores > threshold)), "median score": float(np.median(scores))})
    pooled = np.concatenate(pooled)
    rows.append({"set": "all corruptions", "cases": len(pooled), "AUROC": auroc(clean, pooled),
                 "flagged": float(np.mean(pooled > threshold)), "median score": float(np.median(pooled))})
    if shifted is not None:
        scores = ood_score(ood, modalities, cached_vectors(model, shifted.channels, shifted.present),
                           cached_image_features(shifted, spacing) if use_image else None)
        rows.append({"set": "shifted set (held out)", "cases": len(scores), "AUROC": auroc(clean, scores),
                     "flagged": float(np.mean(scores > threshold)), "median score": float(np.median(scores))})
    rows.insert(0, {"set": "clean test phantoms (in distribution)", "cases": len(clean), "AUROC": None,
                    "flagged": float(np.mean(clean > threshold)), "median score": float(np.median(clean))})
    table = markdown_table([{"set": r["set"], "cases": str(r["cases"]),
                             "AUROC vs clean": "" if r["AUROC"] is None else f"{r['AUROC']:.3f}",
                             "flagged": f"{r['flagged']:.3f}", "median score": f"{r['median score']:.2f}"}
                            for r in rows], ["set", "cases", "AUROC vs clean", "flagged", "median score"])
    return {"threshold": threshold, "rows": rows, "table": table}
