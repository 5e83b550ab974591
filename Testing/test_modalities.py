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


# Real-world names as scanners, converters and toolkits write them, with the modality a
# radiologist reads in each (None: the name states none). Every token and phrase of the
# vocabulary appears here (test_every_vocabulary_entry_is_exercised), so a changed entry fails.
REAL_WORLD_NAMES = {
    # T1 before contrast
    "t1.nii.gz": "T1", "case_t1n.nii.gz": "T1", "brain_t1w.nrrd": "T1", "T1pre.nii": "T1", "T1native.mha": "T1",
    "MPRAGE": "T1", "sag_3D_MPRAGE": "T1", "AX_SPGR": "T1", "fspgr_3d": "T1", "BRAVO": "T1",
    "T1 MPRAGE PRE": "T1", "AX_T1_WO_CONTRAST": "T1", "T1 without contrast": "T1", "T1_non_contrast": "T1",
    "T1_noncontrast": "T1", "T1_no_contrast": "T1", "AX_T1_without_gad": "T1", "T1_precontrast": "T1",
    "T1 pre contrast": "T1", "T1_native": "T1", "post-op T1": "T1", "pre-op_t1": "T1",
    "sub-01_T1w.nii.gz": "T1", "sub-01_ses-post_T1w.nii.gz": "T1", "sub-01_ce-none_T1w.nii.gz": "T1",
    # T1 after contrast
    "t1ce.nii.gz": "T1C", "t1c": "T1C", "T1GD": "T1C", "CT1.nii.gz": "T1C", "t1post.nii.gz": "T1C",
    "T1wCE.nii.gz": "T1C", "T1contrast": "T1C", "T1gad.nrrd": "T1C", "T1_AX_POST_GAD": "T1C",
    "AX_T1_MPRAGE_POST": "T1C", "sag_mprage_gd": "T1C", "AX POST GAD": "T1C", "T1 +C": "T1C", "T1 C+": "T1C",
    "T1 C": "T1C", "T1 CE": "T1C", "T1 GD": "T1C", "T1_postcontrast": "T1C", "T1 post contrast": "T1C",
    "T1 with contrast": "T1C", "T1_postgad": "T1C", "MPRAGE_gado": "T1C", "T1_gadolinium": "T1C",
    "T1_enhanced": "T1C", "T1_contrast": "T1C", "sub-01_ce-gd_T1w.nii.gz": "T1C",
    "sub-01_ses-02_ce-gadolinium_T1w.nii.gz": "T1C",
    # scanner series as written: the contrast qualifier decides, wherever it stands
    "MRHR_T1_AX_POST_GAD_T1C.nrrd": "T1C", "MPRAGE_POST_T1GD": "T1C", "POSTGD_T1": "T1C", "t1_se_tra_KM": "T1C",
    "TCGA-02-0003_AXIAL-T1-POST-GD.nrrd": "T1C", "AX T1 C-": "T1", "T1_C-_SAG": "T1", "T1C-ROI.nrrd": "T1C",
    # T2
    "t2.nii.gz": "T2", "T2w": "T2", "T2_TSE_AX": "T2", "sub-01_T2w.nii.gz": "T2",
    # FLAIR
    "FLAIR.nii.gz": "FLAIR", "fla.nii.gz": "FLAIR", "case-t2f.nii.gz": "FLAIR", "T2FLAIR": "FLAIR",
    "AX T2 FLAIR": "FLAIR", "t2 f": "FLAIR", "FLAIR_post": "FLAIR", "t2_darkfluid": "FLAIR",
    "T2 dark fluid": "FLAIR", "sub-01_FLAIR.nii.gz": "FLAIR",
    # CT and PET
    "ct_head.nrrd": "CT", "CECT": "CT", "NCCT_brain": "CT", "sub-01_ct.nii.gz": "CT",
    "PET.nii.gz": "PET", "FDG_brain": "PET", "pet_suv.mha": "PET", "FET_PET": "PET", "SUV": "PET",
    "sub-01_trc-FDG_pet.nii.gz": "PET",
    # no modality stated
    "localizer": None, "BraTS-MET-00002-000-seg.nii.gz": None, "scan.nii.gz": None,
}
# Series descriptions and node names, which are no paths ("/" is part of the name).
SERIES_DESCRIPTIONS = {"AX T1 W/O": "T1", "AX T1 W/O CONTRAST": "T1", "T2 FLAIR/AX": "FLAIR", "T1 +C/COR": "T1C"}
# Names that must be refused (a sentence shown, never a guess), with what the sentence says.
REFUSED_NAMES = {
    "t1_t1c.nii.gz": "names more than one modality (T1, T1C)",
    "T2_to_T1.nii.gz": "names more than one modality (T1, T2)",
    "pet_ct.nii.gz": "names more than one modality (CT, PET)",
    "T1 pre post subtraction": "both before and after contrast",
    "t1c_precontrast": "names a T1C but also says before contrast",
    "T1 C- C+": "both before and after contrast", "T1_T1C_pre": "names more than one modality (T1, T1C)",
    "AX SWI": "susceptibility-weighted (SWI)", "SWAN": "susceptibility-weighted (SWI)",
    "DWI_b1000": "diffusion-weighted (DWI)", "ep2d_diff_TRACE": "diffusion-weighted (DWI)",
    "ep2d_diff_TRACEW": "diffusion-weighted (DWI)", "ADC": "apparent diffusion coefficient",
    "eADC": "apparent diffusion coefficient", "DTI_30dir": "diffusion tensor (DTI)",
    "dti_tensor": "diffusion tensor (DTI)", "ep2d_perf": "perfusion", "perfusion_dsc": "perfusion",
    "PWI": "perfusion", "DCE_T1": "perfusion (DCE)", "pcasl_ASL": "perfusion (ASL)", "rCBF": "perfusion (CBF)",
    "rCBV": "perfusion (CBV)", "CBF_map": "perfusion (CBF)", "CBV": "perfusion (CBV)", "DSC": "perfusion (DSC)", "T2*": "T2*-weighted", "T2 star GRE": "T2*-weighted",
    "sub-01_T2starw.nii.gz": "T2*-weighted", "sub-01_dwi.nii.gz": "diffusion-weighted (DWI)",
    "sub-01_task-rest_bold.nii.gz": "functional (BOLD)",
}


@pytest.mark.parametrize("name,modality", REAL_WORLD_NAMES.items())
def test_real_world_names(name, modality):
    assert guess_modality(name) == modality, name


@pytest.mark.parametrize("name,modality", SERIES_DESCRIPTIONS.items())
def test_series_descriptions_with_slashes(name, modality):
    assert guess_modality(name, path=False) == modality


@pytest.mark.parametrize("name,says", REFUSED_NAMES.items())
def test_ambiguous_and_unsupported_names_are_refused_with_the_modality_syntax(name, says):
    assert guess_modality(name) is None
    with pytest.raises(InputError) as error:
        assign_modalities([name])
    message = str(error.value)
    assert says in message and f"'{name}'" in message
    assert "--modality MODALITY=FILE" in message and message.count(". ") == 0 and message.endswith(".")


def test_every_vocabulary_entry_is_exercised():
    """A token or phrase of the name table that no row above uses could be wrong unseen
    (the pre-/post-contrast tokens swapped, say); every one must appear in a row."""
    import re

    from braintumorai import modalities

    rows = [" ".join(re.split(r"[^a-z0-9*]+", name.lower())) for name in [*REAL_WORLD_NAMES, *REFUSED_NAMES, *SERIES_DESCRIPTIONS]]
    tokens = {t for row in rows for t in row.split()}
    vocabulary = (set(modalities._MODALITY_TOKENS) | modalities._POST_CONTRAST_TOKENS
                  | modalities._PRE_CONTRAST_TOKENS | set(modalities._UNSUPPORTED_TOKENS)
                  | set(modalities._BIDS_SUFFIXES))
    # Tokens made only by rewriting a phrase (e.g. "wo" from "w/o") count when the phrase is used.
    made_by_phrases = {token: phrase for phrase, token in modalities._PHRASES}
    missing = sorted(t for t in vocabulary if t not in tokens and not (
        t in made_by_phrases and any(f" {made_by_phrases[t]} " in f" {row} " for row in rows)))
    assert not missing, f"vocabulary entries without a test row: {missing}"
    unused_phrases = [p for p, _ in modalities._PHRASES if not any(f" {p} " in f" {row} " for row in rows)]
    assert not unused_phrases, f"phrases without a test row: {unused_phrases}"


def test_dicom_folder_is_read_by_series_description_and_contrast_tag(tmp_path):
    pytest.importorskip("pydicom")
    from braintumorai.modalities import dicom_series_reading

    from imaging_helpers import write_dicom_series

    def series(folder_name, description, agent=None):
        def tags(slice_, index):
            slice_.Modality, slice_.SeriesDescription = "MR", description
            if agent is not None:
                slice_.ContrastBolusAgent = agent
            elif "ContrastBolusAgent" in slice_:
                del slice_.ContrastBolusAgent

        write_dicom_series(tmp_path / folder_name, count=3, edit=tags)
        return str(tmp_path / folder_name)

    assert dicom_series_reading(series("series3", "AX_T1_MPRAGE_POST")).modality == "T1C"
    assert dicom_series_reading(series("series4", "AX T1 SE")).modality == "T1"
    assert dicom_series_reading(series("series5", "AX T1 SE", agent="Gadovist 1 mmol/mL")).modality == "T1C"
    assert dicom_series_reading(series("series6", "AX T2 FLAIR")).modality == "FLAIR"
    assert assign_modalities([series("t2_folder", "AX T2 TSE")]) == {"T2": str(tmp_path / "t2_folder")}
    with pytest.raises(InputError, match="named T2 but its series description 'AX T1 SE' says T1"):
        assign_modalities([series("t2_named", "AX T1 SE")])
    with pytest.raises(InputError, match="looks like a diffusion-weighted"):
        assign_modalities([series("series9", "DWI b1000")])
