"""The module's SelfTest as a function, so pytest runs the same checks (with small models)
that Slicer's "Reload and Test" runs with the bundled ones.

Load the synthetic patient, classify its last visit, check the outputs, jump to the
hotspot, predict survival from all visits, check the table and the plots' series.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .classification_task import ClassifyOptions
from .sample_data import load_synthetic_patient
from .slice_views import show_as_background
from .survival_task import SurvivalOptions
from .volume_conversion import ijk_to_ras_matrix
from .workflow import Workflow


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def classify_and_predict_survival(workflow: Workflow, classify: ClassifyOptions, survival: SurvivalOptions,
                                  spacing: float = 3.0, modalities=None, log: Callable[[str], None] = print,
                                  idle: Optional[Callable[[], None]] = None, timeout_s: float = 600.0) -> dict:
    """Run the radiologist's path on ``workflow.scene``; raises AssertionError at the first
    check that fails. Returns ``{"patient": load_synthetic_patient's dict, "classification":
    ClassificationRun, "survival": SurvivalRun}``."""
    log("Loading the synthetic patient")
    kwargs = {"modalities": modalities} if modalities else {}
    loaded = load_synthetic_patient(workflow.scene, spacing=spacing, **kwargs)
    _check(len(loaded["studies"]) == len(loaded["patient_data"]["visits"]), "one study per visit")
    last = loaded["volumes"][-1]
    show_as_background(workflow.scene, last["T1C"])

    log("Classify (child process)")
    workflow.start_classification(last, "Auto", classify)
    status = workflow.wait(timeout_s, idle=idle)
    _check(status.state == "done", f"Classify ended {status.state}: {status.message}\n{status.details}")
    data, nodes = status.result.output.data, status.result.nodes
    _check(abs(sum(data["probabilities"].values()) - 1.0) < 1e-4, "probabilities sum to 1")
    _check(data["predicted"] in data["prediction_set"] or not data["prediction_set"], "predicted class in its set")
    if classify.saliency:
        _check(set(nodes["saliency"]) == {"fused", *data["modality_weights"]}, "a map per modality and a fused map")
        for overlay in nodes["saliency"].values():
            _check(np.array_equal(ijk_to_ras_matrix(overlay), ijk_to_ras_matrix(last["T1C"])), "maps on the T1C grid")
        workflow.jump_to_hotspot()

    log("Predict survival (child process)")
    patient, visits = workflow.patient_visits(last["T1C"], last)
    _check(patient == loaded["patient"], "the visits are the synthetic patient's")
    _check([v.day for v in visits] == [float(v["day"]) for v in loaded["patient_data"]["visits"]], "days from the dates")
    workflow.start_survival(visits, loaded["clinical"], survival, last["T1C"])
    status = workflow.wait(timeout_s, idle=idle)
    _check(status.state == "done", f"Predict survival ended {status.state}: {status.message}\n{status.details}")
    prediction, nodes = status.result.data, status.result.nodes
    _check(nodes["curve"].GetTable().GetNumberOfRows() == len(prediction["times_days"]), "one table row per grid time")
    expected = 3 + (prediction["median_days"] is not None)
    _check(nodes["chart"].chart.GetNumberOfPlotSeriesNodes() == expected, "curve, two band series and the median")
    _check(nodes["visits_chart"].chart.GetNumberOfPlotSeriesNodes() == len(visits), "one curve per visit")
    log("BrainTumorAI self test passed")
    return {"patient": loaded, "classification": workflow.classification, "survival": workflow.survival}
