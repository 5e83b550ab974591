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
        warnings: plain sentences about doubts in the input (an implausible volume for its
            modality, a brain mask of an odd size, ...); empty when none.
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
    warnings: list[str] = field(default_factory=list)

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
            "warnings": list(self.warnings),
            "intended_use": "Research only. Not for clinical use.",
        }

    def save(self, out_dir: os.PathLike, final_dir: Optional[os.PathLike] = None) -> dict:
        """Write ``saliency_<name>.nii.gz`` maps and ``result.json`` into ``out_dir``.

        Without ``final_dir`` the folder is replaced whole (see
        :func:`braintumorai.output_folder.output_folder`): it ends up holding this result
        and nothing else, or, after an error, what it held before. With ``final_dir``,
        ``out_dir`` is a staging folder the caller swaps in later as ``final_dir``, and the
        paths in result.json point there. Every file is verified before it is renamed.

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
            written = pool.map(lambda item: write_image_atomic(item[1], out_dir / f"saliency_{item[0]}.nii.gz"),
                               self.saliency.items())
            paths = {name: str(final_dir / path.name) for name, path in zip(self.saliency, written)}
        data = self.to_dict(paths)
        write_json_atomic(data, out_dir / "result.json")
        return data
