"""Dataset writers and the one loader: synthetic layout and the real cohort layouts.

Each real layout is rebuilt in tmp_path as a tiny tree (8x8x8 NIfTI volumes) with
CSV files that carry the real column names of the public releases.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.datasets import (
    LAYOUTS,
    MANIFEST_COLUMNS,
    VisitRecord,
    load_dataset,
    load_visit_images,
    load_visit_segmentation,
    read_manifest,
    update_manifest,
    visit_case_id,
    write_case,
    write_manifest,
)
from braintumorai.datasets import writers as writers_module
from braintumorai.errors import InputError

from conftest import REAL_SAMPLE as REAL_CASE  # noqa: E402

REAL_SAMPLE = REAL_CASE.parent


# --------------------------------------------------------------------------- helpers


def _volume(seed: int, pixel=sitk.sitkFloat32) -> sitk.Image:
    """8x8x8 volume with non-trivial geometry, distinct per seed."""
    array = np.random.default_rng(seed).random((8, 8, 8)) * 100 + seed
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing((1.5, 1.25, 2.0))
    image.SetOrigin((-10.0, 4.5, 30.0))
    image.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    return sitk.Cast(image, pixel) if pixel != sitk.sitkFloat32 else image


def _seg(seed: int = 0) -> sitk.Image:
    array = np.zeros((8, 8, 8), np.uint8)
    array[2:5, 2:6, 3:6] = 1
    array[3, 3, 4] = 3
    array[5:7, 5:7, 5:7] = 2 + seed % 2
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(_volume(0))
    return image


def _nii(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(_volume(seed), str(path))
    return path


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _skipped(dataset, fragment: str) -> list[tuple[str, str]]:
    return [(what, why) for what, why in dataset.skipped if fragment in what]


def _assert_same_image(a: sitk.Image, b: sitk.Image, same_type: bool = True) -> None:
    assert a.GetSize() == b.GetSize()
    if same_type:
        assert a.GetPixelID() == b.GetPixelID()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))


def _all_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files]


# --------------------------------------------------------------------------- synthetic layout


def _write_patient(out: Path, patient: str, days: list[int], modalities=("T1", "T1C", "T2", "FLAIR")):
    records = []
    for index, day in enumerate(days):
        images = {m: _volume(10 * index + k) for k, m in enumerate(modalities)}
        records.append(write_case(
            out, visit_case_id(patient, index), images, _seg(index), patient_id=patient, visit_day=day,
            label="glioblastoma", age=63.5, sex="M", kps=80,
            treatments=("surgery", "radiotherapy") if index == 0 else (),
            survival_days=412.0, event=1,
        ))
    return records


def test_write_case_round_trip_gives_the_same_images(tmp_path):
    images = {"T1": _volume(1), "t1c": _volume(2), "T2": _volume(3, sitk.sitkInt16), "FLAIR": _volume(4),
              "CT": _volume(5, sitk.sitkInt16), "PET": _volume(6)}
    record = write_case(tmp_path, "SYN-00007-000", images, _seg(), visit_day=0, label="lymphoma")
    names = sorted(p.name for p in (tmp_path / "SYN-00007-000").iterdir())
    assert names == sorted(f"SYN-00007-000-{s}.nii.gz" for s in ("t1n", "t1c", "t2w", "t2f", "ct", "pet", "seg"))
    assert record.patient_id == "SYN-00007"
    write_manifest(tmp_path, [record])

    dataset = load_dataset(tmp_path)
    assert dataset.layout == "synthetic" and dataset.skipped == []
    loaded = dataset.case("SYN-00007-000")
    assert loaded.modalities == ("T1", "T1C", "T2", "FLAIR", "CT", "PET")
    assert loaded.label == "lymphoma"
    read_back = load_visit_images(loaded)
    assert list(read_back) == ["T1", "T1C", "T2", "FLAIR", "CT", "PET"]
    for modality, original in zip(read_back, images.values()):
        # braintumorai.io.read_image (when present) hands back float32: compare values and geometry,
        # and check the file itself kept the pixel type.
        _assert_same_image(read_back[modality], original, same_type=False)
        _assert_same_image(sitk.ReadImage(loaded.files[modality]), original)
    _assert_same_image(load_visit_segmentation(loaded), _seg())
    assert set(load_visit_images(loaded, ["flair", "T1"])) == {"T1", "FLAIR"}
    t1_only = VisitRecord(patient_id="p", case_id="c", visit_day=0, files={"T1": loaded.files["T1"]})
    with pytest.raises(InputError, match="no PET"):
        load_visit_images(t1_only, ["PET"])


def test_writing_the_same_case_twice_gives_the_same_bytes(tmp_path):
    first = write_case(tmp_path / "a", "SYN-1-000", {"T1": _volume(1)}, _seg())
    second = write_case(tmp_path / "b", "SYN-1-000", {"T1": _volume(1)}, _seg())
    assert Path(first.files["T1"]).read_bytes() == Path(second.files["T1"]).read_bytes()
    assert Path(first.seg_path).read_bytes() == Path(second.seg_path).read_bytes()


def test_manifest_keeps_clinical_values_and_visits_are_sorted_by_day(tmp_path):
    records = _write_patient(tmp_path, "SYN-00001", [0, 95, 30])
    records += _write_patient(tmp_path, "SYN-00002", [0], modalities=("T1C", "FLAIR", "PET"))
    write_manifest(tmp_path / "manifest.csv", reversed(records))
    with open(tmp_path / "manifest.csv", newline="") as stream:
        header = next(csv.reader(stream))
    assert tuple(header) == MANIFEST_COLUMNS

    dataset = load_dataset(tmp_path)
    patients = dataset.patients()
    assert list(patients) == ["SYN-00001", "SYN-00002"]
    assert [v.visit_day for v in patients["SYN-00001"]] == [0, 30, 95]
    first = patients["SYN-00001"][0]
    assert (first.age, first.sex, first.kps, first.survival_days, first.event) == (63.5, "M", 80.0, 412.0, 1)
    assert first.treatments == ("surgery", "radiotherapy")
    assert patients["SYN-00002"][0].modalities == ("T1C", "FLAIR", "PET")
    frame = dataset.to_dataframe()
    assert len(frame) == 4
    assert frame.loc[frame.case == "SYN-00002-000", "modalities"].item() == "T1C;FLAIR;PET"
    assert frame.loc[frame.case == "SYN-00002-000", "T1"].isna().item()


def test_update_manifest_adds_and_replaces_rows(tmp_path):
    first = _write_patient(tmp_path, "SYN-00001", [0])
    write_manifest(tmp_path, first)
    second = _write_patient(tmp_path, "SYN-00002", [0])
    relabelled = first[0]
    relabelled.label = "metastasis"
    update_manifest(tmp_path, second + [relabelled])
    records, skipped = read_manifest(tmp_path)
    assert skipped == []
    assert {r.case_id: r.label for r in records} == {"SYN-00001-000": "metastasis", "SYN-00002-000": "glioblastoma"}


def test_atomic_writes_leave_no_temporary_file(tmp_path, monkeypatch):
    records = _write_patient(tmp_path, "SYN-00001", [0, 10])
    write_manifest(tmp_path, records)
    assert not [p for p in _all_files(tmp_path) if p.name.startswith(".") or ".tmp" in p.name]

    # A writer that dies half-way must leave the previous file intact and no temporary.
    target = Path(records[0].files["T1"])
    before = target.read_bytes()

    def broken_write(image, path, *args):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(writers_module.sitk, "WriteImage", broken_write)
    with pytest.raises(InputError, match="Could not write"):
        write_case(tmp_path, "SYN-00001-000", {"T1": _volume(99)})
    monkeypatch.undo()
    assert target.read_bytes() == before

    manifest_before = (tmp_path / "manifest.csv").read_bytes()
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(InputError, match=r"Could not write '.*manifest.csv' \(disk full\)"):
        write_manifest(tmp_path, records[:1])
    monkeypatch.undo()
    assert (tmp_path / "manifest.csv").read_bytes() == manifest_before
    assert not [p for p in _all_files(tmp_path) if p.name.startswith(".") or ".tmp" in p.name]


def test_write_case_refuses_bad_input(tmp_path):
    with pytest.raises(InputError, match="folder name"):
        write_case(tmp_path, "../escape", {"T1": _volume(1)})
    with pytest.raises(InputError, match="Unknown modality"):
        write_case(tmp_path, "SYN-1-000", {"DWI": _volume(1)})
    with pytest.raises(InputError, match="no image"):
        write_case(tmp_path, "SYN-1-000", {})
    with pytest.raises(InputError, match="two images"):
        write_case(tmp_path, "SYN-1-000", {"T1C": _volume(1), "t1ce": _volume(2)})
    with pytest.raises(InputError, match="integer"):
        write_case(tmp_path, "SYN-1-000", {"T1": _volume(1)}, seg=_volume(3))


def test_synthetic_bad_tree_is_reported_not_fatal(tmp_path):
    records = _write_patient(tmp_path, "SYN-00001", [0, 20])
    records += _write_patient(tmp_path, "SYN-00002", [0])
    write_manifest(tmp_path, records)
    os.remove(tmp_path / "SYN-00001-001" / "SYN-00001-001-t2f.nii.gz")  # missing modality file
    _write_patient(tmp_path, "SYN-00009", [0])                         # folder not in the manifest
    with open(tmp_path / "manifest.csv", "a", newline="") as stream:
        stream.write("SYN-00003-000,SYN-00003,0,glioblastoma,T1;T1C,60,F,90,,100,1\n")  # no images
        stream.write("SYN-00004-000,SYN-00004,zero,glioblastoma,T1,60,F,90,,100,1\n")   # bad visit_day
        stream.write("SYN-00005-000,SYN-00005,0,glioblastoma,T1,60,F,90,,100,2\n")      # bad event

    dataset = load_dataset(tmp_path)
    assert sorted(r.case_id for r in dataset.records) == ["SYN-00001-000", "SYN-00002-000"]
    reasons = dict(dataset.skipped)
    assert "FLAIR" in reasons["SYN-00001-001"] and "missing modality" in reasons["SYN-00001-001"]
    assert "not listed" in reasons["SYN-00009-000"]
    assert "no image folder" in reasons["SYN-00003-000"]
    assert "visit_day" in reasons["manifest.csv row 6"]
    assert "event" in reasons["manifest.csv row 7"]
    assert "SYN-00001-001: " in dataset.skipped_report()


# --------------------------------------------------------------------------- BraTS 2020


def _brats2020_tree(root: Path) -> Path:
    for case, ext in (("BraTS20_Training_001", ".nii.gz"), ("BraTS20_Training_002", ".nii"),
                      ("BraTS20_Training_355", ".nii"), ("BraTS20_Training_003", ".nii.gz")):
        for k, suffix in enumerate(("t1", "t1ce", "t2", "flair")):
            if case == "BraTS20_Training_003" and suffix == "flair":
                continue  # missing modality file
            _nii(root / case / f"{case}_{suffix}{ext}", k)
        if case != "BraTS20_Training_355":
            _nii(root / case / f"{case}_seg{ext}")
    _nii(root / "BraTS20_Training_355" / "W39_1998.09.19_Segm.nii")  # as shipped in the public release
    _csv(root / "name_mapping.csv",
         ["Grade", "BraTS_2017_subject_ID", "BraTS_2018_subject_ID", "TCGA_TCIA_subject_ID",
          "BraTS_2019_subject_ID", "BraTS_2020_subject_ID"],
         [["HGG", "Brats17_CBICA_AAB_1", "Brats18_CBICA_AAB_1", "NA", "BraTS19_CBICA_AAB_1", "BraTS20_Training_001"],
          ["LGG", "Brats17_2013_0_1", "Brats18_2013_0_1", "TCGA-HT-7692", "BraTS19_2013_0_1", "BraTS20_Training_002"],
          ["HGG", "NA", "NA", "NA", "NA", "BraTS20_Training_355"],
          ["HGG", "NA", "NA", "NA", "NA", "BraTS20_Training_003"],
          ["LGG", "NA", "NA", "NA", "NA", "BraTS20_Training_999"]])  # id without images
    _csv(root / "survival_info.csv", ["Brats20ID", "Age", "Survival_days", "Extent_of_Resection"],
         [["BraTS20_Training_001", "60.463", "289", "GTR"],
          ["BraTS20_Training_002", "52.263", "ALIVE (361 days later)", "NA"],
          ["BraTS20_Training_355", "sixty", "120", "GTR"],                    # unreadable row
          ["BraTS20_Training_998", "40", "100", "STR"]])                       # id without images
    return root


def test_brats2020_labels_survival_censoring_and_case_355(tmp_path):
    dataset = load_dataset(_brats2020_tree(tmp_path / "MICCAI_BraTS2020_TrainingData"))
    assert dataset.layout == "brats2020"
    cases = {r.case_id: r for r in dataset.records}
    assert sorted(cases) == ["BraTS20_Training_001", "BraTS20_Training_002", "BraTS20_Training_355"]
    first, second, odd = (cases[f"BraTS20_Training_{n}"] for n in ("001", "002", "355"))
    assert (first.label, second.label, odd.label) == ("HGG", "LGG", "HGG")
    assert first.modalities == ("T1", "T1C", "T2", "FLAIR")
    assert first.files["T1C"].endswith("BraTS20_Training_001_t1ce.nii.gz")
    assert (first.age, first.survival_days, first.event) == (60.463, 289.0, 1)
    assert (second.survival_days, second.event) == (361.0, 0)       # ALIVE (361 days later): censored
    assert second.extra["tcga_id"] == "TCGA-HT-7692"
    assert odd.seg_path.endswith("W39_1998.09.19_Segm.nii")
    assert odd.survival_days is None                                  # its row was unreadable
    assert "FLAIR" in dict(dataset.skipped)["BraTS20_Training_003"]
    assert "no image folder" in dict(dataset.skipped)["name_mapping.csv: BraTS20_Training_999"]
    assert "no image folder" in dict(dataset.skipped)["survival_info.csv: BraTS20_Training_998"]
    assert "Age" in dict(dataset.skipped)["survival_info.csv row 4"]


def test_a_wrapping_folder_is_entered(tmp_path):
    _brats2020_tree(tmp_path / "BraTS2020_TrainingData" / "MICCAI_BraTS2020_TrainingData")
    assert load_dataset(tmp_path / "BraTS2020_TrainingData").layout == "brats2020"


# --------------------------------------------------------------------------- BraTS 2021 and 2023


def test_brats2021(tmp_path):
    for case in ("BraTS2021_00000", "BraTS2021_00002"):
        for suffix in ("flair", "t1", "t1ce", "t2", "seg"):
            _nii(tmp_path / case / f"{case}_{suffix}.nii.gz")
    os.remove(tmp_path / "BraTS2021_00002" / "BraTS2021_00002_t1.nii.gz")
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "brats2021"
    assert [r.case_id for r in dataset.records] == ["BraTS2021_00000"]
    assert dataset.records[0].seg_path.endswith("BraTS2021_00000_seg.nii.gz")
    assert "T1" in dict(dataset.skipped)["BraTS2021_00002"]
    kept = load_dataset(tmp_path, require_all=False)
    assert kept.case("BraTS2021_00002").modalities == ("T1C", "T2", "FLAIR")


def test_brats2023_cohorts_timepoints_and_labels(tmp_path):
    cases = ["BraTS-GLI-00001-000", "BraTS-GLI-00001-001", "BraTS-MEN-00002-000", "BraTS-MET-00003-000",
             "BraTS-PED-00004-000", "BraTS-SSA-00005-000", "BraTS-GOAT-00006-000"]
    for case in cases:
        for suffix in ("t1n", "t1c", "t2w", "t2f", "seg"):
            _nii(tmp_path / case / f"{case}-{suffix}.nii.gz")
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "brats2023"
    labels = {r.case_id: r.label for r in dataset.records}
    assert labels == {"BraTS-GLI-00001-000": "glioma", "BraTS-GLI-00001-001": "glioma",
                      "BraTS-MEN-00002-000": "meningioma", "BraTS-MET-00003-000": "metastasis",
                      "BraTS-PED-00004-000": "pediatric_glioma", "BraTS-SSA-00005-000": "glioma",
                      "BraTS-GOAT-00006-000": None}
    visits = dataset.patients()["BraTS-GLI-00001"]
    assert [(v.case_id, v.visit_day, v.extra["timepoint"]) for v in visits] == [
        ("BraTS-GLI-00001-000", 0, "000"), ("BraTS-GLI-00001-001", None, "001")]
    assert dataset.case("BraTS-MEN-00002-000").files["FLAIR"].endswith("-t2f.nii.gz")


def test_a_synthetic_tree_without_manifest_reads_as_brats2023(tmp_path):
    write_case(tmp_path, "BraTS-GLI-00001-000", {m: _volume(k) for k, m in enumerate(("T1", "T1C", "T2", "FLAIR"))})
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "brats2023" and dataset.records[0].label == "glioma"


# --------------------------------------------------------------------------- UCSF-PDGM


UCSF_COLUMNS = ["ID", "Sex", "Age at MRI", "WHO CNS Grade", "Final pathologic diagnosis (WHO 2021)",
                "MGMT status", "MGMT index", "1p/19q", "IDH", "1-dead 0-alive", "OS", "EOR",
                "Biopsy prior to imaging", "BraTS21 ID", "BraTS21 Segmentation Cohort", "BraTS21 MGMT Cohort"]


def test_ucsf_pdgm_id_mismatch_is_resolved(tmp_path):
    root = tmp_path / "UCSF-PDGM-v5"
    for case in ("UCSF-PDGM-0004", "UCSF-PDGM-0012", "UCSF-PDGM-0020"):
        for k, suffix in enumerate(("T1", "T1c", "T2", "FLAIR")):
            if case == "UCSF-PDGM-0012" and suffix == "T1c":
                suffix = "T1c_bias"  # only the bias-corrected file present
            if case == "UCSF-PDGM-0020" and suffix == "T2":
                continue
            _nii(root / f"{case}_nifti" / f"{case}_{suffix}.nii.gz", k)
        _nii(root / f"{case}_nifti" / f"{case}_tumor_segmentation.nii.gz")
        _nii(root / f"{case}_nifti" / f"{case}_ADC.nii.gz")
    _csv(root / "UCSF-PDGM-metadata_v5.csv", UCSF_COLUMNS, [
        ["UCSF-PDGM-004", "M", "66", "4", "Glioblastoma, IDH-wildtype", "negative", "", "", "wildtype",
         "1", "1303", "STR", "No", "BraTS2021_00097", "Training", "Training"],
        ["UCSF-PDGM-012", "F", "40", "2", "Astrocytoma, IDH-mutant", "", "", "intact", "mutated (NOS)",
         "0", "n/a", "GTR", "No", "", "", ""],
        ["UCSF-PDGM-020", "F", "50", "4", "Glioblastoma, IDH-wildtype", "", "", "", "wildtype",
         "1", "soon", "", "", "", "", ""],                                                   # unreadable
        ["UCSF-PDGM-999", "M", "70", "4", "Glioblastoma, IDH-wildtype", "", "", "", "wildtype",
         "1", "100", "", "", "", "", ""],                                                    # no images
    ])
    dataset = load_dataset(root)
    assert dataset.layout == "ucsf_pdgm"
    cases = {r.case_id: r for r in dataset.records}
    assert sorted(cases) == ["UCSF-PDGM-0004", "UCSF-PDGM-0012"]
    first, second = cases["UCSF-PDGM-0004"], cases["UCSF-PDGM-0012"]
    assert first.label == "Glioblastoma, IDH-wildtype" and first.extra["who_grade"] == "4"
    assert (first.age, first.sex, first.survival_days, first.event) == (66.0, "M", 1303.0, 1)
    assert first.files["T1C"].endswith("UCSF-PDGM-0004_T1c.nii.gz")
    assert first.seg_path.endswith("UCSF-PDGM-0004_tumor_segmentation.nii.gz")
    assert second.label == "Astrocytoma, IDH-mutant" and second.extra["idh"] == "mutated (NOS)"
    assert (second.survival_days, second.event) == (None, 0)
    assert second.files["T1C"].endswith("UCSF-PDGM-0012_T1c_bias.nii.gz")
    skipped = dict(dataset.skipped)
    assert "T2" in skipped["UCSF-PDGM-0020"]
    assert "OS" in skipped["UCSF-PDGM-metadata_v5.csv row 4"]
    assert _skipped(dataset, "UCSF-PDGM-999") and "no image folder" in _skipped(dataset, "UCSF-PDGM-999")[0][1]


# --------------------------------------------------------------------------- UPenn-GBM


UPENN_COLUMNS = ["ID", "Gender", "Age_at_scan_years", "Survival_from_surgery_days_UPDATED", "Survival_Status",
                 "Survival_Censor", "PsP_TP_score", "IDH1", "MGMT", "KPS",
                 "GTR_over90percent"]


def test_upenn_gbm_visits_and_survival(tmp_path):
    base = tmp_path / "NIfTI-files"
    for case in ("UPENN-GBM-00001_11", "UPENN-GBM-00001_21", "UPENN-GBM-00002_11", "UPENN-GBM-00003_11"):
        for k, suffix in enumerate(("T1", "T1GD", "T2", "FLAIR")):
            if case == "UPENN-GBM-00003_11" and suffix == "T1GD":
                continue
            _nii(base / "images_structural" / case / f"{case}_{suffix}.nii.gz", k)
    _nii(base / "images_segm" / "UPENN-GBM-00001_11_segm.nii.gz")
    _nii(base / "automated_segm" / "UPENN-GBM-00002_11_automated_approx_segm.nii.gz")
    _csv(tmp_path / "UPENN-GBM_clinical_info_v2.1.csv", UPENN_COLUMNS, [
        ["UPENN-GBM-00001_11", "F", "52.16", "960", "Deceased", "", "", "Wildtype", "Not Available",
         "Not Available", "Y"],
        ["UPENN-GBM-00001_21", "F", "52.5", "960", "Deceased", "", "3", "Wildtype", "Not Available",
         "Not Available", "Y"],
        ["UPENN-GBM-00002_11", "M", "61.0", "Not Available", "Alive", "", "", "NOS/NEC", "Methylated",
         "90", "N"],
        ["UPENN-GBM-00004_11", "M", "70", "100", "Deceased", "", "", "Wildtype", "", "", ""],  # no images
        ["UPENN-GBM-00003_11", "M", "old", "100", "Deceased", "", "", "Wildtype", "", "", ""],  # bad row
    ])
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "upenn_gbm"
    patients = dataset.patients()
    assert list(patients) == ["UPENN-GBM-00001", "UPENN-GBM-00002"]
    baseline, follow_up = patients["UPENN-GBM-00001"]
    assert (baseline.case_id, baseline.visit_day, follow_up.visit_day) == ("UPENN-GBM-00001_11", 0, None)
    assert baseline.files["T1C"].endswith("UPENN-GBM-00001_11_T1GD.nii.gz")
    assert baseline.seg_path.endswith("UPENN-GBM-00001_11_segm.nii.gz") and follow_up.seg_path is None
    assert (baseline.label, baseline.sex, baseline.age, baseline.survival_days, baseline.event) == (
        "glioblastoma", "F", 52.16, 960.0, 1)
    other = patients["UPENN-GBM-00002"][0]
    assert (other.survival_days, other.event, other.kps) == (None, 0, 90.0)
    assert other.seg_path.endswith("UPENN-GBM-00002_11_automated_approx_segm.nii.gz")
    skipped = dict(dataset.skipped)
    assert "T1C" in skipped["UPENN-GBM-00003_11"]
    assert "no image folder" in skipped["UPENN-GBM_clinical_info_v2.1.csv: UPENN-GBM-00004_11"]
    assert "Age_at_scan_years" in skipped["UPENN-GBM_clinical_info_v2.1.csv row 6"]


# --------------------------------------------------------------------------- LUMIERE


def test_lumiere_weeks_become_days(tmp_path):
    imaging = tmp_path / "Imaging"
    for patient, weeks in (("Patient-001", ("week-000-1", "week-000-2", "week-044")), ("Patient-002", ("week-003",))):
        for week in weeks:
            for k, name in enumerate(("T1", "CT1", "T2", "FLAIR")):
                if patient == "Patient-002" and name == "FLAIR":
                    continue
                _nii(imaging / patient / week / f"{name}.nii.gz", k)
    _nii(imaging / "Patient-001" / "week-044" / "HD-GLIO-AUTO-segmentation" / "native"
         / "segmentation_CT1_origspace.nii.gz")
    _csv(tmp_path / "LUMIERE-Demographics_Pathology.csv",
         ["Patient", "Age at surgery (years)", "Sex", "Survival time (weeks)", "IDH (WT: wild type)",
          "MGMT qualitative"],
         [["Patient-001", "55", "male", "52", "WT", "methylated"],
          ["Patient-002", "61", "female", "na", "WT", "not methylated"],
          ["Patient-077", "70", "male", "30", "WT", "na"]])     # no images
    rating = ("Rating (according to RANO, PD: Progressive disease, SD: Stable disease, PR: Partial response, "
              "CR: Complete response, Pre-Op: Pre-Operative, Post-Op: Post-Operative)")
    rationale = ("Rating rationale (CRET: complete resection of the enhancing tumor, PRET: partial resection "
                 "of the enhancing tumor, T2-Progr.: T2-Progression, L: Lesion)")
    _csv(tmp_path / "LUMIERE-ExpertRating-v202211.csv", ["Patient", "Date", rating, rationale],
         [["Patient-001", "week-000-1", "Pre-Op", ""],
          ["Patient-001", "week-000-2", "Post-Op", "CRET"],
          ["Patient-001", "week-044", "PD", "T2-Progr."],
          ["Patient-001", "week-050", "PD", ""]])                     # no images
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "lumiere"
    visits = dataset.patients()["Patient-001"]
    assert [(v.case_id, v.visit_day) for v in visits] == [
        ("Patient-001_week-000-1", 0), ("Patient-001_week-000-2", 0), ("Patient-001_week-044", 308)]
    assert [v.extra["rano"] for v in visits] == ["Pre-Op", "Post-Op", "PD"]
    last = visits[-1]
    assert last.files["T1C"].endswith("CT1.nii.gz") and last.seg_path.endswith("segmentation_CT1_origspace.nii.gz")
    assert (last.age, last.sex, last.survival_days, last.event, last.label) == (55.0, "M", 364.0, 1, "glioblastoma")
    assert last.extra["mgmt"] == "methylated" and last.extra["idh"] == "WT"
    skipped = dict(dataset.skipped)
    assert "FLAIR" in skipped["Patient-002_week-003"]
    assert "no image folder" in skipped["LUMIERE-Demographics_Pathology.csv: Patient-077"]
    assert "no image folder" in skipped["LUMIERE-ExpertRating-v202211.csv: Patient-001 week-050"]
    kept = load_dataset(tmp_path, require_all=False).patients()["Patient-002"][0]
    assert (kept.visit_day, kept.survival_days, kept.event, kept.sex) == (21, None, None, "F")


# --------------------------------------------------------------------------- loader errors and reading


def test_unusable_roots_are_clear_input_errors(tmp_path):
    with pytest.raises(InputError, match="No supported dataset layout"):
        load_dataset(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="No supported dataset layout"):
        load_dataset(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(InputError, match="not a folder"):
        load_dataset(tmp_path / "notes" / "readme.txt")
    with pytest.raises(InputError, match="Unknown layout"):
        load_dataset(tmp_path, layout="brats2019")
    (tmp_path / "manifest.csv").write_text("name,kind\nx,y\n")
    with pytest.raises(InputError, match="No supported dataset layout"):
        load_dataset(tmp_path)
    with pytest.raises(InputError, match="lacks the column"):
        load_dataset(tmp_path, layout="synthetic")


def test_every_layout_is_listed():
    assert list(LAYOUTS) == ["synthetic", "lumiere", "upenn_gbm", "ucsf_pdgm", "brats2020", "brats2021", "brats2023"]


def test_images_are_read_with_the_checks_of_every_input(tmp_path):
    """The loader reads through braintumorai.io.read_image: a cut-short file or NaN voxels
    in a dataset are refused as they are anywhere else."""
    record = write_case(tmp_path, "SYN-1-000", {"T1": _volume(1), "FLAIR": _volume(2)})
    images = load_visit_images(record)
    assert set(images) == {"T1", "FLAIR"} and images["T1"].GetPixelID() == sitk.sitkFloat32
    data = open(record.files["FLAIR"], "rb").read()
    with open(record.files["FLAIR"], "wb") as stream:
        stream.write(data[: len(data) // 2])
    with pytest.raises(InputError, match="t2f.nii.gz' is cut short"):
        load_visit_images(record)
    array = np.full((8, 9, 10), 5.0, np.float32)
    array[1, 2, 3], array[0, 0, 0] = np.nan, 1.0
    sitk.WriteImage(sitk.GetImageFromArray(array), record.files["FLAIR"])
    with pytest.raises(InputError, match="has 1 NaN or infinite voxels"):
        load_visit_images(record, ["FLAIR"])


def test_a_file_removed_after_loading_is_a_clear_error(tmp_path):
    record = write_case(tmp_path, "SYN-1-000", {"T1": _volume(1)})
    os.remove(record.files["T1"])
    with pytest.raises(InputError, match="missing"):
        load_visit_images(record)


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="the shared real BraTS 2023 sample is not on this machine")
def test_the_real_brats2023_sample_is_recognised():
    dataset = load_dataset(REAL_SAMPLE)
    assert dataset.layout == "brats2023"
    record = dataset.case(REAL_CASE.name)
    assert record.modalities == ("T1", "T1C", "T2", "FLAIR") and record.label == "glioma"
