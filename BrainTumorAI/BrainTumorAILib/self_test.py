"""The module's SelfTest as functions, so pytest runs the same checks that Slicer's "Reload and
Test" and the build factory's CTest run.

``draw_saved_survival`` is the light test (no torch, nothing installed): load the synthetic
patient (when nilearn is installed; else one volume in a patient and study of its own), draw
the survival nodes of a saved ``survival.json`` (the bundled models' prediction for that
patient) and check them. ``classify_and_predict_survival`` is the full path: load the
synthetic patient, classify its last visit, check the outputs, jump to the hotspot, predict
survival from all visits, check the table and the plots' series.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .classification_task import ClassifyOptions
from .sample_data import load_synthetic_patient
from .slice_views import show_as_background
from .study_hierarchy import find_patient_item, item_of_node, subject_hierarchy
from .survival_nodes import check_prediction, survival_result_nodes
from .survival_task import SurvivalOptions
from .volume_conversion import ijk_to_ras_matrix, volume_node_from_sitk_image
from .workflow import Workflow


# survival.json of `braintumorai prognose` with the bundled models on the synthetic patient's four visits.
SAVED_SURVIVAL = Path(__file__).resolve().parents[1] / "Resources" / "Testing" / "survival.json"


# The full path runs only where torch is installed or when this variable is 1: on the build factories
# (no torch; Slicer 5.12+ skips pip in testing mode) only the light test runs, and nothing is installed.
FULL_SELF_TEST_VARIABLE = "BRAINTUMORAI_FULL_SELFTEST"


def full_self_test_wanted(environ=None, installed_torch: Optional[Callable[[], Optional[str]]] = None) -> bool:
    """Whether the SelfTest runs the full path (classify, predict survival with the bundled models)."""
    import os

    from .dependencies import torch_version

    environ = os.environ if environ is None else environ
    return environ.get(FULL_SELF_TEST_VARIABLE) == "1" or (installed_torch or torch_version)() is not None


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _standalone_patient_volume(scene):
    """A small volume in a patient and a study of its own (where nilearn, which the sample needs, is missing)."""
    import SimpleITK as sitk

    node = volume_node_from_sitk_image(scene, sitk.Image([8, 8, 8], sitk.sitkFloat32), "BrainTumorAI self test T1C")
    sh = subject_hierarchy(scene)
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "BrainTumorAI self test patient")
    sh.SetItemParent(item_of_node(scene, node), sh.CreateStudyItem(patient, "BrainTumorAI self test study"))
    return node


def draw_saved_survival(scene, survival_json=SAVED_SURVIVAL, log: Callable[[str], None] = print,
                        load_sample: Optional[bool] = None) -> dict:
    """The light SelfTest: the survival nodes of a saved prediction, checked against its figures.

    ``load_sample``: load the synthetic patient (default: when nilearn is installed). Returns
    ``survival_result_nodes``'s dict; raises AssertionError at the first check that fails.
    """
    if load_sample is None:
        load_sample = importlib.util.find_spec("nilearn") is not None
    if load_sample:
        log("Loading the synthetic patient")
        node = load_synthetic_patient(scene, spacing=6.0)["volumes"][-1]["T1C"]
    else:
        log("nilearn is not installed: one volume stands for the patient")
        node = _standalone_patient_volume(scene)
    data = json.loads(Path(survival_json).read_text(encoding="utf-8"))
    check_prediction(data)
    log("Drawing the survival nodes of the saved survival.json")
    nodes = survival_result_nodes(scene, data, node)
    table = nodes["curve"].GetTable()
    _check(table.GetNumberOfRows() == len(data["times_days"]), "one table row per grid time")
    for column in ("survival", "lower", "upper"):
        values = [table.GetColumnByName(column).GetValue(i) for i in range(table.GetNumberOfRows())]
        _check(np.allclose(values, data[column]), f"the table's {column} column is survival.json's")
    expected = 3 + (data["median_days"] is not None)
    _check(nodes["chart"].chart.GetNumberOfPlotSeriesNodes() == expected, "curve, two band series and the median")
    _check(nodes["visits_chart"].chart.GetNumberOfPlotSeriesNodes() == len(data["per_visit"]), "one curve per visit")
    sh = subject_hierarchy(scene)
    patient = find_patient_item(scene, item_of_node(scene, node))
    _check(patient and sh.GetItemParent(sh.GetItemParent(item_of_node(scene, nodes["curve"]))) == patient,
           "the results are in the patient's results folder")
    log("BrainTumorAI light self test passed")
    return nodes


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
