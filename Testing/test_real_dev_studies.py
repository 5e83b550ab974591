"""The bundled classifier on the real development studies (../shared/data/real-dev, see its
README): never confidently wrong. Each study is either answered right or flagged as
out-of-distribution with a set of at least two classes and the sentence saying what to do.
Skipped where the folder is absent (the studies are never copied into the project)."""

import os

import pytest
import SimpleITK as sitk

REAL_DEV = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "real-dev")
GLIOMA_FAMILY = {"glioblastoma", "lower_grade_glioma"}

pytestmark = pytest.mark.skipif(not os.path.isdir(REAL_DEV), reason="real-dev studies not present")


@pytest.fixture(scope="module")
def classifier():
    from braintumorai.pipeline import Classifier

    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(2)
    return Classifier.load(device="cpu")


def read(folder, name):
    return sitk.ReadImage(os.path.join(REAL_DEV, folder, name), sitk.sitkFloat32)


def right_or_flagged(result, right: set) -> None:
    if result.ood_flag:
        assert len(result.prediction_set) >= 2
        assert any("looks unusual to the model" in w and "read the probabilities with caution" in w for w in result.warnings)
    else:
        assert result.predicted in right, (result.predicted, result.probabilities, result.ood_score)


def test_healthy_volunteer_t1_only_is_no_tumour_with_confidence_or_says_it_cannot_judge(classifier):
    from braintumorai.study import Study

    result = classifier.predict(Study({"T1": read("Kirby21-113-healthy", "Kirby21-113_T1.nii.gz")}), saliency=None)
    if any("cannot be relied on" in w for w in result.warnings):
        # T1 alone is a subset the card measured weak (issue 19 did not reach 0.6 on it): then
        # the answer must say so and keep "no tumour" in a set of several classes.
        assert "no_tumor" in result.prediction_set and len(result.prediction_set) >= 2
        return
    if not result.ood_flag:
        assert result.predicted == "no_tumor"
        assert result.probabilities[result.classes.index("no_tumor")] >= 0.6
    right_or_flagged(result, {"no_tumor"})


def test_real_glioma_is_glioma_family_or_flagged(classifier):
    from braintumorai.study import Study

    images = {m: read("BRATS2012-HG0015", f"BRATS2012-HG0015_{m.lower()}.mha") for m in ("T1", "T1C", "T2", "FLAIR")}
    right_or_flagged(classifier.predict(Study(images), saliency=None), GLIOMA_FAMILY)


def test_raw_clinical_t1c_is_glioma_family_or_flagged(classifier):
    from braintumorai.study import Study

    image = read("TCGA-02-0003-raw", "TCGA-02-0003_AXIAL-T1-POST-GD.nrrd")
    right_or_flagged(classifier.predict(Study({"T1C": image}), saliency=None), GLIOMA_FAMILY)
