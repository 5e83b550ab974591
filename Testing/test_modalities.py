"""Name-based modality assignment for the spellings of the public cohorts."""

import pytest

from braintumorai.errors import InputError
from braintumorai.modalities import assign_modalities, choose_reference, guess_modality, normalise_modality

CASES = {
    "BraTS 2020": ("BraTS20_Training_001/BraTS20_Training_001_{}.nii",
                   {"t1": "T1", "t1ce": "T1C", "t2": "T2", "flair": "FLAIR"}),
    "BraTS 2021": ("BraTS2021_00000/BraTS2021_00000_{}.nii.gz",
                   {"t1": "T1", "t1ce": "T1C", "t2": "T2", "flair": "FLAIR"}),
    "BraTS 2023 GLI": ("BraTS-GLI-00001-000/BraTS-GLI-00001-000-{}.nii.gz",
                       {"t1n": "T1", "t1c": "T1C", "t2w": "T2", "t2f": "FLAIR"}),
    "BraTS 2023 MET": ("BraTS-MET-00002-000/BraTS-MET-00002-000-{}.nii.gz",
                       {"t1n": "T1", "t1c": "T1C", "t2w": "T2", "t2f": "FLAIR"}),
    "UCSF-PDGM": ("UCSF-PDGM-0004_nifti/UCSF-PDGM-0004_{}.nii.gz",
                  {"T1": "T1", "T1c": "T1C", "T2": "T2", "FLAIR": "FLAIR"}),
    "UPenn-GBM": ("images_structural/UPENN-GBM-00001_11/UPENN-GBM-00001_11_{}.nii.gz",
                  {"T1": "T1", "T1GD": "T1C", "T2": "T2", "FLAIR": "FLAIR"}),
    "LUMIERE": ("Patient-001/week-044-1/{}.nii.gz", {"T1": "T1", "CT1": "T1C", "T2": "T2", "FLAIR": "FLAIR"}),
}


@pytest.mark.parametrize("cohort", CASES)
def test_public_cohort_spellings_are_assigned(cohort):
    pattern, expected = CASES[cohort]
    paths = [pattern.format(token) for token in expected]
    for path, modality in zip(paths, expected.values()):
        assert guess_modality(path) == modality, path
    assert list(assign_modalities(paths)) == ["T1", "T1C", "T2", "FLAIR"]


@pytest.mark.parametrize("name,modality", [
    ("AX T1 POST GAD", "T1C"), ("t1w_mprage", "T1"), ("T2 FLAIR axial", "FLAIR"), ("ct_head.nrrd", "CT"),
    ("FDG PET", "PET"), ("pet_suv.mha", "PET"), ("brain_t2w.nii.gz", "T2"), ("sub-01_ct1.nii.gz", "T1C"),
])
def test_series_and_node_names(name, modality):
    assert guess_modality(name) == modality


def test_segmentation_and_unknown_names_are_not_guessed():
    assert guess_modality("BraTS-MET-00002-000-seg.nii.gz") is None
    assert guess_modality("localizer") is None
    with pytest.raises(InputError, match="Cannot tell the modality of 'scan.nii.gz'"):
        assign_modalities(["scan.nii.gz"])


def test_duplicate_modality_names_both_files():
    with pytest.raises(InputError, match=r"Two files were assigned T1C: 'a_t1c.nii' and 'b_t1ce.nii'"):
        assign_modalities(["a_t1c.nii", "b_t1ce.nii"])


def test_unknown_modality_name_is_refused():
    assert normalise_modality("flair") == "FLAIR" and normalise_modality("t1ce") == "T1C"
    with pytest.raises(InputError, match="Unknown modality 'DWI'; use one of T1, T1C, T2, FLAIR, CT, PET."):
        normalise_modality("DWI")


def test_reference_preference_and_user_choice():
    assert choose_reference(["T2", "FLAIR", "T1"]) == "T1"
    assert choose_reference(["PET", "CT"]) == "CT"
    assert choose_reference(["T1", "T1C"], "t1") == "T1"
    with pytest.raises(InputError, match="reference modality PET is not among the inputs"):
        choose_reference(["T1"], "PET")
