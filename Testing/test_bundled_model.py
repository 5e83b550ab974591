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
    default = next(m for m in list_models() if m["default"])
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


def test_accuracy_on_fresh_phantoms_clears_a_floor(classifier):
    correct = 0
    for index, seed in enumerate(FRESH_SEEDS):
        label = CLASSES[index % len(CLASSES)]
        case = generate_case(label, seed=seed, spacing=2.0)
        result = classifier.predict(Study(dict(case.images)), saliency=None)
        assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-6)
        correct += result.predicted == label
    # 0.96 on the 600-phantom test set (see the model card); chance is 1/6.
    assert correct / len(FRESH_SEEDS) >= 0.85, f"{correct}/{len(FRESH_SEEDS)}"


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
