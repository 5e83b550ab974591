"""Plain result dataclasses, serialisable to JSON (DESIGN.md, "Results")."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import SimpleITK as sitk

from .errors import InputError
from .io import atomic_output, write_image_atomic


def write_json_atomic(data: dict, path: os.PathLike) -> Path:
    """Write ``data`` as indented JSON, atomically (temporary file, read back and compared,
    then renamed into place)."""
    text = json.dumps(data, indent=2) + "\n"
    with atomic_output(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if temporary.read_text(encoding="utf-8") != text:
            raise InputError(f"Could not write '{path}' completely; check that the folder has space and write it again.")
    return Path(path)


MAP_LEVELS = 255


def quantised(image: sitk.Image) -> sitk.Image:
    """A map in [0, 1] rounded to steps of ``1 / MAP_LEVELS`` (still float32, same geometry):
    gzip then stores it in a sixth of the bytes."""
    rounded = sitk.Round(sitk.Clamp(image, sitk.sitkFloat32, 0.0, 1.0) * float(MAP_LEVELS)) / float(MAP_LEVELS)
    rounded.CopyInformation(image)
    return sitk.Cast(rounded, sitk.sitkFloat32)


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
        warnings: plain sentences about doubts in the input and the result (an implausible
            volume for its modality, out of distribution, brain extracted from a raw study,
            ...); empty when none.
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

    def save(self, out_dir: os.PathLike, final_dir: Optional[os.PathLike] = None) -> dict:
        """Write ``saliency_<name>.nii.gz`` maps and ``result.json`` into ``out_dir``.

        Without ``final_dir`` the folder is replaced whole (see
        :func:`braintumorai.output_folder.output_folder`): it ends up holding this result
        and nothing else, or, after an error, what it held before. With ``final_dir``,
        ``out_dir`` is a staging folder the caller swaps in later as ``final_dir``. The map
        paths in result.json are relative to it (the folder can be moved). Every file is
        verified before it is renamed. The maps are stored in steps of 1/255 (float32 still,
        in [0, 1]): as precise as a colour map shows them, and six times smaller on disk.

        Returns the JSON dict written.
        """
        from concurrent.futures import ThreadPoolExecutor

        if final_dir is None:
            from .output_folder import output_folder

            with output_folder(out_dir, option=None, command="ClassificationResult.save") as folder:
                return self.save(folder.staging, folder.final)
        out_dir, final_dir = Path(out_dir), Path(final_dir)
        # gzip is single-threaded and SimpleITK's writer releases the GIL: writing the maps
        # side by side takes about half the time on two cores.
        with ThreadPoolExecutor(max_workers=min(4, max(1, len(self.saliency)))) as pool:
            written = pool.map(lambda item: write_image_atomic(quantised(item[1]), out_dir / f"saliency_{item[0]}.nii.gz"),
                               self.saliency.items())
            paths = {name: path.name for name, path in zip(self.saliency, written)}
        data = self.to_dict(paths)
        if self.brain_mask is not None:
            data["brain_mask"] = write_image_atomic(self.brain_mask, out_dir / "brain_mask.nii.gz").name
        write_json_atomic(data, out_dir / "result.json")
        return data


@dataclass
class SurvivalPrediction:
    """What **Predict survival** returns.

    Times are days since the patient's first visit. Every curve is read given alive on the
    day it was made (the latest visit for the main curve): S is 1 before that day.

    Attributes:
        times_days: the model's time grid (increasing, from 0).
        survival, lower, upper: S(t) and its band at ``times_days`` (same length).
        median_days: day S falls to 0.5, or None ("not reached" within the grid).
        survival_1y, survival_2y: S at 365.25 and 730.5 days.
        risk: ``-log S`` at the grid's end given alive at the latest visit (higher = worse).
        conditioned_on_day: the latest visit's day.
        per_visit: after each visit, in visit order: ``{day, survival, lower, upper,
            median_days, survival_1y, survival_2y, risk}`` (dynamic prediction).
        visits: ``{day, name, modalities, segmentation, treatments}`` per visit as used.
        model, image_model: name, version and sha256 of the prognosis model and of the
            classifier that embedded the images (None for a covariates-only model).
        warnings: plain sentences about how the input was read (sorted visits, a visit
            without images, ...).
        timings: stage -> seconds.
        band_level: the share of patients (like the calibration phantoms) whose true curve
            the band was fitted to hold, e.g. 0.9; None when the band is the ensemble's
            spread alone (an unfitted card).
    """

    times_days: list[float]
    survival: list[float]
    lower: list[float]
    upper: list[float]
    median_days: Optional[float]
    survival_1y: Optional[float]
    survival_2y: Optional[float]
    risk: Optional[float]
    conditioned_on_day: float
    per_visit: list[dict]
    visits: list[dict]
    model: dict
    image_model: Optional[dict]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    band_level: Optional[float] = None

    def to_dict(self) -> dict:
        """JSON-ready dict (``survival.json``)."""
        return {
            "times_days": [round(t, 4) for t in self.times_days],
            "survival": list(self.survival), "lower": list(self.lower), "upper": list(self.upper),
            "median_days": self.median_days, "survival_1y": self.survival_1y, "survival_2y": self.survival_2y,
            "risk": self.risk, "conditioned_on_day": self.conditioned_on_day, "band_level": self.band_level,
            "per_visit": [dict(curve) for curve in self.per_visit],
            "visits": [dict(visit) for visit in self.visits],
            "model": dict(self.model), "image_model": None if self.image_model is None else dict(self.image_model),
            "warnings": list(self.warnings),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "intended_use": "Research only. Not for clinical use.",
        }

    def save(self, out_dir: os.PathLike) -> dict:
        """Write ``survival.json`` and ``survival.png`` (the curve, its band and median, and the
        curve after each visit) into ``out_dir``, each atomically. Returns the JSON dict."""
        from .survival.figure import draw_survival

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        with atomic_output(out_dir / "survival.png") as temporary:
            draw_survival(data, temporary)
        write_json_atomic(data, out_dir / "survival.json")
        return data
