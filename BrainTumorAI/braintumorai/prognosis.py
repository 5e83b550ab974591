"""The Predict-survival pipeline: a patient's visits in, a ``SurvivalPrediction`` out.

    Prognosticator.load()                      bundled prognosis model (+ the classifier whose
                                               embeddings it was trained on)
    prognosticator.predict(visits, clinical)   embed each visit -> visit vectors -> GRU ensemble
                                               -> curve after every visit, band, median, 1-/2-year

Rules for the visits (each stated in the result's ``warnings`` when it applies):
- visits are sorted by day; days count from the first visit (the earliest day becomes 0);
- two visits on the same day are both kept, in the order given (0 days apart);
- a visit without images (or without a modality the classifier reads) still counts with its
  day, treatments and segmentation, as a visit without imaging;
- treatments are those received by each visit (``surgery``, ``radiotherapy``,
  ``chemotherapy``); any other kind is refused;
- the curve after visit ``k`` is read given alive on that visit's day: S(t) is 1 before it.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from .errors import InputError, ModelError
from .pipeline import Classifier, ProgressCallback, check_device, default_device
from .results import SurvivalPrediction
from .study import Study
from .survival.band import UNFITTED, band_setting
from .survival.compartments import compartment_volumes
from .survival.curves import curves_from_hazards
from .survival.time_grid import TimeGrid
from .survival.visit_features import TREATMENTS, FeatureSpec, VisitData, visit_matrix


@dataclass
class PrognosisVisit:
    """One visit of the patient.

    Attributes:
        day: days since any fixed origin (the first visit becomes day 0).
        study: the images: a :class:`Study`, ``{modality: path or SimpleITK.Image}``, paths named
            by modality, or None for a visit without imaging.
        segmentation: a BraTS-style tumour label map (path or image), or None.
        treatments: treatments received by this visit (``surgery``, ``radiotherapy``,
            ``chemotherapy``).
        name: how messages call this visit (default ``visit on day N``).
    """

    day: float
    study: Any = None
    segmentation: Any = None
    treatments: Sequence[str] = ()
    name: str = ""


class Prognosticator:
    """A loaded prognosis model, its card, and the classifier that embeds its images."""

    def __init__(self, model, card: dict, device: str, classifier: Optional[Classifier]) -> None:
        self.model = model.eval()
        self.card = card
        self.device = device
        self.classifier = classifier
        self.grid = TimeGrid(tuple(float(e) for e in card["time_grid_days"]))
        self.spec = FeatureSpec.from_dict(card["features"])
        self.band = dict(card.get("band") or UNFITTED)
        if self.spec.size != model.n_features:
            raise ModelError(f"Prognosis model {card.get('name')!r}: its card describes {self.spec.size} features per "
                             f"visit but the network reads {model.n_features}; restore the original card.")

    @classmethod
    def load(cls, model: Optional[str] = None, device: Optional[str] = None,
             classifier: Optional[Union[str, Classifier]] = None) -> "Prognosticator":
        """Load the bundled prognosis model, a registry name or a checkpoint path, with the
        classifier it was trained with (the card names it; its sha256 must match)."""
        from .checkpoints import load_checkpoint, resolve_model

        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise InputError(f"The prognosis model must be a registry name or a checkpoint path, not {model!r}.")
        device = check_device(device or default_device())
        network, card = load_checkpoint(resolve_model(model, task="prognosis"), device=device)
        if card["architecture"] != "PrognosisGRU":
            raise ModelError(f"{card.get('name')!r} is a {card['architecture']}, not a prognosis model; "
                             "give a PrognosisGRU checkpoint.")
        spec = FeatureSpec.from_dict(card["features"])
        image_model = card.get("image_model")
        if spec.image_dim and not isinstance(classifier, Classifier):
            if not image_model:
                raise ModelError(f"Prognosis model {card.get('name')!r} reads images but its card names no "
                                 "classifier; restore the original card.")
            # The classifier as training named it: a registry name, or the checkpoint path it was given as.
            classifier = Classifier.load(classifier or image_model.get("source") or image_model["name"], device=device)
        if spec.image_dim:
            installed = classifier.card.get("sha256")
            if image_model and installed != image_model.get("sha256"):
                raise ModelError(
                    f"Prognosis model {card.get('name')!r} was trained on the embeddings of classifier "
                    f"{image_model.get('name')!r} (sha256 {str(image_model.get('sha256'))[:12]}...), but the classifier "
                    f"at hand has sha256 {str(installed)[:12]}...; retrain the prognosis model "
                    "(python -m training.prognosis fit) or install the matching classifier.")
        return cls(network, card, device, classifier if spec.image_dim else None)

    def predict(self, visits: Sequence[Union[PrognosisVisit, Mapping]], clinical: Optional[Mapping] = None,
                progress: Optional[ProgressCallback] = None) -> SurvivalPrediction:
        """Survival curves of one patient from their visits.

        Args:
            visits: :class:`PrognosisVisit` objects or dicts with the same keys (``day``,
                ``study``, ``segmentation``, ``treatments``, ``name``); any order.
            clinical: ``{"age": years, "sex": "M"/"F", "kps": 0-100}``; each may be missing.
            progress: called with (stage, fraction done).
        """
        import torch

        report = progress or (lambda stage, fraction: None)
        start = time.perf_counter()
        warnings: list[str] = []
        visits = _checked_visits(visits, warnings)
        clinical = _checked_clinical(clinical)
        report("Reading the visits", 0.05)
        data, modalities = self._visit_data(visits, warnings, report)
        timings = {"embedding_s": time.perf_counter() - start}
        tick = time.perf_counter()
        x = torch.from_numpy(visit_matrix(self.spec, data, clinical)[None]).to(self.device)
        with torch.no_grad():
            hazards = self.model.hazards(x).float()[:, 0].cpu().numpy()  # (M, K, J)
        report("Survival curves", 0.9)
        per_visit = []
        for k, visit in enumerate(data):
            seen = data[: k + 1]
            band = band_setting(self.band, any(v.embedding is not None for v in seen),
                                any(v.compartments is not None for v in seen), len(seen))
            curves = curves_from_hazards(self.grid, hazards[:, k], visit.day, band)
            per_visit.append(_curve_dict(visit.day, curves))
        timings["prognosis_s"] = time.perf_counter() - tick
        timings["total_s"] = time.perf_counter() - start
        report("Done", 1.0)
        last = per_visit[-1]
        return SurvivalPrediction(
            times_days=[float(t) for t in self.grid.edges], survival=last["survival"], lower=last["lower"],
            upper=last["upper"], median_days=last["median_days"], survival_1y=last["survival_1y"],
            survival_2y=last["survival_2y"], risk=last["risk"], conditioned_on_day=last["day"],
            per_visit=per_visit,
            visits=[{"day": d.day, "name": v.name, "modalities": m, "segmentation": d.compartments is not None,
                     "treatments": list(d.treatments)} for v, d, m in zip(visits, data, modalities)],
            model={k: self.card.get(k) for k in ("name", "version", "sha256")},
            image_model=None if self.classifier is None else
            {k: self.classifier.card.get(k) for k in ("name", "version", "sha256")},
            warnings=warnings, timings=timings,
            band_level=float(self.band["nominal_coverage"]) if self.band.get("offsets") and
            self.band.get("nominal_coverage") else None)

    def _visit_data(self, visits: list[PrognosisVisit], warnings: list[str],
                    report) -> tuple[list[VisitData], list[list[str]]]:
        """Per visit: its vector's data and the modalities that were read. The visits are
        embedded side by side (reading and resampling release the GIL)."""
        embed = self.spec.image_dim > 0
        if not embed and any(v.study is not None for v in visits):
            warnings.append("This prognosis model reads no images; the visits' images were not used.")
        with_images = [v for v in visits if embed and v.study is not None]
        done = []

        def embedding(visit: PrognosisVisit):
            try:
                result = self.classifier.embed(visit.study), None
            except ModelError as error:  # no modality the classifier reads
                result = None, (f"The {visit.name} has no volume the classifier reads ({error}); it was used as a "
                                "visit without imaging.")
            done.append(visit)
            report(f"Embedded {len(done)} of {len(with_images)} visits", 0.05 + 0.8 * len(done) / len(with_images))
            return result

        workers = max(1, min(len(with_images), os.cpu_count() or 1, 4))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            embeddings = dict(zip(map(id, with_images), pool.map(embedding, with_images)))
        data, modalities = [], []
        for visit in visits:
            result, problem = embeddings.get(id(visit), (None, None))
            if problem:
                warnings.append(problem)
            elif embed and visit.study is None:
                warnings.append(f"The {visit.name} has no images; its day, treatments and segmentation were used.")
            compartments = None
            if visit.segmentation is not None:
                if self.spec.compartments:
                    compartments = compartment_volumes(_image(visit.segmentation, visit.name), visit.name)
                else:
                    warnings.append(f"This prognosis model reads no segmentation; that of the {visit.name} was not used.")
            for doubt in ([] if result is None else result.warnings):
                warnings.append(f"{visit.name[:1].upper()}{visit.name[1:]}: {doubt}")
            data.append(VisitData(day=visit.day, treatments=tuple(visit.treatments),
                                  embedding=None if result is None else result.vector, compartments=compartments,
                                  probabilities=None if result is None else result.probabilities))
            modalities.append([] if result is None else list(result.modalities))
        return data, modalities


def _curve_dict(day: float, curves) -> dict:
    def number(value) -> Optional[float]:
        value = float(value)
        return None if math.isnan(value) else round(value, 6)

    return {"day": float(day), "survival": [round(float(v), 6) for v in curves.survival],
            "lower": [round(float(v), 6) for v in curves.lower], "upper": [round(float(v), 6) for v in curves.upper],
            "median_days": number(curves.median_days), "survival_1y": number(curves.survival_1y),
            "survival_2y": number(curves.survival_2y), "risk": number(curves.risk)}


def _image(value, name: str) -> sitk.Image:
    from .io import read_image

    if isinstance(value, sitk.Image):
        return value
    if isinstance(value, (str, os.PathLike)):
        if not os.path.exists(value):
            raise InputError(f"The segmentation '{value}' of the {name} does not exist; check the path.")
        try:
            return sitk.ReadImage(str(value))
        except RuntimeError:
            return read_image(value)  # raises its clear sentence
    raise InputError(f"The segmentation of the {name} must be a file path or a SimpleITK image, not {type(value).__name__}.")


def _checked_visits(visits, warnings: list[str]) -> list[PrognosisVisit]:
    """Visits as ``PrognosisVisit``, sorted, re-based to day 0, treatments checked."""
    if isinstance(visits, (PrognosisVisit, Mapping)) or not isinstance(visits, Sequence) or not visits:
        raise InputError("Give the visits as a non-empty list (one entry per study date).")
    checked = []
    for index, visit in enumerate(visits):
        if isinstance(visit, Mapping):
            unknown = set(visit) - {"day", "study", "segmentation", "treatments", "name"}
            if unknown or "day" not in visit:
                raise InputError(f"Visit {index + 1} must have a 'day' and may have 'study', 'segmentation', "
                                 f"'treatments', 'name'; it has {', '.join(sorted(map(str, visit)))}.")
            visit = PrognosisVisit(**visit)
        elif not isinstance(visit, PrognosisVisit):
            raise InputError(f"Visit {index + 1} is a {type(visit).__name__}; give a PrognosisVisit or a dict.")
        try:
            day = float(visit.day)
        except (TypeError, ValueError):
            raise InputError(f"Visit {index + 1} has day {visit.day!r}; give the day as a number of days.") from None
        if not math.isfinite(day):
            raise InputError(f"Visit {index + 1} has day {visit.day!r}; give the day as a finite number of days.")
        treatments = [visit.treatments] if isinstance(visit.treatments, str) else list(visit.treatments or ())
        for kind in treatments:
            if kind not in TREATMENTS:
                raise InputError(f"Unknown treatment {kind!r} at visit {index + 1}; use {', '.join(TREATMENTS)}.")
        study = visit.study
        if isinstance(study, Mapping) and not study:
            study = None
        elif isinstance(study, Mapping) and all(isinstance(v, sitk.Image) for v in study.values()):
            study = Study(dict(study), names={m: f"{m} of visit {index + 1}" for m in study})
        checked.append(PrognosisVisit(day, study, visit.segmentation, tuple(t for t in TREATMENTS if t in treatments),
                                      visit.name))
    order = sorted(range(len(checked)), key=lambda i: checked[i].day)
    if order != list(range(len(checked))):
        warnings.append("The visits were not in date order; they were sorted by day.")
    checked = [checked[i] for i in order]
    first = checked[0].day
    if first != 0:
        warnings.append(f"Days are counted from the first visit: day {first:g} became day 0.")
    days = [v.day - first for v in checked]
    if len(set(days)) < len(days):
        warnings.append("Two visits share a day; both were used, in the order given, 0 days apart.")
    return [PrognosisVisit(d, v.study, v.segmentation, v.treatments, v.name or f"visit on day {d:g}")
            for d, v in zip(days, checked)]


def _checked_clinical(clinical: Optional[Mapping]) -> dict:
    clinical = dict(clinical or {})
    unknown = set(clinical) - {"age", "sex", "kps"}
    if unknown:
        raise InputError(f"Unknown clinical covariate(s) {', '.join(sorted(map(str, unknown)))}; use age, sex, kps.")
    age, sex, kps = clinical.get("age"), clinical.get("sex"), clinical.get("kps")
    if age is not None and not (isinstance(age, (int, float)) and 0 <= age <= 120):
        raise InputError(f"Age {age!r} is not a number of years between 0 and 120.")
    if kps is not None and not (isinstance(kps, (int, float)) and 0 <= kps <= 100):
        raise InputError(f"KPS {kps!r} is not a Karnofsky score between 0 and 100.")
    if sex is not None:
        sex = str(sex).strip().upper()[:1]
        if sex not in ("M", "F"):
            raise InputError(f"Sex {clinical.get('sex')!r} is not M or F (leave it out when unknown).")
    return {"age": age, "sex": sex, "kps": kps}
