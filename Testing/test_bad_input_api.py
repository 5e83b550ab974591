"""The same input rules on every path into the pipeline: the Python API (paths or
SimpleITK images), and the real BraTS sample (plausibility without false alarm, and the
table's real-T1-as-CT row). The Slicer Lib's path is in test_slicer_classification.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from braintumorai.checkpoints import save_checkpoint
from braintumorai.errors import InputError, ModelError
from braintumorai.models import ModalityAttentionNet
from braintumorai.pipeline import Classifier
from braintumorai.study import Study

from conftest import REAL_SAMPLE


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    torch.manual_seed(0)
    model = ModalityAttentionNet(("a", "b", "c"), ("T1", "T1C", "T2", "FLAIR", "CT", "PET"),
                                 encoder_kwargs={"channels": (4, 8), "strides": (2, 2), "blocks": (0,)},
                                 embed_dim=8, attention_hidden=4)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(model, path, {"spacing_mm": [6.0, 6.0, 6.0], "grid_size": [24, 28, 24]})
    return Classifier.load(str(path), device="cpu")


@pytest.fixture(scope="module")
def phantom():
    from braintumorai.synthetic import generate_case

    return generate_case("lymphoma", seed=4, modalities=("T1", "T1C", "T2", "FLAIR"), spacing=3.0).images


def test_predict_takes_simpleitk_images_and_agrees_with_files(classifier, phantom, tmp_path):
    paths = {}
    for modality in ("T1C", "FLAIR"):
        paths[modality] = str(tmp_path / f"case-{modality.lower()}.nii.gz")
        sitk.WriteImage(phantom[modality], paths[modality])
    from_images = classifier.predict({"T1C": phantom["T1C"], "FLAIR": phantom["FLAIR"]}, saliency=None)
    from_files = classifier.predict(paths, saliency=None)
    np.testing.assert_allclose(from_images.probabilities, from_files.probabilities, atol=1e-6)
    mixed = classifier.predict({"T1C": paths["T1C"], "FLAIR": phantom["FLAIR"]}, saliency=None)
    np.testing.assert_allclose(mixed.probabilities, from_files.probabilities, atol=1e-6)
    assert from_images.warnings == []


def test_an_image_gets_the_checks_a_file_gets(classifier, phantom):
    array = sitk.GetArrayFromImage(phantom["T1C"])
    array[10, 20, 30] = np.nan
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(phantom["T1C"])
    with pytest.raises(InputError, match=r"^'the T1C image' has 1 NaN or infinite voxels; fix"):
        classifier.predict({"T1C": bad})
    thick = sitk.Image(phantom["T1C"])
    thick.SetSpacing((3.0, 3.0, 50.0))
    with pytest.raises(InputError, match=r"T1C \('the T1C image'\) has a voxel spacing of 3 x 3 x 50 mm"):
        classifier.predict({"T1C": thick})
    with pytest.raises(InputError, match="Give the volumes as a mapping modality -> file or image"):
        classifier.predict(phantom["T1C"])
    with pytest.raises(InputError, match="The T1C input is a int; give a file path or a SimpleITK.Image."):
        classifier.predict({"T1C": 5})


def test_classifier_load_of_a_number_is_one_sentence():
    with pytest.raises(ModelError, match=r"^The model was given as int 5; give a registry name or the path"):
        Classifier.load(5)


def test_swapped_t1_and_t2_images_are_classified_with_a_warning(classifier, phantom):
    result = classifier.predict({"T1": phantom["T2"], "T2": phantom["T1"], "T1C": phantom["T1C"]}, saliency=None)
    assert len(result.warnings) == 2
    assert "T1 ('the T1 image') has a bright-fluid contrast like a T2" in result.warnings[0]
    assert "T2 ('the T2 image') lacks the bright CSF of a T2" in result.warnings[1]
    assert result.to_dict()["warnings"] == result.warnings


# --------------------------------------------------------------------------- the real sample

needs_real = pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason=(
    "the real BraTS sample is not here; set BRAINTUMORAI_REAL_SAMPLE to a BraTS 2023 case folder"))


def _real_files() -> dict:
    return {m: str(REAL_SAMPLE / f"{REAL_SAMPLE.name}-{token}.nii.gz")
            for m, token in (("T1", "t1n"), ("T1C", "t1c"), ("T2", "t2w"), ("FLAIR", "t2f"))}


@needs_real
def test_the_real_sample_is_classified_without_a_false_alarm():
    """The bundled model on the real case: it passes every check (no warning), the result is
    complete and its maps lie on the real grid; a real T1 given as CT is refused."""
    bundled = Classifier.load(device="cpu")
    files = _real_files()
    before = {p: os.path.getmtime(p) for p in files.values()}
    result = bundled.predict(files, saliency="gradcam")
    assert result.warnings == []
    assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-6)
    assert result.predicted in result.prediction_set and result.reference == "T1C"
    fused = result.saliency["fused"]
    reference = sitk.ReadImage(files["T1C"])
    assert fused.GetSize() == reference.GetSize() == (240, 240, 155)
    assert np.allclose(fused.GetOrigin(), reference.GetOrigin()) and fused.GetDirection() == reference.GetDirection()
    assert {p: os.path.getmtime(p) for p in files.values()} == before
    with pytest.raises(InputError, match=r"CT \('.*t1n.nii.gz'\) does not look like a CT in Hounsfield units"):
        bundled.predict({"CT": files["T1"], "T1C": files["T1C"]}, saliency=None)


@needs_real
def test_real_sample_halves_and_nan_are_refused(tmp_path):
    data = Path(_real_files()["T1C"]).read_bytes()
    half = tmp_path / "half-t1c.nii.gz"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="half-t1c.nii.gz' is cut short"):
        Study.from_files([str(half)])
