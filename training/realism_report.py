"""Intensity percentiles inside the brain, phantom vs one real BraTS case (T1, T1C, T2, FLAIR).

    python training/realism_report.py [--real ../shared/data/real-sample/BraTS-GLI-00001-000]

Each image is z-scored inside its brain mask (the real case: voxels > 0, as BraTS is
skull-stripped; the phantom: its brain mask), then p1, p25, p50, p75, p99 are printed.
Z-scoring removes the arbitrary scanner gain, so what is compared is the shape of the
histogram: how far CSF sits below, and tumour / enhancement above, the bulk of tissue.
The phantom figures are the median over glioblastoma phantoms at 1 mm (the real case
is a glioma). The real case is only read, never copied or trained on.
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

from braintumorai.modalities import MRI_MODALITIES, guess_modality  # noqa: E402

PERCENTILES = (1, 25, 50, 75, 99)
DEFAULT_REAL = os.path.join(os.path.dirname(ROOT), "shared", "data", "real-sample", "BraTS-GLI-00001-000")


def brain_percentiles(values: np.ndarray) -> np.ndarray:
    z = (values - values.mean()) / (values.std() + 1e-12)
    return np.percentile(z, PERCENTILES)


def real_table(folder: str) -> dict:
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.nii*"))):
        mod = guess_modality(os.path.basename(path))
        if mod in MRI_MODALITIES:
            a = sitk.GetArrayFromImage(sitk.ReadImage(path)).astype(np.float64)
            out[mod] = brain_percentiles(a[a > 0])
    return out


def phantom_table(n: int, spacing: float, label: str) -> dict:
    from braintumorai.synthetic import generate_case

    rows = {m: [] for m in MRI_MODALITIES}
    for seed in range(n):
        case = generate_case(label, seed=seed, modalities=MRI_MODALITIES, spacing=spacing)
        brain = sitk.GetArrayViewFromImage(case.masks["brain"]) > 0
        for m in MRI_MODALITIES:
            rows[m].append(brain_percentiles(sitk.GetArrayViewFromImage(case.images[m])[brain].astype(np.float64)))
    return {m: np.median(np.array(v), axis=0) for m, v in rows.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=DEFAULT_REAL)
    parser.add_argument("--n", type=int, default=8, help="phantoms to average")
    parser.add_argument("--spacing", type=float, default=1.0)
    parser.add_argument("--label", default="glioblastoma")
    args = parser.parse_args(argv)
    phantom = phantom_table(args.n, args.spacing, args.label)
    real = real_table(args.real) if os.path.isdir(args.real) else {}
    head = " | ".join(f"p{p}" for p in PERCENTILES)
    print(f"| modality | source | {head} |")
    print("|---|---|" + "---|" * len(PERCENTILES))
    for m in MRI_MODALITIES:
        for name, table in (("phantom", phantom), ("real", real)):
            if m in table:
                print(f"| {m} | {name} | " + " | ".join(f"{v:+.2f}" for v in table[m]) + " |")
    if not real:
        print(f"(real case not found at {args.real}; phantom only)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
