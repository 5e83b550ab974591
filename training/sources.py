"""Where training cases come from: the phantom generator, or a dataset on disk
(synthetic cohort written by ``braintumorai cohort``, BraTS, UCSF-PDGM, ...)
read by the one loader, split by patient."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .phantom_cache import CacheSpec, build_cache, build_cache_from_records

SPLITS = ("train", "calibration", "test")


def prepare_caches(config: dict, cache_root: Path, log=print, splits=SPLITS):
    """Build the caches of ``splits``; returns ({split: folder}, classes, data card)."""
    data = config["data"]
    if data["source"] == "phantoms":
        return _phantom_caches(config, cache_root, log, splits)
    if data["source"] == "dataset":
        return _dataset_caches(config, cache_root, log, splits)
    raise ValueError(f"Unknown data source '{data['source']}'; use 'phantoms' or 'dataset'.")


def _phantom_caches(config, cache_root, log, splits):
    from braintumorai.synthetic import CLASSES

    data = config["data"]
    classes = tuple(config.get("classes", CLASSES))
    folders = {}
    for split in splits:
        spec = phantom_spec(config, split)
        folder = cache_root / f"phantoms-{split}-{_key(spec)}"
        log(f"phantom cache '{split}': {spec.cases_per_class} cases per class -> {folder}")
        folders[split] = build_cache(folder, spec, classes, config["modalities"], workers=config.get("workers", 2))
    card = {"source": "synthetic phantoms (braintumorai.synthetic); no patient data",
            **{f"{s}_per_class": int(data[f"{s}_per_class"]) for s in data["seeds"]},
            "seeds": data["seeds"], "phantom_spacing_mm": data.get("phantom_spacing_mm", 2.0),
            "mix": data.get("mix", {}),
            "note": "train, calibration and test phantoms come from disjoint seed ranges"}
    return folders, classes, card


def phantom_spec(config: dict, split: str) -> CacheSpec:
    """The cache spec of one split: ``data["<split>_per_class"]``, ``data["seeds"][split]``
    and the split's entry of ``data["mix"]`` (``followup_share``, ``randomised_share``,
    ``randomisation``, ``visits``; none means plain first visits)."""
    data = config["data"]
    return CacheSpec(cases_per_class=int(data[f"{split}_per_class"]), first_seed=int(data["seeds"][split]),
                     spacing_mm=tuple(config["spacing_mm"]), grid_size=tuple(config["grid_size"]),
                     phantom_spacing_mm=float(data.get("phantom_spacing_mm", 2.0)),
                     **data.get("mix", {}).get(split, {}))


def patient_split(patients: list[str], fractions: dict, seed: int) -> dict[str, str]:
    """patient -> split, so that all visits of a patient land in one split."""
    order = sorted(set(patients))
    rng = np.random.default_rng(seed)
    rng.shuffle(order)
    n = len(order)
    n_test = int(round(fractions.get("test", 0.2) * n))
    n_cal = int(round(fractions.get("calibration", 0.1) * n))
    split = {}
    for index, patient in enumerate(order):
        split[patient] = "test" if index < n_test else "calibration" if index < n_test + n_cal else "train"
    return split


def _dataset_caches(config, cache_root, log, splits):
    from braintumorai.datasets import load_dataset

    data = config["data"]
    dataset = load_dataset(data["root"], layout=data.get("layout", "auto"))
    for item, reason in dataset.skipped:
        log(f"  skipped {item}: {reason}")
    records = [r for r in dataset.records if r.label not in (None, "")]
    classes = tuple(config.get("classes") or sorted({r.label for r in records}))
    records = [r for r in records if r.label in classes]
    assignment = patient_split([r.patient_id for r in records], data.get("split", {}), config["seed"])
    folders = {}
    for split in splits:
        chosen = [r for r in records if assignment[r.patient_id] == split]
        folder = cache_root / f"dataset-{split}-{_key((data['root'], split, config['spacing_mm'], config['grid_size']))}"
        log(f"dataset cache '{split}': {len(chosen)} visits -> {folder}")
        folders[split] = build_cache_from_records(folder, chosen, classes, config["modalities"],
                                                  tuple(config["spacing_mm"]), tuple(config["grid_size"]))
    card = {"source": str(data["root"]), "layout": data.get("layout", "auto"),
            "patients": len(assignment), "visits": len(records), "split": "by patient"}
    return folders, classes, card


def _key(value) -> str:
    return hashlib.sha1(json.dumps(value, default=str, sort_keys=True).encode()).hexdigest()[:10]
