"""Plain result dataclasses, serialisable to JSON (DESIGN.md, "Results")."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import SimpleITK as sitk

from .io import atomic_output, write_image_atomic


def write_json_atomic(data: dict, path: os.PathLike) -> Path:
    """Write ``data`` as indented JSON, atomically (temporary file, then rename)."""
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")
    return Path(path)


@dataclass
class ClassificationResult:
    """What **Classify** returns.

    Attributes:
        classes: class names of the model, in its order.
        probabilities: calibrated probability per class (sums to 1).
        predicted: the most probable class.
        uncertainty: normalised entropy of ``probabilities`` (0 = certain, 1 = uniform).
        prediction_set: conformal prediction set (classes), covering the true class with
            probability ``coverage`` on exchangeable data.
        coverage: nominal coverage of ``prediction_set`` (e.g. 0.9); None if the model
            card carries no conformal threshold.
        modality_weights: modality -> share in the fused map (sums to 1 over present ones).
        saliency: 'fused' and one entry per present modality -> map in [0, 1], a
            ``SimpleITK.Image`` on the reference volume's grid.
        saliency_method: 'gradcam', 'gradcam++' or 'occlusion' (None when not asked).
        saliency_class: the class the maps explain.
        reference: the reference modality (whose grid the maps are on).
        coregistration: modality -> 'yes' | 'resampled' | 'registered'.
        model: model card fields that identify the model (name, version, sha256).
        timings: stage -> seconds.
        ood_score: how unlike the training data the study looks (:mod:`braintumorai.ood`;
            1 = as unusual as the 1 % most unusual training-like volumes); None when the
            model card has no out-of-distribution statistics.
        ood_flag: True when ``ood_score`` exceeds the card's threshold (the prediction
            set is then widened and a warning added).
        warnings: plain sentences the user should read (out of distribution, brain
            extracted from a raw study, ...).
        skull_stripped: False when the study came with the head and the brain was extracted.
        brain_mask: the extracted brain mask on the reference grid (uint8), when the brain
            was extracted; written as ``brain_mask.nii.gz``.
    """

    classes: list[str]
    probabilities: list[float]
    predicted: str
    uncertainty: float
    prediction_set: list[str]
    coverage: Optional[float]
    modality_weights: dict[str, float]
    reference: str
    coregistration: dict[str, str]
    model: dict
    timings: dict[str, float]
    saliency: dict[str, sitk.Image] = field(default_factory=dict)
    saliency_method: Optional[str] = None
    saliency_class: Optional[str] = None
    ood_score: Optional[float] = None
    ood_flag: Optional[bool] = None
    warnings: list[str] = field(default_factory=list)
    skull_stripped: Optional[bool] = None
    brain_mask: Optional[sitk.Image] = None

    @property
    def probability_of(self) -> dict[str, float]:
        return dict(zip(self.classes, self.probabilities))

    def to_dict(self, saliency_paths: Optional[dict[str, str]] = None) -> dict:
        """JSON-ready dict; saliency maps appear as the paths they were written to."""
        return {
            "classes": list(self.classes),
            "probabilities": dict(zip(self.classes, [round(p, 6) for p in self.probabilities])),
            "predicted": self.predicted,
            "uncertainty": round(self.uncertainty, 6),
            "prediction_set": list(self.prediction_set),
            "coverage": self.coverage,
            "modality_weights": {m: round(w, 6) for m, w in self.modality_weights.items()},
            "saliency": dict(saliency_paths or {}),
            "saliency_method": self.saliency_method,
            "saliency_class": self.saliency_class,
            "reference": self.reference,
            "coregistration": dict(self.coregistration),
            "model": dict(self.model),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "ood_score": None if self.ood_score is None else round(self.ood_score, 4),
            "ood_flag": self.ood_flag,
            "warnings": list(self.warnings),
            "skull_stripped": self.skull_stripped,
            "intended_use": "Research only. Not for clinical use.",
        }

    def save(self, out_dir: os.PathLike) -> dict:
        """Write ``saliency_<name>.nii.gz`` maps and ``result.json`` (atomically) into ``out_dir``.

        Returns the JSON dict written.
        """
        from concurrent.futures import ThreadPoolExecutor

        out_dir = Path(out_dir)
        # gzip is single-threaded and SimpleITK's writer releases the GIL: writing the maps
        # side by side takes about half the time on two cores.
        with ThreadPoolExecutor(max_workers=min(4, max(1, len(self.saliency)))) as pool:
            written = pool.map(lambda item: write_image_atomic(item[1], out_dir / f"saliency_{item[0]}.nii.gz"),
                               self.saliency.items())
            paths = {name: str(path) for name, path in zip(self.saliency, written)}
        data = self.to_dict(paths)
        if self.brain_mask is not None:
            data["brain_mask"] = str(write_image_atomic(self.brain_mask, out_dir / "brain_mask.nii.gz"))
        write_json_atomic(data, out_dir / "result.json")
        return data
