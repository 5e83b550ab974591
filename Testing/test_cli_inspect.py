"""`braintumorai inspect` tells co-registered, resampled and unregistered volumes apart."""

import json
import subprocess
import sys

import numpy as np
import SimpleITK as sitk

from braintumorai.cli import main

from imaging_helpers import head_with_blob, rotation


def _study(tmp_path, shift_flair_mm=0.0):
    t1c = head_with_blob((90, 100, 80), (2.0, 2.0, 2.0), texture=True)
    t2 = head_with_blob((60, 66, 30), (3.0, 3.0, 5.0), rotation("z", 10), texture=True)
    # Its own voxels: a copy of the T1C's given as FLAIR is refused (one volume as two modalities).
    flair = head_with_blob((90, 100, 80), (2.0, 2.0, 2.0), texture=True) * 0.8
    flair.SetOrigin((np.asarray(flair.GetOrigin()) + [shift_flair_mm, 0, 0]).tolist())
    paths = []
    for name, image in (("case_t1c.nii.gz", t1c), ("case_t2w.nrrd", t2), ("case_flair.mha", flair)):
        sitk.WriteImage(image, str(tmp_path / name))
        paths.append(str(tmp_path / name))
    return paths


def test_inspect_json_reports_each_volume_and_the_reference(tmp_path, capsys):
    paths = _study(tmp_path)
    assert main(["inspect", *paths, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reference"]["modality"] == "T1C" and report["reference"]["path"] == paths[0]
    by_modality = {v["modality"]: v for v in report["volumes"]}
    assert set(by_modality) == {"T1C", "T2", "FLAIR"}
    assert by_modality["T1C"]["coregistered"] == "yes"
    assert by_modality["T2"]["coregistered"] == "resampled"
    assert by_modality["FLAIR"]["coregistered"] == "yes"
    assert by_modality["T2"]["size"] == [60, 66, 30] and by_modality["T2"]["spacing"] == [3.0, 3.0, 5.0]
    for volume in report["volumes"]:
        assert {"path", "modality", "size", "spacing", "coregistered"} <= set(volume)


def test_inspect_table_flags_an_unregistered_volume(tmp_path, capsys):
    paths = _study(tmp_path, shift_flair_mm=160.0)
    assert main(["inspect", *paths]) == 0
    out = capsys.readouterr().out
    flair_line = next(line for line in out.splitlines() if line.startswith("FLAIR"))
    assert " no " in flair_line
    assert "not co-registered" in out and "reference (*): T1C" in out


def test_inspect_explicit_modality_and_reference(tmp_path, capsys):
    paths = _study(tmp_path)
    assert main(["inspect", "--modality", f"PET={paths[1]}", paths[0], "--reference", "PET", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reference"]["modality"] == "PET"


def test_inspect_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "braintumorai.cli", "inspect", str(tmp_path / "missing_t1.nii.gz")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "missing_t1.nii.gz' does not exist" in result.stderr


def test_a_case_folder_is_read_as_its_volumes_the_segmentation_left_out(tmp_path, capsys):
    case = tmp_path / "BraTS-GLI-00007-000"
    case.mkdir()
    paths = _study(case)
    seg = sitk.Cast(sitk.ReadImage(paths[0]) > 0, sitk.sitkUInt8)
    sitk.WriteImage(seg, str(case / "BraTS-GLI-00007-000-seg.nii.gz"))
    assert main(["inspect", str(case), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {v["modality"] for v in report["volumes"]} == {"T1C", "T2", "FLAIR"}
    assert sorted(v["path"] for v in report["volumes"]) == sorted(paths)


def test_a_dicom_study_folder_is_read_as_its_series(tmp_path, capsys):
    from braintumorai.case_folder import case_folder_contents

    study = tmp_path / "study"
    for series in ("AX_T1_POST_GAD", "AX_FLAIR"):
        (study / series).mkdir(parents=True)
        (study / series / "IM0001").write_bytes(b"\0" * 132 + b"DICM")
    volumes, segmentation = case_folder_contents(study)
    assert [p.split("/")[-1] for p in volumes] == ["AX_FLAIR", "AX_T1_POST_GAD"] and segmentation is None
    assert case_folder_contents(study / "AX_FLAIR") is None  # a series folder is one volume
    (tmp_path / "empty").mkdir()
    assert main(["inspect", str(tmp_path / "empty")]) == 2
    assert "holds no volume" in capsys.readouterr().err
