"""Brain extraction on head-kept phantoms: Dice against the phantom's brain mask and time
(a script, not a timed test).

    python benchmarks/bench_brain_extraction.py [--cases 6] [--spacing 1.0] [--slices MM] [--brainextractor]

For each of ``--cases`` phantoms (the six classes in turn) rendered with the whole head
(``head_mm=FULL_HEAD_MM``), extracts the brain from every modality with
``braintumorai.brain_extraction.extract_brain`` (one thread) and prints the median and
worst Dice and the median seconds per modality, and whether the raw volume was detected
as not skull-stripped. With ``--brainextractor`` the same is measured for the
``brainextractor`` package (a Python port of FSL BET; not a dependency of BrainTumorAI:
install it yourself to compare) on T1. Target (issue 10): Dice >= 0.95 in <= 10 s at 1 mm.
With ``--slices MM`` every volume is first acquired as axial slices MM thick (the slice
profile a Gaussian of that full width at half maximum, then sampled every MM), as raw clinical
series often are (6.5 mm under 0.8 mm pixels); the truth mask is sampled alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "BrainTumorAI"))


def dice(a, b) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def brainextractor_mask(image):
    """Brain mask from the ``brainextractor`` package (T1, its default parameters)."""
    import tempfile

    import nibabel as nib
    import numpy as np
    import SimpleITK as sitk
    from brainextractor import BrainExtractor

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "t1.nii.gz")
        sitk.WriteImage(image, path)
        extractor = BrainExtractor(img=nib.load(path))
        extractor.run()
        extractor.save_mask(os.path.join(folder, "mask.nii.gz"))
        mask = sitk.ReadImage(os.path.join(folder, "mask.nii.gz"))
    return np.asarray(sitk.GetArrayFromImage(mask) > 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--spacing", type=float, default=1.0)
    parser.add_argument("--slices", type=float, default=None, help="acquire as axial slices this thick (mm)")
    parser.add_argument("--brainextractor", action="store_true", help="also measure the brainextractor package")
    args = parser.parse_args(argv)

    import numpy as np
    import SimpleITK as sitk

    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    from braintumorai.brain_extraction import EXTRACTION_ORDER, extract_brain, looks_skull_stripped
    from braintumorai.synthetic import CLASSES, generate_case
    from braintumorai.synthetic.head import FULL_HEAD_MM
    from braintumorai.synthetic.thick_slices import as_thick_slices

    results: dict = {}
    detected = []
    for index in range(args.cases):
        label = CLASSES[index % len(CLASSES)]
        case = generate_case(label, seed=70_000 + index, spacing=args.spacing, head_mm=FULL_HEAD_MM,
                             modalities=("T1", "T1C", "T2", "FLAIR", "CT"))
        images, brain = dict(case.images), case.masks["brain"]
        if args.slices:
            images = {m: as_thick_slices(image, args.slices) for m, image in images.items()}
            brain = as_thick_slices(brain, args.slices, nearest=True)
        truth = sitk.GetArrayFromImage(brain) > 0
        detected.append(not looks_skull_stripped(images["FLAIR"], "FLAIR")[0])
        for modality in EXTRACTION_ORDER:
            start = time.perf_counter()
            mask = sitk.GetArrayFromImage(extract_brain(images[modality], modality)) > 0
            results.setdefault(modality, []).append((dice(mask, truth), time.perf_counter() - start))
        if args.brainextractor:
            start = time.perf_counter()
            mask = brainextractor_mask(images["T1"])
            results.setdefault("T1 (brainextractor)", []).append((dice(mask, truth), time.perf_counter() - start))
        print(f"  case {index + 1}/{args.cases} ({label}) done", flush=True)
    thickness = f", axial slices {args.slices:g} mm thick" if args.slices else ""
    print(f"\nHead-kept phantoms at {args.spacing:g} mm{thickness}, {args.cases} cases; raw study detected in "
          f"{sum(detected)}/{len(detected)}\n")
    print("| extracted from | median Dice | worst Dice | median s |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        d, t = np.array(rows).T
        print(f"| {name} | {np.median(d):.3f} | {d.min():.3f} | {np.median(t):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
