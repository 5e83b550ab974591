"""The light SelfTest (issue 16, blocker 2): what the build factory's CTest runs needs no torch
and installs nothing; the full path runs only where torch is there or when asked for."""

from __future__ import annotations

import ast
import importlib.util
import json

import pytest

slicer = pytest.importorskip("slicer")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core (MRML) is not installed", allow_module_level=True)

from BrainTumorAILib.self_test import (  # noqa: E402
    FULL_SELF_TEST_VARIABLE,
    SAVED_SURVIVAL,
    draw_saved_survival,
    full_self_test_wanted,
)
from BrainTumorAILib.study_hierarchy import find_patient_item, item_of_node, subject_hierarchy  # noqa: E402
from test_slicer_conformance import MODULE_SCRIPT  # noqa: E402

LOAD_SAMPLE = [False] + ([True] if importlib.util.find_spec("nilearn") else [])


@pytest.mark.parametrize("load_sample", LOAD_SAMPLE)
def test_the_saved_prediction_becomes_the_survival_nodes_without_torch(load_sample):
    scene = slicer.vtkMRMLScene()
    messages = []
    nodes = draw_saved_survival(scene, log=messages.append, load_sample=load_sample)
    data = json.loads(SAVED_SURVIVAL.read_text())
    assert nodes["curve"].GetTable().GetNumberOfRows() == len(data["times_days"]) > 10
    assert nodes["visits_chart"].chart.GetNumberOfPlotSeriesNodes() == len(data["per_visit"]) == 4
    sh = subject_hierarchy(scene)
    patient = find_patient_item(scene, item_of_node(scene, nodes["curve"]))
    assert patient
    if not load_sample:
        assert sh.GetItemName(patient) == "BrainTumorAI self test patient"
    assert messages[-1] == "BrainTumorAI light self test passed"


def test_the_saved_prediction_is_the_bundled_models_and_a_broken_one_fails_the_test(tmp_path):
    data = json.loads(SAVED_SURVIVAL.read_text())
    assert data["model"]["name"] == "braintumorai-phantom-prognosis" and "Not for clinical use" in data["intended_use"]
    data["survival"] = data["survival"][:-1]  # a curve that no longer fits its time grid
    broken = tmp_path / "survival.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(Exception):
        draw_saved_survival(slicer.vtkMRMLScene(), broken, log=lambda text: None, load_sample=False)


def test_the_full_path_runs_only_with_torch_or_when_asked():
    assert not full_self_test_wanted({}, installed_torch=lambda: None)
    assert full_self_test_wanted({FULL_SELF_TEST_VARIABLE: "1"}, installed_torch=lambda: None)
    assert not full_self_test_wanted({FULL_SELF_TEST_VARIABLE: "0"}, installed_torch=lambda: None)
    assert full_self_test_wanted({}, installed_torch=lambda: "2.5.1")
    # CTest runs every test_ method of the module's test case: the full one guards itself.
    test_class = next(n for n in ast.parse(MODULE_SCRIPT.read_text()).body
                      if isinstance(n, ast.ClassDef) and n.name == "BrainTumorAITest")
    methods = {f.name: f for f in test_class.body if isinstance(f, ast.FunctionDef)}
    assert set(methods) >= {"runTest", "test_PanelAndSavedSurvival", "test_ClassifyAndPredictSurvival"}
    guard = next(s for s in methods["test_ClassifyAndPredictSurvival"].body if isinstance(s, ast.If))
    assert ast.unparse(guard.test) == "not full_self_test_wanted()" and "self.skipTest" in ast.unparse(guard)
    light = ast.unparse(methods["test_PanelAndSavedSurvival"])
    assert "ensureRequirements" not in light and "draw_saved_survival" in light and "getModuleWidget" in light
