#!/usr/bin/env python3
"""Render the extension's screenshots from a real MRML scene, as the module shows them.

    python Utilities/render_screenshots.py                     # -> Resources/Screenshots/, Resources/Figures/
    python Utilities/render_screenshots.py --prognosis-model runs/prognosis/braintumorai-phantom-prognosis.pt

Loads the synthetic patient (SampleData's "BrainTumorAI synthetic patient", four visits), runs
Classify on the last visit exactly as the module does (``BrainTumorAILib.Workflow``: the
``braintumorai classify`` command in a child process, the bundled classifier, CPU), then
renders the Red, Yellow and Green slice views through the saliency peak with slicer-core's
``vtkMRMLSliceLogic``, the code behind Slicer's own slice views: T1C background, fused
Grad-CAM map as foreground at 40 % opacity. Then Predict survival (the bundled prognosis
model, or ``--prognosis-model``; skipped with a note when none is installed) and the report.

Writes ``Resources/Screenshots/slice-views.png`` (what the viewer shows),
``Resources/Screenshots/survival.png`` (the figure of ``braintumorai prognose``) and
``Resources/Figures/report-saliency.png`` (a figure of the exported report). Needs
slicer-core and matplotlib (``pip install -e ".[test]"``). No real image is used.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "BrainTumorAI"))

VIEWS = (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal"))
# Slicer's colours of the three views' bars.
VIEW_COLOURS = {"Red": "#f34a33", "Yellow": "#edd54c", "Green": "#6eb04b"}


def compose(pictures: list, labels: list, caption: str, out: Path) -> None:
    """Three RGBA views side by side with Slicer-coloured title bars and a caption."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.6), dpi=100, facecolor="black")
    FigureCanvasAgg(figure)
    for index, (picture, (view, orientation, edges)) in enumerate(zip(pictures, labels)):
        axis = figure.add_axes([index / 3 + 0.003, 0.1, 1 / 3 - 0.006, 0.82])
        axis.imshow(picture[..., :3], interpolation="nearest")
        axis.set_axis_off()
        axis.set_title(f"{view}: {orientation}", color="black", fontsize=10, backgroundcolor=VIEW_COLOURS[view])
        for (x, y), text in zip(((0.02, 0.5), (0.98, 0.5), (0.5, 0.97), (0.5, 0.03)), edges):
            axis.text(x, y, text, transform=axis.transAxes, color="yellow", fontsize=10, fontweight="bold",
                      ha="center" if x == 0.5 else ("left" if x < 0.5 else "right"), va="center")
    figure.text(0.5, 0.012, caption, color="white", ha="center", va="bottom", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, facecolor="black")


def main(argv=None) -> int:
    import slicer

    from BrainTumorAILib import ClassifyOptions, SliceRenderer, SurvivalOptions, Workflow, load_synthetic_patient
    from braintumorai.checkpoints import resolve_model
    from braintumorai.errors import ModelError

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prognosis-model", help="prognosis checkpoint (default: the bundled one)")
    parser.add_argument("--spacing", type=float, default=1.5, help="voxel size of the synthetic patient (mm)")
    parser.add_argument("--out", default=str(ROOT / "Resources"), help="the extension's Resources folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="braintumorai-screenshots-"))
    try:
        scene = slicer.vtkMRMLScene()
        patient = load_synthetic_patient(scene, spacing=args.spacing)
        last = patient["volumes"][-1]
        workflow = Workflow(scene, work_root=str(work))
        workflow.start_classification(last, "Auto", ClassifyOptions(device="cpu"))
        status = workflow.wait(900)
        if status.state != "done":
            raise SystemExit(f"Classify ended {status.state}: {status.message}\n{status.details}")
        data = status.result.output.data
        fused = workflow.saliency_nodes()["fused"]
        peak = workflow.jump_to_hotspot()
        renderer = SliceRenderer(scene, size=(400, 400))
        pictures, labels = [], []
        for view, orientation in VIEWS:
            pictures.append(renderer.render(last["T1C"], fused, 0.4, orientation, through=peak))
            edges = {"Axial": "RLAP", "Sagittal": "APSI", "Coronal": "RLSI"}[orientation]
            labels.append((view, orientation, tuple(edges)))
        renderer.close()
        probability = data["probabilities"][data["predicted"]]
        caption = (f"Synthetic patient, visit 4: T1C with the fused {data['saliency_method']} map at 40 % opacity, "
                   f"through its peak. Predicted {data['predicted'].replace('_', ' ')} ({probability:.2f}); prediction "
                   f"set: {', '.join(data['prediction_set'])}.\nRendered from the MRML scene by vtkMRMLSliceLogic, "
                   "the code of Slicer's slice views. Synthetic data; not for clinical use.")
        compose(pictures, labels, caption, out / "Screenshots" / "slice-views.png")
        print(out / "Screenshots" / "slice-views.png")

        try:
            resolve_model(args.prognosis_model, task="prognosis")
        except ModelError as error:
            print(f"survival skipped: {error}")
        else:
            _, visits = workflow.patient_visits(last["T1C"], last)
            workflow.start_survival(visits, patient["clinical"], SurvivalOptions(model=args.prognosis_model,
                                                                                 device="cpu"), last["T1C"])
            status = workflow.wait(900)
            if status.state != "done":
                raise SystemExit(f"Predict survival ended {status.state}: {status.message}\n{status.details}")
        files = workflow.export_report(work / "report")
        shutil.copyfile(files["saliency_fused"], out / "Figures" / "report-saliency.png")
        print(out / "Figures" / "report-saliency.png")
        if "survival" in files:
            shutil.copyfile(files["survival"], out / "Screenshots" / "survival.png")
            print(out / "Screenshots" / "survival.png")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
