"""Draw a montage of phantoms (one row per class, one column per modality, mask contour).

    python training/montage.py                       # phantoms -> Resources/Figures/phantom_montage.png
    python training/montage.py --real DIR --out X.png  # the same view of a real case folder

The real-case figure must never be written into the repository (no real image enters
it); the script refuses an output path inside the repository for ``--real``.
Axial slices in radiological convention (patient's right on the image left), through
the slice with the largest tumour-core area. MRI windowed at the 0.5-99.5 brain percentiles,
CT at 0-80 HU, PET at 0 to the 99.5th percentile (hot colour map).
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

from braintumorai.modalities import MODALITIES, guess_modality  # noqa: E402


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.DICOMOrient(image, "LPS")).astype(np.float32)


def _window(modality: str, a: np.ndarray, brain: np.ndarray):
    if modality == "CT":
        return 0.0, 80.0, "gray"
    values = a[brain] if brain.any() else a.ravel()
    if modality == "PET":
        return 0.0, float(np.percentile(values, 99.5)), "hot"
    return float(np.percentile(values, 0.5)), float(np.percentile(values, 99.5)), "gray"


def _best_slice(seg: np.ndarray | None, brain: np.ndarray) -> int:
    if seg is not None and seg.any():
        # Prefer the tumour core (BraTS labels 1 and 3, or 4 in BraTS 2020/2021) over oedema.
        core = (seg == 1) | (seg == 3) | (seg == 4)
        return int(np.argmax((core if core.any() else seg > 0).sum(axis=(1, 2))))
    return int(np.argmax(brain.sum(axis=(1, 2))) * 0.95 + 0.05 * brain.shape[0] * 0.5)


def draw(rows: list[tuple[str, dict, np.ndarray | None]], out: str, title: str) -> None:
    """rows: (row name, modality -> array (z y x), seg array or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [m for m in MODALITIES if any(m in r[1] for r in rows)]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(1.6 * len(cols), 1.8 * len(rows)), squeeze=False)
    for i, (name, arrays, seg) in enumerate(rows):
        ref = next(iter(arrays.values()))
        brain = ref > (ref.min() if "CT" not in arrays else -500)
        if "CT" in arrays:
            brain = arrays["CT"] > -500
        k = _best_slice(seg, brain)
        for j, mod in enumerate(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if mod in arrays:
                a = arrays[mod]
                lo, hi, cmap = _window(mod, a, brain)
                ax.imshow(a[k], cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
                if seg is not None and seg[k].any():
                    ax.contour(seg[k] > 0, levels=[0.5], colors="cyan", linewidths=0.6)
            else:
                ax.set_facecolor("black")
            if i == 0:
                ax.set_title(mod, fontsize=9)
            if j == 0:
                ax.set_ylabel(name.replace("_", "\n"), fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def phantom_rows(spacing: float, seed: int) -> list:
    from braintumorai.synthetic import CLASSES, generate_case, sample_case_params

    rows = []
    for i, label in enumerate(CLASSES):
        # Show a typical case of each class: the first seed from seed + 100 i whose draw is typical.
        s = seed + 100 * i
        while sample_case_params(label, s)["atypical"] is not None:
            s += 1
        case = generate_case(label, seed=s, spacing=spacing)
        arrays = {m: _array(im) for m, im in case.images.items()}
        name = label + (f" ({case.atypical})" if case.atypical else "")
        rows.append((name, arrays, _array(case.masks["seg"])))
    return rows


def real_rows(folder: str) -> list:
    arrays, seg = {}, None
    for path in sorted(glob.glob(os.path.join(folder, "*.nii*"))):
        base = os.path.basename(path).lower()
        if "seg" in base.replace(".nii", "").split("-")[-1] or base.endswith(("_seg.nii.gz", "-seg.nii.gz")):
            seg = _array(sitk.ReadImage(path))
            continue
        try:
            mod = guess_modality(base)
        except Exception:
            mod = None
        if mod:
            arrays[mod] = _array(sitk.ReadImage(path))
    return [(os.path.basename(os.path.normpath(folder)), arrays, seg)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", help="a real case folder (BraTS-style NIfTI files)")
    parser.add_argument("--out", default=os.path.join(ROOT, "Resources", "Figures", "phantom_montage.png"))
    parser.add_argument("--spacing", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.real:
        out = os.path.abspath(args.out)
        if out.startswith(ROOT + os.sep) or args.out == parser.get_default("out"):
            parser.error("--real figures must be written outside the repository (no real image enters it); "
                         "pass --out /tmp/real_montage.png")
        draw(real_rows(args.real), out, f"real case {os.path.basename(os.path.normpath(args.real))}")
    else:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        draw(phantom_rows(args.spacing, args.seed), args.out,
             f"BrainTumorAI phantoms ({args.spacing:g} mm, typical case per class; contour: tumour)")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
