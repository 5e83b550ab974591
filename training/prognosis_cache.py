"""Longitudinal cohorts as cached visit features, so the prognosis model trains on arrays.

Every visit's images go through exactly the Classify preprocessing and the classifier's
encoder (:meth:`braintumorai.pipeline.Classifier.embed`), once; the GRU then trains in
seconds per epoch. A cache folder holds::

    visits.npz     per visit (row): patient (index), day, treatments (V, 3), compartments (V, 3) mL
                   or NaN without a segmentation, embeddings (V, S, 2E) and probabilities (V, S, K)
                   for each modality subset S, subset_masks (V, S, M)
    patients.json  per patient: id, label, age, sex, kps, survival_days, event, and for phantoms
                   true_risk and first_visit_risk (the generator's oracle)
    meta.json      key (what was cached), subsets, modalities, classes, the classifier's sha256;
                   written last, so an interrupted cache is rebuilt

Phantom cohorts embed each visit three ways: all six modalities, the four MRI, and a subset
drawn once per patient, so the model meets every protocol. A dataset read by the one loader
(a cohort written by ``braintumorai cohort``, LUMIERE, ...) is embedded as it is.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from braintumorai.modalities import MODALITIES, MRI_MODALITIES
from braintumorai.survival.compartments import COMPARTMENTS, compartment_volumes
from braintumorai.survival.visit_features import TREATMENTS

PHANTOM_SUBSETS = ("all", "mri", "random")

_classifier = None  # one per worker process


def _worker_classifier(model: Optional[str]):
    global _classifier
    if _classifier is None:
        import SimpleITK as sitk
        import torch

        from braintumorai.pipeline import Classifier

        torch.set_num_threads(1)
        sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
        _classifier = Classifier.load(model, device="cpu")
    return _classifier


def _random_subset(seed: int) -> tuple[str, ...]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    while True:
        keep = rng.random(len(MODALITIES)) < 0.5
        if keep.any():
            return tuple(m for m, k in zip(MODALITIES, keep) if k)


def _embed_subsets(classifier, study, subsets: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, 2E) embeddings, (S, K) probabilities and (S, M) masks of one study read as each subset."""
    prepared = classifier.prepare(study)[1]
    vectors, probabilities, masks = [], [], []
    for subset in subsets:
        embedding = classifier.embed(prepared, modalities=subset)
        vectors.append(embedding.vector)
        probabilities.append([embedding.probabilities[c] for c in classifier.classes])
        masks.append([m in embedding.modalities for m in MODALITIES])
    return np.asarray(vectors, np.float32), np.asarray(probabilities, np.float32), np.asarray(masks, bool)


def _phantom_patient(job: tuple) -> tuple[dict, list[dict]]:
    seed, label, spacing, model = job
    from braintumorai.study import Study
    from braintumorai.synthetic.longitudinal import generate_patient

    classifier = _worker_classifier(model)
    patient = generate_patient(seed, label=label)
    subsets = [MODALITIES, MRI_MODALITIES, _random_subset(seed)]
    visits = []
    for visit in patient.visits:
        case = patient.case(visit.index, spacing=spacing)
        vectors, probabilities, masks = _embed_subsets(classifier, Study(dict(case.images)), subsets)
        visits.append({"day": visit.day, "treatments": visit.treatments,
                       "compartments": compartment_volumes(case.masks["seg"]),
                       "embeddings": vectors, "probabilities": probabilities, "subset_masks": masks})
    summary = {"id": f"SYN-{seed}", "label": patient.label, "age": patient.age, "sex": patient.sex,
               "kps": patient.kps, "survival_days": patient.survival_days, "event": bool(patient.event),
               "true_risk": patient.true_risk, "first_visit_risk": patient.first_visit_risk}
    return summary, visits


def _dataset_patient(job: tuple) -> tuple[dict, list[dict]]:
    records, model = job
    import SimpleITK as sitk

    from braintumorai.study import Study

    classifier = _worker_classifier(model)
    first = records[0]
    visits = []
    for record in records:
        files = {m: p for m, p in record.files.items() if m in classifier.modalities}
        subset = [tuple(files)] if files else []
        vectors, probabilities, masks = (_embed_subsets(classifier, Study.from_files(files), subset) if files else
                                         (None, None, None))
        compartments = (compartment_volumes(sitk.ReadImage(str(record.seg_path)), str(record.seg_path))
                        if record.seg_path else None)
        visits.append({"day": record.visit_day or 0, "treatments": tuple(record.treatments),
                       "compartments": compartments, "embeddings": vectors, "probabilities": probabilities,
                       "subset_masks": masks})
    summary = {"id": first.patient_id, "label": first.label, "age": first.age, "sex": first.sex, "kps": first.kps,
               "survival_days": first.survival_days, "event": bool(first.event)}
    return summary, visits


def build_phantom_cache(folder: os.PathLike, n_patients: int, first_seed: int, spacing_mm: float = 2.0,
                        model: Optional[str] = None, workers: int = 1, log=print) -> Path:
    """Generate and embed ``n_patients`` longitudinal phantom patients (types balanced,
    seeds ``first_seed`` onwards); reused when the same cohort and classifier were cached."""
    from braintumorai.synthetic import TUMOUR_CLASSES

    jobs = [(first_seed + i, TUMOUR_CLASSES[i % len(TUMOUR_CLASSES)], float(spacing_mm), model)
            for i in range(n_patients)]
    key = {"source": "phantoms", "patients": n_patients, "first_seed": first_seed, "spacing_mm": float(spacing_mm)}
    return _build(Path(folder), key, _phantom_patient, jobs, PHANTOM_SUBSETS, model, workers, log)


def build_dataset_cache(folder: os.PathLike, patients: dict, model: Optional[str] = None, workers: int = 1,
                        log=print) -> Path:
    """Embed the visits of ``{patient_id: [VisitRecord sorted by day]}`` (patients with a
    survival time only)."""
    jobs = [(records, model) for records in patients.values()]
    key = {"source": "dataset", "cases": [[r.case_id for r in records] for records in patients.values()]}
    return _build(Path(folder), key, _dataset_patient, jobs, ("as given",), model, workers, log)


def _classifier_card(model: Optional[str]) -> dict:
    from braintumorai.checkpoints import read_card, resolve_model

    return read_card(resolve_model(model))


def _build(folder: Path, key: dict, worker, jobs: list, subsets: Sequence[str], model, workers: int, log) -> Path:
    card = _classifier_card(model)
    key = json.loads(json.dumps({**key, "classifier": {k: card.get(k) for k in ("name", "version", "sha256")},
                                 "subsets": list(subsets)}))
    meta_path = folder / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == key:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    patients, rows = [], []
    start = time.time()
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        for index, (summary, visits) in enumerate(pool.imap(worker, jobs, chunksize=2)):
            patients.append(summary)
            rows += [(index, visit) for visit in visits]
            done = index + 1
            if done % 20 == 0 or done == len(jobs):
                rate = done / (time.time() - start)
                log(f"  cache {folder.name}: {done}/{len(jobs)} patients, {len(rows)} visits "
                    f"({rate * 60:.0f} patients/min, about {(len(jobs) - done) / rate / 60:.0f} min left)")
    _save(folder, patients, rows, len(subsets))
    meta = {"key": key, "subsets": list(subsets), "classes": list(card["classes"]), "modalities": list(MODALITIES),
            "compartments": list(COMPARTMENTS),
            "treatments": list(TREATMENTS), "seconds": round(time.time() - start, 1)}
    meta_path.write_text(json.dumps(meta, indent=1))
    return folder


def _save(folder: Path, patients: list, rows: list, n_subsets: int) -> None:
    dim = next((v["embeddings"].shape[1] for _, v in rows if v["embeddings"] is not None), 0)
    classes = next((v["probabilities"].shape[1] for _, v in rows if v["probabilities"] is not None), 0)
    n = len(rows)
    embeddings = np.full((n, n_subsets, dim), np.nan, np.float32)
    probabilities = np.full((n, n_subsets, classes), np.nan, np.float32)
    masks = np.zeros((n, n_subsets, len(MODALITIES)), bool)
    for i, (_, visit) in enumerate(rows):
        if visit["embeddings"] is not None:
            embeddings[i], probabilities[i], masks[i] = visit["embeddings"], visit["probabilities"], visit["subset_masks"]
    compartments = np.array([[v["compartments"][c] for c in COMPARTMENTS] if v["compartments"] else
                             [np.nan] * len(COMPARTMENTS) for _, v in rows], np.float32).reshape(n, len(COMPARTMENTS))
    treatments = np.array([[t in v["treatments"] for t in TREATMENTS] for _, v in rows], bool).reshape(n, len(TREATMENTS))
    np.savez(folder / "visits.npz", patient=np.array([p for p, _ in rows], np.int64),
             day=np.array([v["day"] for _, v in rows], np.float32), treatments=treatments,
             compartments=compartments, embeddings=embeddings, probabilities=probabilities, subset_masks=masks)
    (folder / "patients.json").write_text(json.dumps(patients, indent=0))


def phantom_cohort_without_images(n_patients: int, seed: int):
    """A longitudinal phantom cohort without rendering a single image (seconds, for tests and
    quick experiments): per visit the day, treatments and the generator's tumour-core volume as
    the core compartment (oedema and enhancing 0), no embeddings. Returns a ``CachedCohort``."""
    from braintumorai.synthetic.longitudinal import generate_cohort

    from .prognosis_data import CachedCohort

    patients = generate_cohort(n_patients, seed=seed, with_case_params=False)
    rows = [(index, visit) for index, patient in enumerate(patients) for visit in patient.visits]
    n = len(rows)
    visits = {
        "patient": np.array([index for index, _ in rows], np.int64),
        "day": np.array([v.day for _, v in rows], np.float32),
        "treatments": np.array([[t in v.treatments for t in TREATMENTS] for _, v in rows], bool),
        "compartments": np.array([[v.tumour_volume_ml, 0.0, 0.0] for _, v in rows], np.float32),
        "embeddings": np.zeros((n, 1, 0), np.float32), "probabilities": np.zeros((n, 1, 0), np.float32),
        "subset_masks": np.zeros((n, 1, len(MODALITIES)), bool),
    }
    summaries = [{"id": f"SYN-{p.seed}", "label": p.label, "age": p.age, "sex": p.sex, "kps": p.kps,
                  "survival_days": p.survival_days, "event": bool(p.event), "true_risk": p.true_risk,
                  "first_visit_risk": p.first_visit_risk} for p in patients]
    return CachedCohort(visits, summaries, {"subsets": ["none"], "key": {"source": "phantoms without images",
                                                                         "patients": n_patients, "seed": seed}})
