"""The bundled default model: integrity of the shipped files, accuracy on fresh
phantoms, and saliency that lands on the tumour of an oblique study."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import braintumorai
from braintumorai.checkpoints import list_models, resolve_model
from braintumorai.pipeline import Classifier
from braintumorai.study import Study
from braintumorai.synthetic import CLASSES, generate_case

from imaging_helpers import rotation

MODELS = Path(braintumorai.__file__).parent / "models"
# Seeds far from the training (1e6...), calibration (2e6...) and test (3e6...) ranges.
FRESH_SEEDS = range(7_000_000, 7_000_030)


@pytest.fixture(scope="module")
def classifier():
    return Classifier.load(device="cpu")


def test_registry_card_and_weights_agree():
    registry = json.loads((MODELS / "registry.json").read_text())
    default = next(m for m in list_models() if m["default"] and m.get("task", "classification") == "classification")
    card = json.loads(resolve_model().read_text())
    weights = MODELS / default["weights"]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digest == default["sha256"] == card["sha256"]
    assert registry["default"] == card["name"]
    assert weights.stat().st_size <= 20 * 2**20
    assert "Not for clinical use" in card["intended_use"]
    assert "phantom" in card["training_data"]["source"]
    assert card["classes"] == list(CLASSES)
    # Out-of-distribution statistics for every modality, and a flag threshold.
    assert set(card["ood"]["per_modality"]) == set(card["modalities"]) and card["ood"]["threshold"] > 0


# README figures on 600 test phantoms (accuracy) and the floors checked here on 30 fresh
# ones: about 3 binomial standard deviations below the README (chance is 1/6).
SUBSET_FLOORS = {
    ("T1", "T1C", "T2", "FLAIR", "CT", "PET"): 0.80,   # README 0.938
    ("T1", "T1C", "T2", "FLAIR"): 0.63,               # 0.833
    ("T1C", "FLAIR"): 0.63,                           # 0.833
    ("T1C",): 0.50,                                   # 0.758
    ("FLAIR",): 0.45,                                 # 0.707
    ("CT",): 0.28,                                    # 0.552
    ("PET",): 0.35,                                   # 0.613
}


def test_accuracy_per_subset_and_coverage_on_fresh_phantoms_clear_floors(classifier):
    """Each case goes through the pipeline once (all six); the subsets reuse its model input
    with the other channels absent, calibrated with that subset's own card entry, as the
    README's evaluation does."""
    import torch

    from braintumorai.calibration import apply_temperature, calibration_for, conformal_prediction_set
    from braintumorai.study import align, model_input

    correct = {subset: 0 for subset in SUBSET_FLOORS}
    covered = total = 0
    set_sizes = []
    for index, seed in enumerate(FRESH_SEEDS):
        label = CLASSES[index % len(CLASSES)]
        case = generate_case(label, seed=seed, spacing=2.0)
        prepared = model_input(align(Study(dict(case.images))), classifier.grid, classifier.modalities)
        # The first cases also through predict(): the subset path below must give its numbers.
        result = classifier.predict(Study(dict(case.images)), saliency=None) if index < 3 else None
        for subset in SUBSET_FLOORS:
            present = np.array([m in subset for m in classifier.modalities])
            channels = np.where(present[:, None, None, None], prepared.channels, 0.0).astype(np.float32)
            with torch.no_grad():
                logits = classifier.model(torch.from_numpy(channels[None]), torch.from_numpy(present[None])).logits
            temperature, threshold = calibration_for(classifier.calibration, list(subset))
            probabilities = apply_temperature(logits[0].numpy(), temperature)
            members = conformal_prediction_set(probabilities, threshold)
            correct[subset] += CLASSES[int(np.argmax(probabilities))] == label
            covered += bool(members[CLASSES.index(label)])
            total += 1
            if len(subset) == 6:
                set_sizes.append(int(members.sum()))
                if result is not None:
                    assert result.warnings == [] and sum(result.probabilities) == pytest.approx(1.0, abs=1e-6)
                    np.testing.assert_allclose(probabilities, result.probabilities, atol=1e-4)
    n = len(FRESH_SEEDS)
    below = {"+".join(s): f"{c}/{n}" for s, c in correct.items() if c / n < SUBSET_FLOORS[s]}
    assert not below, f"subsets below their floor: {below}"
    # 90 % nominal coverage; pooled over 7 x 30 case-subsets the sd is about 0.02.
    assert covered / total >= 0.84, f"coverage {covered}/{total}"
    assert np.mean(set_sizes) <= 1.5, set_sizes


def test_class_option_explains_the_class_asked_for(classifier, tmp_path):
    """--class NAME: the maps explain that class (the saliency target), not the predicted one."""
    import json

    from braintumorai.cli import main

    case = generate_case("glioblastoma", seed=7_100_002, spacing=3.0)
    files = []
    for modality, token in (("T1C", "t1c"), ("FLAIR", "t2f"), ("T2", "t2w")):
        files.append(str(tmp_path / f"case-{token}.nii.gz"))
        sitk.WriteImage(case.images[modality], files[-1])
    maps = {}
    for name in ("meningioma", None):
        out = tmp_path / f"out-{name}"
        assert main(["classify", *files, "--out", str(out), "--device", "cpu",
                     *(["--class", name] if name else [])]) == 0
        result = json.loads((out / "result.json").read_text())
        assert result["saliency_class"] == (name or result["predicted"])
        maps[name] = sitk.GetArrayFromImage(sitk.ReadImage(str(out / result["saliency"]["fused"])))
    assert json.loads((tmp_path / "out-None" / "result.json").read_text())["predicted"] != "meningioma"
    direct = classifier.predict(files, target_class="meningioma").saliency["fused"]  # the default, as classify
    np.testing.assert_allclose(maps["meningioma"], sitk.GetArrayFromImage(direct), atol=0.5 / 255 + 1e-6)
    assert np.corrcoef(maps["meningioma"].ravel(), maps[None].ravel())[0, 1] < 0.95


@pytest.mark.parametrize("method", ["layercam", "gradcam"])
def test_saliency_peaks_on_the_tumour_of_an_oblique_anisotropic_study(classifier, method):
    case = generate_case("glioblastoma", seed=7_100_001, spacing=1.5)
    direction = rotation("z", 20) @ rotation("y", -12)
    reference = case.images["T1C"]
    grid = sitk.Image([110, 130, 36], sitk.sitkFloat32)
    grid.SetSpacing([1.3, 1.3, 4.5])
    grid.SetDirection(direction.ravel().tolist())
    centre = np.asarray(reference.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in reference.GetSize()]))
    grid.SetOrigin((centre - direction @ ((np.array([110, 130, 36]) - 1) / 2 * np.array([1.3, 1.3, 4.5]))).tolist())
    oblique = {m: sitk.Resample(img, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
               for m, img in case.images.items() if m in ("T1", "T1C", "T2", "FLAIR")}
    result = classifier.predict(Study(oblique), saliency=method)
    fused = result.saliency["fused"]
    assert fused.GetDirection() == grid.GetDirection() and fused.GetSize() == grid.GetSize()
    lesion = sitk.GetArrayFromImage(sitk.Resample(case.masks["seg"], grid, sitk.Transform(),
                                                  sitk.sitkNearestNeighbor, 0)) > 0
    heat = sitk.GetArrayFromImage(fused)
    # The hottest voxels (top 1 %) fall mostly inside tumour + oedema, far above its share of the brain.
    brain = sitk.GetArrayFromImage(oblique["T1C"]) != 0
    top = heat >= np.quantile(heat[brain], 0.99)
    assert (top & lesion).sum() / top.sum() > 3 * lesion[brain].mean()
