"""Phantoms on the model grid, cached on disk, so training reads arrays, not generators.

Each case goes through exactly the inference path (``Study`` -> ``align`` ->
``model_input``, brain mask estimated as for a user's study), so the network is
trained on what it will see. A cache folder holds:

    channels.npy  float16 (N, M, D, H, W)   normalised channels on the model grid
    present.npy   bool    (N, M)
    labels.npy    int64   (N,)              index into classes.json
    tumour.npy    uint8   (N, D, H, W)      tumour + oedema mask on the model grid
    brain.npy     bool    (N, D, H, W)
    meta.json     classes, modalities, grid, seeds, generation settings, and per case
                  ``info``: visit index, day, treatments, randomisation setting

A phantom split mixes first visits and follow-up visits of longitudinal patients
(``followup_share`` of the tumour cases, with their post-treatment appearance), each
plain or domain-randomised (``randomised_share``, setting ``randomisation``:
:mod:`braintumorai.synthetic.randomisation`). ``visits="pairs"`` gives, for every
patient, its first visit and one follow-up (the follow-up test set).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class CacheSpec:
    """What to generate: ``cases_per_class`` phantoms of each class, seeds from ``first_seed``."""

    cases_per_class: int
    first_seed: int
    spacing_mm: tuple[float, float, float]
    grid_size: tuple[int, int, int]
    phantom_spacing_mm: float = 2.0
    followup_share: float = 0.0
    randomised_share: float = 0.0
    randomisation: str = "training"
    randomised_spacing_mm: float | None = None  # render randomised phantoms on another grid (cheaper)
    visits: str = "mixed"          # or "pairs": first visit and one follow-up per tumour patient


def _cached_arrays(study, seg, spacing_mm, grid_size, modalities) -> tuple:
    """One case through the inference path onto the model grid: (channels float16,
    present, tumour uint8, brain); ``seg`` is a label map (any geometry) or None."""
    import SimpleITK as sitk

    from braintumorai.model_grid import ModelGrid, to_model
    from braintumorai.study import align, model_input

    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    prepared = model_input(align(study), ModelGrid(tuple(spacing_mm), tuple(grid_size)), modalities)
    tumour = np.zeros(prepared.brain.shape, np.uint8)
    if seg is not None:
        tumour = (to_model(sitk.Cast(seg > 0, sitk.sitkFloat32), prepared.grid) > 0.5).astype(np.uint8)
    return prepared.channels.astype(np.float16), prepared.present, tumour, prepared.brain


def phantom_for(seed: int, label: str, spec: dict, modalities, visit: str | None = None):
    """The phantom of one cache entry and its ``info``: a first visit or (for tumour types,
    with probability ``followup_share``, or as ``visit`` says) a random follow-up visit of
    the longitudinal patient of this seed, plain or randomised as the spec draws."""
    from braintumorai.synthetic import TUMOUR_CLASSES, generate_case, generate_patient
    from braintumorai.synthetic.randomisation import SETTINGS, randomised_case

    rng = np.random.default_rng(np.random.SeedSequence([seed, 404]))
    followup = rng.random() < spec["followup_share"] if visit is None else visit == "followup"
    randomised = rng.random() < spec["randomised_share"]
    spacing = spec["phantom_spacing_mm"]
    info = {"seed": seed, "label": label, "visit": 0, "day": 0, "treatments": [],
            "randomisation": spec["randomisation"] if randomised else None}
    patient, index = None, 0
    if label in TUMOUR_CLASSES and (followup or visit == "first"):
        patient = generate_patient(seed, n_visits=int(rng.integers(2, 9)), label=label)
        index = int(rng.integers(1, len(patient.visits))) if followup else 0
        info.update(visit=index, day=patient.visits[index].day, treatments=list(patient.visits[index].treatments))
    if randomised:
        spacing = spec.get("randomised_spacing_mm") or spacing
        case = randomised_case(label, seed, modalities, spacing, SETTINGS[spec["randomisation"]], patient, index)
    elif patient is not None:
        case = patient.case(index, modalities=modalities, spacing=spacing)
    else:
        case = generate_case(label=label, seed=seed, modalities=modalities, spacing=spacing)
    return case, info


def _one_case(job: tuple) -> tuple:
    seed, label, spec_dict, modalities, visit = job
    from braintumorai.study import Study

    case, info = phantom_for(seed, label, spec_dict, modalities, visit)
    return (*_cached_arrays(Study(dict(case.images)), case.masks["seg"], spec_dict["spacing_mm"],
                            spec_dict["grid_size"], modalities), info)


def build_cache(folder: os.PathLike, spec: CacheSpec, classes: Sequence[str], modalities: Sequence[str],
                workers: int = 2) -> Path:
    """Generate the phantoms of ``spec`` into ``folder`` (skipped when already complete)."""
    folder = Path(folder)
    # Through JSON, so tuples and lists compare equal with what meta.json holds.
    key = json.loads(json.dumps({"spec": asdict(spec), "classes": list(classes), "modalities": list(modalities)}))
    meta_path = folder / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == key:
        return folder
    from braintumorai.synthetic import TUMOUR_CLASSES

    jobs = [(spec.first_seed + index * len(classes) + k, label, asdict(spec), tuple(modalities), None)
            for index in range(spec.cases_per_class) for k, label in enumerate(classes)]
    if spec.visits == "pairs":
        jobs = [(*job[:4], visit) for job in jobs if job[1] in TUMOUR_CLASSES for visit in ("first", "followup")]
    labels = [list(classes).index(job[1]) for job in jobs]
    _write_cache(folder, _one_case, jobs, labels, len(modalities), spec.grid_size, workers,
                 {"key": key, "seeds": [job[0] for job in jobs]})
    return folder


def _write_cache(folder: Path, worker, jobs: list, labels: Sequence[int], n_modalities: int,
                 grid_size: Sequence[int], workers: int, meta: dict) -> None:
    """Run ``worker`` over ``jobs`` in ``workers`` processes and store the arrays;
    ``meta.json`` is written last, so a cache interrupted half-way is rebuilt."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)
    n = len(jobs)
    shape = (n, n_modalities) + tuple(reversed(grid_size))
    channels = np.lib.format.open_memmap(folder / "channels.npy", "w+", np.float16, shape)
    present = np.zeros((n, n_modalities), bool)
    tumour = np.zeros((n,) + shape[2:], np.uint8)
    brain = np.zeros((n,) + shape[2:], bool)
    info = []
    start = time.time()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for index, (c, p, t, b, *extra) in enumerate(pool.imap(worker, jobs, chunksize=4)):
            channels[index], present[index], tumour[index], brain[index] = c, p, t, b
            info.append(extra[0] if extra else {})
            if (index + 1) % 100 == 0 or index + 1 == n:
                print(f"  cache {folder.name}: {index + 1}/{n} cases ({(index + 1) / (time.time() - start):.1f}/s)",
                      flush=True)
    channels.flush()
    np.save(folder / "present.npy", present)
    np.save(folder / "labels.npy", np.asarray(labels, np.int64))
    np.save(folder / "tumour.npy", tumour)
    np.save(folder / "brain.npy", brain)
    (folder / "meta.json").write_text(json.dumps({**meta, "info": info, "seconds": time.time() - start}))


@dataclass
class CachedSet:
    """A cache folder opened for reading (channels memory-mapped)."""

    channels: np.ndarray
    present: np.ndarray
    labels: np.ndarray
    tumour: np.ndarray
    brain: np.ndarray
    seeds: list
    info: list = None

    @classmethod
    def open(cls, folder: os.PathLike) -> "CachedSet":
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        return cls(
            channels=np.load(folder / "channels.npy", mmap_mode="r"),
            present=np.load(folder / "present.npy"),
            labels=np.load(folder / "labels.npy"),
            tumour=np.load(folder / "tumour.npy", mmap_mode="r"),
            brain=np.load(folder / "brain.npy", mmap_mode="r"),
            seeds=meta["seeds"],
            info=meta.get("info") or [{} for _ in meta["seeds"]],
        )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows) -> "CachedSet":
        """The cases at ``rows`` (indices or a bool mask), loaded into memory."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return CachedSet(channels=np.asarray(self.channels[rows]), present=self.present[rows],
                         labels=self.labels[rows], tumour=np.asarray(self.tumour[rows]),
                         brain=np.asarray(self.brain[rows]), seeds=[self.seeds[i] for i in rows],
                         info=[self.info[i] for i in rows])


def _one_record(job: tuple) -> tuple:
    record, spacing_mm, grid_size, modalities = job
    import SimpleITK as sitk

    from braintumorai.study import Study

    study = Study.from_files({m: p for m, p in record.files.items() if m in modalities})
    seg = sitk.ReadImage(str(record.seg_path)) if record.seg_path else None
    return _cached_arrays(study, seg, spacing_mm, grid_size, modalities)


def build_cache_from_records(folder: os.PathLike, records, classes, modalities, spacing_mm, grid_size,
                             workers: int = 2) -> Path:
    """Cache dataset records (``braintumorai.datasets``) on the model grid, like :func:`build_cache`.

    Reused only when the same cases, classes, modalities and grid were cached before.
    """
    folder = Path(folder)
    key = json.loads(json.dumps({"cases": [r.case_id for r in records], "classes": list(classes),
                                 "modalities": list(modalities), "spacing_mm": list(spacing_mm),
                                 "grid_size": list(grid_size)}))
    meta_path = folder / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == key:
        return folder
    jobs = [(r, tuple(spacing_mm), tuple(grid_size), tuple(modalities)) for r in records]
    labels = [list(classes).index(r.label) for r in records]
    _write_cache(folder, _one_record, jobs, labels, len(modalities), grid_size, workers,
                 {"key": key, "seeds": [r.case_id for r in records]})
    return folder
