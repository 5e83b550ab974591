"""Predict survival in the Slicer module's Lib, on a real slicer-core MRML scene, out of process.

The patient's visits come from the subject hierarchy (one study per visit, days from the
DICOM study dates); ``braintumorai prognose`` runs in a child process on a tiny untrained
prognosis model (test_prognosis's fixture); the table and plots must hold exactly the
figures of survival.json, and the user's nodes must stay as they were.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
slicer = pytest.importorskip("slicer")
pytest.importorskip("torch")
pytest.importorskip("monai")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core (MRML) is not installed", allow_module_level=True)

import slicer.util  # noqa: E402
import vtk  # noqa: E402

from braintumorai.cli import main  # noqa: E402
from braintumorai.errors import InputError  # noqa: E402
from BrainTumorAILib import (  # noqa: E402
    ClassifyOptions,
    SurvivalOptions,
    Workflow,
    clinical_from_patient,
    find_study_item,
    load_synthetic_patient,
    planned_visits,
    survival_text,
    volume_node_from_sitk_image,
)
from BrainTumorAILib.panel_options import apply_visit_cells, visit_cells  # noqa: E402
from BrainTumorAILib.self_test import classify_and_predict_survival  # noqa: E402
from BrainTumorAILib.study_hierarchy import subject_hierarchy  # noqa: E402
from BrainTumorAILib.survival_nodes import DAYS_PER_MONTH  # noqa: E402
from BrainTumorAILib.survival_task import prognose_arguments, write_visit_files  # noqa: E402
from BrainTumorAILib.volume_conversion import ijk_to_ras_matrix  # noqa: E402

from model_helpers import tiny_models  # noqa: E402

MODALITIES = ("T1C", "FLAIR")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny untrained classifier (T1C, FLAIR) and a prognosis model on its embeddings."""
    folder = tmp_path_factory.mktemp("models")
    tiny_models(folder)
    return folder


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


@pytest.fixture
def workflow(scene, tmp_path):
    return Workflow(scene, work_root=str(tmp_path / "work"))


def column(table_node, name) -> np.ndarray:
    array = table_node.GetTable().GetColumnByName(name)
    assert array is not None, f"column {name!r} missing"
    return np.array([array.GetValue(i) for i in range(array.GetNumberOfValues())])


def series_points(series) -> tuple[np.ndarray, np.ndarray]:
    table = series.GetTableNode()
    return column(table, series.GetXColumnName()), column(table, series.GetYColumnName())


def snapshots(nodes) -> list:
    return [(np.array(slicer.util.arrayFromVolume(n), copy=True), ijk_to_ras_matrix(n), n.GetName()) for n in nodes]


def predict(workflow, visits, node, models, clinical=None):
    workflow.start_survival(visits, clinical or {}, SurvivalOptions(model=str(models / "tiny-prognosis.pt"),
                                                                     device="cpu"), node)
    status = workflow.wait(180)
    assert status.state == "done", f"{status.message}\n{status.details}"
    return status.result


def test_survival_table_and_plots_hold_the_figures_of_survival_json(scene, workflow, models, tmp_path,
                                                                    monkeypatch):
    patient = load_synthetic_patient(scene, spacing=6.0, modalities=MODALITIES)
    volumes = [n for visit in patient["volumes"] for n in visit.values()] + patient["segmentations"]
    before = snapshots(volumes)
    last = patient["volumes"][-1]["T1C"]
    item, visits = workflow.patient_visits(last)
    assert item == patient["patient"] and len(visits) == 4
    assert [v.day for v in visits] == [float(v["day"]) for v in patient["patient_data"]["visits"]]
    assert all(v.segmentation is not None and set(v.volumes) == set(MODALITIES) for v in visits)
    assert clinical_from_patient(scene, item, visits[0].date) == {"age": int(patient["clinical"]["age"]),
                                                                  "sex": patient["clinical"]["sex"]}

    plot_view = scene.AddNewNodeByClass("vtkMRMLPlotViewNode")
    run = predict(workflow, visits, last, models, patient["clinical"])
    data = run.data
    assert plot_view.GetPlotChartNodeID() == run.nodes["chart"].chart.GetID()  # the plot view shows the curve
    expected_treatments = [sorted(v["treatments"]) for v in patient["patient_data"]["visits"]]
    assert [sorted(v["treatments"]) for v in data["visits"]] == expected_treatments
    assert [v["segmentation"] for v in data["visits"]] == [True] * 4

    # The same input through the command line in this process gives the same survival.json.
    monkeypatch.chdir(tmp_path)
    files = write_visit_files(planned_visits(visits), tmp_path / "inputs")
    arguments = prognose_arguments(files, planned_visits(visits), patient["clinical"], "direct",
                                   SurvivalOptions(model=str(models / "tiny-prognosis.pt"), device="cpu"))
    assert main(arguments + ["--progress", "none"]) == 0
    direct = json.loads((tmp_path / "direct" / "survival.json").read_text())
    for key in ("times_days", "survival", "lower", "upper", "median_days", "per_visit", "visits"):
        assert direct[key] == data[key], key

    curve = run.nodes["curve"]
    for name, key in (("time (days)", "times_days"), ("survival", "survival"), ("lower", "lower"), ("upper", "upper")):
        np.testing.assert_array_equal(column(curve, name), data[key])

    chart = run.nodes["chart"]
    by_name = {chart.chart.GetNthPlotSeriesNode(i).GetYColumnName(): chart.chart.GetNthPlotSeriesNode(i)
               for i in range(chart.chart.GetNumberOfPlotSeriesNodes())}
    assert set(by_name) == {"survival", "lower", "upper"} | ({"median"} if data["median_days"] is not None else set())
    months = np.array(data["times_days"]) / DAYS_PER_MONTH
    x, s = series_points(by_name["survival"])
    assert len(x) == 2 * len(months) - 1
    np.testing.assert_allclose(x[0::2], months)  # a point at every grid time ...
    np.testing.assert_allclose(x[1::2], x[2::2])  # ... and every jump vertical: steps, not slopes
    np.testing.assert_allclose(s[0::2], data["survival"])
    np.testing.assert_allclose(s[1::2], s[0:-1:2])  # flat until the next time
    _, lower = series_points(by_name["lower"])
    _, upper = series_points(by_name["upper"])
    assert np.all(lower <= s + 1e-12) and np.all(s <= upper + 1e-12)  # the band encloses the curve
    assert by_name["lower"].GetLineStyle() == slicer.vtkMRMLPlotSeriesNode.LineStyleDash
    assert by_name["survival"].GetLineStyle() == slicer.vtkMRMLPlotSeriesNode.LineStyleSolid
    if data["median_days"] is not None:
        mx, my = series_points(by_name["median"])
        np.testing.assert_allclose([mx[-1], my[-1], my[0]], [data["median_days"] / DAYS_PER_MONTH, 0.0, 0.5])

    per_visit = run.nodes["visits_chart"]
    assert per_visit.chart.GetNumberOfPlotSeriesNodes() == 4
    for index, curve_data in enumerate(data["per_visit"]):
        _, y = series_points(per_visit.chart.GetNthPlotSeriesNode(index))
        np.testing.assert_allclose(y[0::2], curve_data["survival"])
    assert survival_text(data).startswith("Median survival: ")

    sh = subject_hierarchy(scene)
    folder = sh.GetItemParent(sh.GetItemByDataNode(curve))
    assert sh.GetItemParent(folder) == patient["patient"]  # the patient's results folder
    ours = {n.GetID() for n in (curve, *chart.nodes(), *per_visit.nodes())}
    again = predict(workflow, visits, last, models, patient["clinical"])
    theirs = {n.GetID() for n in (again.nodes["curve"], *again.nodes["chart"].nodes(), *again.nodes["visits_chart"].nodes())}
    assert not ours & theirs and all(scene.GetNodeByID(i) is None for i in ours)  # replaced, not piled up
    for node, (voxels, matrix, name) in zip(volumes, before):
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), voxels)
        np.testing.assert_array_equal(ijk_to_ras_matrix(node), matrix)
        assert node.GetName() == name


def _study(scene, patient, name, date, volumes):
    sh = subject_hierarchy(scene)
    study = sh.CreateStudyItem(patient, name)
    if date:
        sh.SetItemAttribute(study, slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMStudyDateAttributeName(), date)
    for node in volumes:
        sh.SetItemParent(sh.GetItemByDataNode(node) or sh.CreateItem(sh.GetSceneItemID(), node), study)
    return study


def test_visits_with_dates_without_dates_on_one_date_and_without_usable_volumes(scene, workflow, models):
    from braintumorai.synthetic import generate_case

    case = generate_case("glioblastoma", 3, modalities=MODALITIES, spacing=6.0)
    sh = subject_hierarchy(scene)
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "Patient 7")

    def volumes(prefix, seed):
        # Each visit its own scan: the same bytes at two visits is refused as a path mistake.
        images = case.images if seed == 3 else generate_case("glioblastoma", seed, modalities=MODALITIES,
                                                             spacing=6.0).images
        return [volume_node_from_sitk_image(scene, image, f"{prefix} {m}") for m, image in images.items()]

    first = volumes("baseline", 3)
    _study(scene, patient, "MR 1", "20240110", first)
    _study(scene, patient, "MR 2", "2024-03-01", volumes("follow-up", 4))
    _study(scene, patient, "MR 2 bis", "20240301", volumes("same day", 5))
    _study(scene, patient, "outside scan", "", volumes("outside", 6))
    localizer = volume_node_from_sitk_image(scene, case.images["T1C"], "localizer")
    _study(scene, patient, "scout only", "20240601", [localizer])

    _, visits = workflow.patient_visits(first[0])
    assert [(v.name, v.day) for v in visits] == [("MR 1", 0.0), ("MR 2", 51.0), ("MR 2 bis", 51.0),
                                                 ("scout only", 143.0), ("outside scan", None)]
    scout = visits[3]
    assert scout.volumes == {} and "visit without images" in scout.note() and "localizer" in scout.note()
    assert visit_cells(visits[4])[2] == ("", None)  # no date: the Day cell is empty for the user to type
    with pytest.raises(InputError, match="'outside scan' has no date; type its day"):
        planned_visits(visits)
    with pytest.raises(InputError, match="is not a number"):
        apply_visit_cells(visits[4], True, "next week", [False, False, False])
    apply_visit_cells(visits[4], True, "30", [False, False, False])
    apply_visit_cells(visits[0], True, "0", [False, True, False])  # radiotherapy from the first visit on
    planned = planned_visits(visits)
    assert [v.day for v in planned] == [0.0, 30.0, 51.0, 51.0, 143.0]
    assert all("radiotherapy" in v.treatments for v in planned)
    assert visits[1].treatments == set()  # the rows are not changed

    run = predict(workflow, visits, first[0], models)
    data = run.data
    assert [v["day"] for v in data["visits"]] == [0.0, 30.0, 51.0, 51.0, 143.0]
    assert data["visits"][-1]["modalities"] == [] and data["visits"][0]["modalities"] == list(MODALITIES)
    assert any("share a day" in w for w in data["warnings"])
    assert any("has no images" in w for w in data["warnings"])


def test_a_volume_under_a_transform_is_copied_hardened_and_left_as_it_was(scene, tmp_path):
    from braintumorai.synthetic import generate_case

    image = generate_case("metastasis", 5, modalities=("T1C",), spacing=6.0).images["T1C"]
    node = volume_node_from_sitk_image(scene, image, "moved t1c")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = vtk.vtkTransform()
    shift.Translate(10.0, -4.0, 7.0)
    transform.SetMatrixTransformToParent(shift.GetMatrix())
    node.SetAndObserveTransformNodeID(transform.GetID())
    before = snapshots([node])[0]

    _, visits = Workflow(scene).patient_visits(node)
    assert len(visits) == 1 and visits[0].day == 0.0 and set(visits[0].volumes) == {"T1C"}
    (day, files), = write_visit_files(planned_visits(visits), tmp_path / "inputs")
    written = sitk.ReadImage(str(tmp_path / files["T1C"]))
    # The copy lies where the transform puts the volume (LPS: R and A change sign) ...
    np.testing.assert_allclose(np.array(written.GetOrigin()) - np.array(image.GetOrigin()), [-10.0, 4.0, 7.0], atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(image))
    # ... and the user's node is untouched, still under its transform.
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), before[0])
    np.testing.assert_array_equal(ijk_to_ras_matrix(node), before[1])
    assert node.GetParentTransformNode() is transform


def test_the_self_test_path_runs_with_small_models_hotspot_overlay_and_report(scene, workflow, models, tmp_path):
    slice_nodes = []
    for name in ("Red", "Yellow", "Green"):
        slice_node = scene.AddNewNodeByClass("vtkMRMLSliceNode", name)
        slice_node.SetName(name)
        slice_node.SetLayoutName(name)
        slice_node.SetOrientation({"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}[name])
        slice_nodes.append(slice_node)
        scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode").SetLayoutName(name)
    result = classify_and_predict_survival(
        workflow, ClassifyOptions(model=str(models / "tiny-classifier.pt"), device="cpu"),
        SurvivalOptions(model=str(models / "tiny-prognosis.pt"), device="cpu"),
        spacing=6.0, modalities=MODALITIES, log=lambda text: None)

    fused = workflow.saliency_nodes()["fused"]
    voxels = slicer.util.arrayFromVolume(fused)
    k, j, i = np.unravel_index(int(np.argmax(voxels)), voxels.shape)
    peak = (ijk_to_ras_matrix(fused) @ [i, j, k, 1.0])[:3]
    np.testing.assert_allclose(workflow.jump_to_hotspot(), peak)
    for slice_node in slice_nodes:  # every view centred on the peak
        matrix = slice_node.GetSliceToRAS()
        np.testing.assert_allclose([matrix.GetElement(r, 3) for r in range(3)], peak, atol=1e-6)

    workflow.set_overlay(0.7, 0.5)
    composites = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    assert all(composites.GetItemAsObject(n).GetForegroundOpacity() == pytest.approx(0.7) for n in range(3))
    display = fused.GetDisplayNode()
    low, high = display.GetWindowLevelMin(), display.GetWindowLevelMax()
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(low + 0.5 * (high - low))

    files = workflow.export_report(tmp_path / "report")
    html = files["report"].read_text()
    classification, survival = result["classification"].output.data, result["survival"].data
    assert classification["model"]["sha256"] in html and survival["model"]["sha256"] in html
    assert survival["image_model"]["sha256"] in html
    assert f"SYN-{result['patient']['patient_data']['seed']}" in html and "not for clinical use" in html
    assert set(files) == {"report", "probabilities", "modality_weights", "survival",
                          *(f"saliency_{name}" for name in classification["saliency"])}
    assert all(path.is_file() and path.stat().st_size > 0 for path in files.values())
    assert find_study_item(scene, fused) == result["patient"]["studies"][-1]
