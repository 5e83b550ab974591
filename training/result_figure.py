"""Draw one ``braintumorai classify`` result: the reference volume with the fused saliency
map over it (axial, coronal, sagittal through the map's peak), the class probabilities
with the prediction set marked, and the modality weights.

    python training/result_figure.py RESULT_DIR --image REFERENCE.nii.gz --out figure.png
    python training/result_figure.py demo-output/classification \
        --image demo-output/study/DEMO-000/DEMO-000-t1c.nii.gz --out Resources/Figures/demo_result.png

``RESULT_DIR`` holds ``result.json`` and ``saliency_fused.nii.gz`` as ``classify`` wrote
them; the map is on the reference volume's grid, so the two are drawn voxel for voxel.
Slices are shown in radiological convention (patient's right on the image left, anterior
up on the axial view), the map in "hot" at 40 % opacity wherever it exceeds 0.2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import SimpleITK as sitk

OVERLAY_FLOOR = 0.2  # map values below this are not drawn, so the anatomy stays readable


def _lps(path: str) -> np.ndarray:
    """Array (z, y, x) of the volume reoriented to LPS, whatever its direction."""
    return sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(path), "LPS")).astype(np.float32)


def _views(volume: np.ndarray, point) -> list[tuple[str, np.ndarray]]:
    """Axial, coronal and sagittal slices through ``point`` (z, y, x), turned so that
    superior / anterior is up and the patient's right is on the left."""
    z, y, x = point
    return [
        ("axial", volume[z]),                    # rows y (anterior first), columns x (right first)
        ("coronal", volume[::-1, y, :]),         # rows superior first
        ("sagittal", volume[::-1, :, x]),        # rows superior first, anterior on the left
    ]


def draw(result_dir: str, image: str, out: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(result_dir, "result.json")) as handle:
        result = json.load(handle)
    anatomy = _lps(image)
    heat = _lps(os.path.join(result_dir, "saliency_fused.nii.gz"))
    if anatomy.shape != heat.shape:
        raise SystemExit(f"{image} is not the reference volume of this result (shape {anatomy.shape}, "
                         f"map {heat.shape}); pass the volume named by result.json's 'reference'.")
    brain = anatomy != 0
    low, high = np.percentile(anatomy[brain] if brain.any() else anatomy, (0.5, 99.5))
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)

    figure = plt.figure(figsize=(13, 4.2), dpi=100)
    # The empty fourth column leaves room for the class names of the bar chart.
    grid = figure.add_gridspec(1, 6, width_ratios=[1, 1, 1, 0.45, 0.9, 0.9], wspace=0.45)
    for column, ((name, slice_), (_, heat_slice)) in enumerate(zip(_views(anatomy, peak), _views(heat, peak))):
        axis = figure.add_subplot(grid[0, column])
        axis.imshow(slice_, cmap="gray", vmin=low, vmax=high)
        axis.imshow(np.ma.masked_less(heat_slice, OVERLAY_FLOOR), cmap="hot", vmin=0, vmax=1, alpha=0.4)
        axis.set_title(f"{result['reference']} + {result['saliency_method']} ({name})", fontsize=9)
        axis.axis("off")
    classes = result["classes"]
    probabilities = [result["probabilities"][c] for c in classes]
    axis = figure.add_subplot(grid[0, 4])
    colours = ["tab:red" if c in result["prediction_set"] else "tab:gray" for c in classes]
    axis.barh(range(len(classes)), probabilities, color=colours)
    axis.set_yticks(range(len(classes)), [c.replace("_", " ") for c in classes], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_title(f"probability (red: {100 * (result['coverage'] or 0):.0f} % set)", fontsize=9)
    weights = result["modality_weights"]
    axis = figure.add_subplot(grid[0, 5])
    axis.barh(range(len(weights)), list(weights.values()), color="tab:blue")
    axis.set_yticks(range(len(weights)), list(weights), fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_title("modality weight", fontsize=9)
    figure.suptitle(f"predicted: {result['predicted'].replace('_', ' ')} - research only, not for clinical use",
                    fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    figure.savefig(out, bbox_inches="tight")
    plt.close(figure)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result_dir", help="folder with result.json and saliency_fused.nii.gz")
    parser.add_argument("--image", required=True, help="the reference volume the maps are on")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    print(draw(args.result_dir, args.image, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
