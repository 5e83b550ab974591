"""Saliency on real tumours: does the map rest on the tumour of a labelled real study?

    python training/real_saliency.py [FOLDER ...] [--method layercam] [--model NAME]

Each folder (default: the labelled real-dev studies beside the repository) is read as the
realism report reads it (:func:`training.realism_report.real_study`: volumes named by
modality, a ``*seg*`` or ``*roi*`` label map), classified with the bundled model and its
fused saliency map (on the reference volume's grid) compared with the tumour (core and
oedema): the pointing game (peak within one voxel of the tumour) and the map's share
inside the tumour against the tumour's share of the brain (what a map blind to the tumour
would score). Prints one markdown row per study. Real studies are only read.
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

from training.realism_report import SHARED, real_study  # noqa: E402
from training.saliency_metrics import energy_inside, pointing_game  # noqa: E402

DEFAULT = [f for f in sorted(glob.glob(os.path.join(SHARED, "real-dev", "*", "")))
           if glob.glob(os.path.join(f, "*seg*")) + glob.glob(os.path.join(f, "*roi*"))]


def measure_study(classifier, folder: str, method: str) -> dict:
    from braintumorai.study import Study

    images, brain, labels = real_study(folder)
    result = classifier.predict(Study(dict(images)), saliency=method)
    fused = result.saliency["fused"]
    # Maps come on the reference volume's grid; the labels were read onto it too.
    tumour = sitk.GetArrayFromImage(sitk.Resample(labels, fused, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0
    mask = result.brain_mask if result.brain_mask is not None else brain
    brain_array = sitk.GetArrayFromImage(sitk.Resample(mask, fused, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0
    s = sitk.GetArrayFromImage(fused).astype(np.float64)
    inside, share = energy_inside(s, tumour & brain_array, brain_array)
    return {"study": os.path.basename(folder.rstrip("/")), "modalities": "+".join(images),
            "predicted": result.predicted, "set": ", ".join(result.prediction_set),
            "ood": "flagged" if result.ood_flag else "not flagged",
            "peak_in_tumour": pointing_game(s, tumour, brain_mask=brain_array),
            "inside": inside, "tumour_share": share}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", default=DEFAULT)
    parser.add_argument("--method", default="layercam")
    parser.add_argument("--model", default=None, help="model name or checkpoint (default: the bundled one)")
    args = parser.parse_args(argv)
    from braintumorai.pipeline import Classifier

    classifier = Classifier.load(args.model, device="cpu") if args.model else Classifier.load(device="cpu")
    print(f"model {classifier.card.get('name')} {classifier.card.get('version')}, saliency {args.method}")
    print("| study | modalities | answer | set | OOD | peak in tumour | map share in tumour | tumour share of brain |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in args.folders:
        r = measure_study(classifier, folder, args.method)
        print(f"| {r['study']} | {r['modalities']} | {r['predicted']} | {r['set']} | {r['ood']} | "
              f"{'yes' if r['peak_in_tumour'] else 'no'} | {r['inside']:.2f} | {r['tumour_share']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
