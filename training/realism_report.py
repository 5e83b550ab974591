"""Realism report: phantoms against real studies, on what the model uses.

    python training/realism_report.py [--real FOLDER ...] [--n 6] [--figure Resources/realism_report.png]

For every phantom class (``--n`` plain phantoms each, 1.5 mm) and every real study folder
given (default: the real-dev studies and the real sample beside the repository, when
present), :mod:`training.realism_metrics` measures the same things the same way:
intensity per tissue after normalisation, lesion count and size, oedema / core ratio,
enhancement pattern (ring / solid / none), distance of the lesion to the brain surface,
healthy-tissue texture; and the bundled classifier gives each study its encoder's pooled
feature vector (where do real studies fall among the phantom classes?), its answer and its
out-of-distribution score. Tables go to stdout (markdown), the figure to ``--figure``.

A real folder holds volumes named by modality; a label map named ``*seg*`` (BraTS 2012:
1 oedema, 2 tumour; BraTS 2021+: 1 necrosis, 2 oedema, 3/4 enhancing) or ``*roi*`` (the
tumour) is read when present; a head-kept volume gets its brain extracted. Real studies are
only read: nothing of them is written but summary numbers and points in the figure.
Published anchor (BraTS high-grade gliomas): oedema median about 50-60 mL, oedema / core
about 1.5.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np
import SimpleITK as sitk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "BrainTumorAI"))
sys.path.insert(0, ROOT)

from braintumorai.modalities import MRI_MODALITIES, guess_modality  # noqa: E402
from training.realism_metrics import measure  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
DEFAULT_REAL = sorted(glob.glob(os.path.join(SHARED, "real-dev", "*", ""))) + sorted(
    glob.glob(os.path.join(SHARED, "real-sample", "*", "")))
CLASSES = ("glioblastoma", "lower_grade_glioma", "metastasis", "meningioma", "lymphoma", "no_tumor")
_EXT = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


def real_study(folder: str):
    """``(images, brain, labels)`` of one real folder (labels: 1 core, 2 oedema, or None)."""
    from braintumorai.brain_extraction import extract_brain, looks_skull_stripped

    files = [p for p in sorted(glob.glob(os.path.join(folder, "*"))) if p.lower().endswith(_EXT)]
    label_files = [p for p in files if any(k in os.path.basename(p).lower() for k in ("seg", "roi", "label"))]
    images = {}
    for path in files:
        if path in label_files:
            continue
        m = guess_modality(path)
        if m in MRI_MODALITIES:
            images[m] = sitk.Cast(sitk.ReadImage(path), sitk.sitkFloat32)
    reference = next(images[m] for m in ("T1C", "T1", "FLAIR", "T2") if m in images)
    images = {m: sitk.Resample(v, reference, sitk.Transform(), sitk.sitkLinear, 0.0) for m, v in images.items()}
    name = next(m for m in ("T1C", "T1", "FLAIR", "T2") if m in images)
    stripped, mask = looks_skull_stripped(images[name], name)
    brain = sitk.Cast(reference > 0, sitk.sitkUInt8) if stripped else (mask or extract_brain(images[name], name))
    labels = None
    if label_files:
        raw = sitk.Resample(sitk.ReadImage(label_files[0]), reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        a = sitk.GetArrayFromImage(raw).astype(np.int32)
        base = os.path.basename(label_files[0]).lower()
        values = set(np.unique(a)) - {0}
        if "roi" in base:
            mapped = (a > 0).astype(np.uint8)
        elif values <= {1, 2} and "2012" in folder:
            mapped = np.select([a == 2, a == 1], [1, 2], 0).astype(np.uint8)
        else:  # BraTS 2021+: 2 oedema, everything else core
            mapped = np.select([a == 2, a > 0], [2, 1], 0).astype(np.uint8)
        labels = sitk.GetImageFromArray(mapped)
        labels.CopyInformation(reference)
    return images, brain, labels


def phantom_study(label: str, seed: int):
    from braintumorai.synthetic import generate_case

    case = generate_case(label, seed=seed, modalities=MRI_MODALITIES, spacing=1.5)
    seg = sitk.GetArrayFromImage(case.masks["seg"])
    labels = sitk.GetImageFromArray(np.select([seg == 2, seg > 0], [2, 1], 0).astype(np.uint8))
    labels.CopyInformation(case.masks["seg"])
    return dict(case.images), case.masks["brain"], labels


def encoder_view(classifier, images) -> dict:
    """The classifier's answer, OOD score and the pooled vector of its fused features."""
    import torch

    from braintumorai.study import Study

    result = classifier.predict(Study(dict(images)), saliency=None)
    _, prepared = classifier.prepare(Study(dict(images)))
    with torch.no_grad():
        fused = classifier.model.forward_features(torch.from_numpy(prepared.channels[None]),
                                                  torch.from_numpy(prepared.present[None]))[0]
        vector = classifier.model.pooled_features(classifier.model.fusion_output(fused))[0].numpy()
    p = dict(zip(result.classes, result.probabilities))
    return {"predicted": result.predicted, "probability": p[result.predicted], "ood_score": result.ood_score,
            "ood_flag": result.ood_flag, "set": result.prediction_set, "vector": vector}


def _median(rows, key, sub=None):
    values = [r[key] if sub is None else (r[key] or {}).get(sub) for r in rows]
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _fmt(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", nargs="*", default=DEFAULT_REAL, help="real study folders")
    parser.add_argument("--n", type=int, default=6, help="phantoms per class")
    parser.add_argument("--figure", default=os.path.join(ROOT, "Resources", "Figures", "realism_report.png"))
    parser.add_argument("--no-model", action="store_true", help="skip the classifier's view")
    args = parser.parse_args(argv)
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(2)
    classifier = None
    if not args.no_model:
        from braintumorai.pipeline import Classifier

        classifier = Classifier.load(device="cpu")
    rows = []
    for label in CLASSES:
        for seed in range(args.n):
            images, brain, labels = phantom_study(label, 100 + seed)
            row = {"source": "phantom", "name": f"{label} {100 + seed}", "label": label, **measure(images, brain, labels)}
            if classifier is not None:
                row.update(encoder_view(classifier, images))
            rows.append(row)
    for folder in args.real:
        if not os.path.isdir(folder):
            continue
        images, brain, labels = real_study(folder)
        row = {"source": "real", "name": os.path.basename(folder.rstrip("/")), "label": "real",
               **measure(images, brain, labels)}
        if classifier is not None:
            row.update(encoder_view(classifier, images))
        rows.append(row)
    print_tables(rows)
    from training.realism_figure import draw

    draw(rows, args.figure)
    print(f"\nfigure: {args.figure}")
    return 0


def print_tables(rows) -> None:
    print("| source | lesions | core mL | oedema mL | oedema / core | enhancement (ring/solid/none) | "
          "centre to surface mm | healthy gradient energy (FLAIR / T1) | local variance (FLAIR / T1) |")
    print("|---|---|---|---|---|---|---|---|---|")
    groups = [(label, [r for r in rows if r["label"] == label]) for label in CLASSES]
    groups += [(r["name"], [r]) for r in rows if r["source"] == "real"]
    for name, group in groups:
        patterns = [r["enhancement"]["pattern"] for r in group if r["enhancement"]["pattern"]]
        pattern = "/".join(str(patterns.count(p)) for p in ("ring", "solid", "none")) if patterns else "—"
        lesions = _median(group, "lesions", "count")
        print(f"| {name} | {_fmt(lesions, 0)} | {_fmt(_median(group, 'lesions', 'core_ml'))} | "
              f"{_fmt(_median(group, 'lesions', 'oedema_ml'))} | {_fmt(_median(group, 'lesions', 'ratio'), 2)} | "
              f"{pattern} | {_fmt(_median(group, 'surface_mm'))} | "
              f"{_fmt(_tex(group, 'FLAIR', 'gradient_energy'), 3)}"
              f" / {_fmt(_tex(group, 'T1', 'gradient_energy'), 3)} | {_fmt(_tex(group, 'FLAIR', 'local_variance'), 3)}"
              f" / {_fmt(_tex(group, 'T1', 'local_variance'), 3)} |")
    print("\n| source | modality | CSF-like | grey-like | white-like | oedema | core |")
    print("|---|---|---|---|---|---|---|")
    for name, group in groups:
        for m in MRI_MODALITIES:
            values = [r["tissue_z"].get(m) for r in group if m in r["tissue_z"]]
            if not values:
                continue
            cells = []
            for t in (("csf", "dark"), ("gm", "mid"), ("wm", "bright"), ("oedema",), ("core",)):
                v = [next((x[k] for k in t if x.get(k) is not None), None) for x in values]
                v = [x for x in v if x is not None]
                cells.append(_fmt(float(np.median(v)) if v else None, 2))
            print(f"| {name} | {m} | " + " | ".join(cells) + " |")
    if any("vector" in r for r in rows):
        print("\n| real study | answer | probability | prediction set | OOD score (flag) | nearest phantom class "
              "(encoder features) |")
        print("|---|---|---|---|---|---|")
        centroids = {label: np.mean([r["vector"] for r in rows if r["label"] == label], axis=0) for label in CLASSES}
        spread = 1e-9 + np.median([np.linalg.norm(r["vector"] - centroids[r["label"]]) for r in rows if r["source"] == "phantom"])
        for r in rows:
            if r["source"] != "real":
                continue
            d = {k: float(np.linalg.norm(r["vector"] - c)) / spread for k, c in centroids.items()}
            near = min(d, key=d.get)
            print(f"| {r['name']} | {r['predicted']} | {r['probability']:.2f} | {', '.join(r['set'])} | "
                  f"{_fmt(r['ood_score'], 2)} ({'flagged' if r['ood_flag'] else 'not flagged'}) | "
                  f"{near} at {d[near]:.1f} x the phantoms' own spread |")


def _tex(group, modality, key):
    values = [r["texture"][modality][key] for r in group if modality in r["texture"]]
    return float(np.median(values)) if values else None


if __name__ == "__main__":
    raise SystemExit(main())
