"""The Classify pipeline on a small untrained checkpoint: result contract, saliency
geometry on oblique inputs, and clear errors for bad model / input combinations."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from braintumorai.checkpoints import save_checkpoint
from braintumorai.cli import main
from braintumorai.errors import InputError, ModelError
from braintumorai.models import ModalityAttentionNet
from braintumorai.output_folder import MARKER
from braintumorai.pipeline import Classifier
from braintumorai.study import Study

from imaging_helpers import head_with_blob, rotation

CLASSES = ("HGG", "LGG", "none")  # any class list a card declares, not the phantom's


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = ModalityAttentionNet(CLASSES, ("T1", "T1C", "T2", "FLAIR"))
    card = {"name": "tiny-test-model", "version": "0", "spacing_mm": [6.0, 6.0, 6.0], "grid_size": [32, 36, 32],
            "calibration": {"temperature": 1.5, "conformal_threshold": 0.8, "coverage": 0.9}}
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(model, path, card)
    return path


@pytest.fixture(scope="module")
def classifier(checkpoint):
    return Classifier.load(str(checkpoint), device="cpu")


def _study(direction=np.eye(3), spacing=(2.0, 2.0, 2.0), size=(90, 100, 80)):
    t1c = head_with_blob(size, spacing, direction, blob_centre=(20.0, -10.0, 5.0), texture=True)
    t2 = head_with_blob(size, spacing, direction, blob_centre=(20.0, -10.0, 5.0), blob_radius=14, texture=True)
    return Study({"T1C": t1c, "T2": t2})


def test_result_contract(classifier):
    result = classifier.predict(_study(), saliency="gradcam")
    assert result.classes == list(CLASSES)
    assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-6)
    assert result.predicted == CLASSES[int(np.argmax(result.probabilities))]
    assert result.predicted in result.prediction_set and result.coverage == 0.9
    assert set(result.modality_weights) == {"T1C", "T2"}
    assert sum(result.modality_weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(result.saliency) == {"fused", "T1C", "T2"}
    assert 0.0 <= result.uncertainty <= 1.0
    for image in result.saliency.values():
        array = sitk.GetArrayViewFromImage(image)
        assert np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1 + 1e-6


def test_temperature_from_the_card_is_applied(classifier):
    """Calibrated = softmax(log p_raw / T) exactly, for the card's T = 1.5 (an untrained model
    is near uniform, so "softer than raw" alone would pass by a margin of 0.003)."""
    from braintumorai.calibration import apply_temperature

    study = _study()
    calibrated = classifier.predict(study, saliency=None)
    classifier.calibration["temperature"] = 1.0
    try:
        raw = classifier.predict(study, saliency=None)
    finally:
        classifier.calibration["temperature"] = 1.5
    expected = apply_temperature(np.log(raw.probabilities), 1.5)
    np.testing.assert_allclose(calibrated.probabilities, expected, rtol=0, atol=1e-12)
    assert not np.allclose(calibrated.probabilities, raw.probabilities, rtol=0, atol=1e-6)


def test_the_calibration_fitted_for_the_present_subset_is_used(classifier):
    study = _study()  # T1C and T2
    classifier.calibration["per_subset"] = {"T1C+T2": {"temperature": 1000.0, "conformal_threshold": 1.0},
                                            "T1C": {"temperature": 0.01, "conformal_threshold": 0.0}}
    try:
        result = classifier.predict(study, saliency=None)
    finally:
        del classifier.calibration["per_subset"]
    np.testing.assert_allclose(result.probabilities, 1 / len(CLASSES), atol=1e-3)
    assert result.prediction_set == list(CLASSES)


def test_saliency_is_placed_in_physical_space_for_oblique_inputs(classifier):
    """The same head scanned axis-aligned and obliquely (anisotropic, other grid): the
    maps, each on its own reference grid, agree once compared in the same physical space."""
    plain = _study()
    oblique_direction = rotation("z", 30) @ rotation("x", 20)
    oblique = Study({m: sitk.Resample(img, _oblique_grid(img, oblique_direction), sitk.Transform(), sitk.sitkLinear,
                                      0.0, sitk.sitkFloat32) for m, img in plain.images.items()})
    a = classifier.predict(plain, saliency="gradcam").saliency["fused"]
    b = classifier.predict(oblique, saliency="gradcam").saliency["fused"]
    assert b.GetDirection() == oblique.images["T1C"].GetDirection()
    assert b.GetSize() == oblique.images["T1C"].GetSize()
    b_on_a = sitk.GetArrayFromImage(sitk.Resample(b, a, sitk.Transform(), sitk.sitkLinear, 0.0))
    a_array = sitk.GetArrayFromImage(a)
    inside = sitk.GetArrayFromImage(sitk.Resample(oblique.images["T1C"], a)) > 50
    # The untrained network sees the two resamplings of the head slightly differently, so
    # the maps agree only roughly; a placement error (here: mirrored left-right) agrees far less.
    agreement = np.corrcoef(a_array[inside], b_on_a[inside])[0, 1]
    mirrored = np.corrcoef(a_array[inside], b_on_a[:, :, ::-1][inside])[0, 1]
    assert agreement > 0.6 and agreement > mirrored + 0.2, (agreement, mirrored)


def _oblique_grid(image, direction):
    grid = sitk.Image([70, 80, 40], sitk.sitkFloat32)
    grid.SetSpacing([2.4, 2.4, 4.0])
    grid.SetDirection(np.asarray(direction).ravel().tolist())
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()]))
    half = (np.array([70, 80, 40]) - 1) / 2 * np.array([2.4, 2.4, 4.0])
    grid.SetOrigin((centre - np.asarray(direction) @ half).tolist())
    return grid


def test_bad_model_and_input_combinations(classifier):
    ct_only = Study({"CT": head_with_blob((40, 40, 40), (4.0, 4.0, 4.0), texture=True)})
    with pytest.raises(ModelError, match="This model reads T1, T1C, T2, FLAIR; none of the given volumes \\(CT\\)"):
        classifier.predict(ct_only)
    with pytest.raises(InputError, match="Unknown class 'glioblastoma'; this model knows HGG, LGG, none."):
        classifier.predict(_study(), target_class="glioblastoma")
    with pytest.raises(InputError, match="Unknown saliency method 'lime'"):
        classifier.predict(_study(), saliency="lime")
    with pytest.raises(ModelError):
        Classifier.load("/nonexistent/model.pt", device="cpu")


def test_classify_command_writes_result_json_and_maps(checkpoint, tmp_path, capsys):
    study = _study()
    files = []
    for modality, token in (("T1C", "t1c"), ("T2", "t2w")):
        path = tmp_path / f"case-{token}.nii.gz"
        sitk.WriteImage(study.images[modality], str(path))
        files.append(str(path))
    out = tmp_path / "out"
    assert main(["classify", *files, "--out", str(out), "--model", str(checkpoint), "--device", "cpu", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "result.json").read_text())
    assert printed == written
    for key in ("classes", "probabilities", "predicted", "prediction_set", "modality_weights", "saliency", "model",
                "timings"):
        assert key in written
    assert sum(written["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    for name, path in written["saliency"].items():
        assert path == f"saliency_{name}.nii.gz"  # relative to result.json: the folder can move
        image = sitk.ReadImage(str(out / path))
        assert np.allclose(sitk.GetArrayViewFromImage(image) * 255, np.round(sitk.GetArrayViewFromImage(image) * 255),
                           atol=1e-3)  # stored in steps of 1/255
        assert image.GetSize() == study.images["T1C"].GetSize()
        assert np.allclose(image.GetOrigin(), study.images["T1C"].GetOrigin())
    # No temporary left behind: the only hidden file is the marker of a BrainTumorAI output folder.
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [MARKER]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_bad_device_and_unwritable_output_are_one_line_errors(checkpoint, tmp_path, capsys):
    path = tmp_path / "case-t1c.nii.gz"
    sitk.WriteImage(_study().images["T1C"], str(path))
    assert main(["classify", str(path), "--out", str(tmp_path / "o"), "--model", str(checkpoint),
                 "--device", "gpu"]) == 2
    assert "Unknown device 'gpu'; use 'cpu', 'cuda' or 'cuda:N'." in capsys.readouterr().err
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert main(["classify", str(path), "--out", str(blocker / "out"), "--model", str(checkpoint),
                 "--device", "cpu", "--saliency", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot be created because" in err and "not-a-folder' is a file" in err


def test_volumes_the_model_cannot_read_are_left_out(classifier):
    study = _study()
    far_ct = head_with_blob((40, 40, 40), (4.0, 4.0, 4.0), texture=True)
    far_ct.SetOrigin((500.0, 0.0, 0.0))  # would not even overlap the reference
    result = classifier.predict(Study({**study.images, "CT": far_ct}), saliency=None)
    assert set(result.coregistration) == {"T1C", "T2"} and set(result.modality_weights) == {"T1C", "T2"}


def test_classify_report_writes_the_html_and_its_figures(checkpoint, tmp_path, capsys):
    study = _study()
    files = []
    for modality, image in study.images.items():
        path = tmp_path / f"CASE-7-{modality.lower()}.nii.gz"
        sitk.WriteImage(image, str(path))
        files.append(str(path))
    out = tmp_path / "out"
    assert main(["classify", *files, "--out", str(out), "--model", str(checkpoint), "--device", "cpu", "--report"]) == 0
    assert f"report: {out / 'report' / 'report.html'}" in capsys.readouterr().out
    html = (out / "report" / "report.html").read_text()
    assert "CASE-7" in html and "not for clinical use" in html.lower()
    for figure in ("probabilities", "modality_weights", "saliency_fused", "saliency_T1C", "saliency_T2"):
        assert (out / "report" / f"{figure}.png").read_bytes().startswith(b"\x89PNG")
