"""`braintumorai sample` and `cohort` write folders the one loader reads back."""

import pandas as pd
import pytest

from braintumorai.cli import main
from braintumorai.datasets import load_dataset


def test_sample_writes_every_visit_with_its_manifest(tmp_path, capsys):
    out = tmp_path / "patient"
    assert main(["sample", "--out", str(out), "--type", "glioblastoma", "--seed", "3", "--visits", "3",
                 "--modalities", "T1C", "FLAIR", "PET", "--spacing", "4"]) == 0
    assert "3 visit(s) of glioblastoma" in capsys.readouterr().out
    manifest = pd.read_csv(out / "manifest.csv")
    assert list(manifest["case"]) == ["SYN-00003-000", "SYN-00003-001", "SYN-00003-002"]
    assert manifest["visit_day"].is_monotonic_increasing and manifest["visit_day"].iloc[0] == 0
    assert set(manifest["label"]) == {"glioblastoma"}
    assert manifest["survival_days"].nunique() == 1 and manifest["event"].isin([0, 1]).all()
    assert sorted(p.name for p in (out / "SYN-00003-001").iterdir()) == [
        "SYN-00003-001-pet.nii.gz", "SYN-00003-001-seg.nii.gz", "SYN-00003-001-t1c.nii.gz",
        "SYN-00003-001-t2f.nii.gz"]
    dataset = load_dataset(out, require_all=False)
    assert not dataset.skipped
    visits = dataset.patients()["SYN-00003"]
    assert [tuple(v.modalities) for v in visits] == [("T1C", "FLAIR", "PET")] * 3


def test_cohort_writes_one_manifest_for_all_patients(tmp_path):
    out = tmp_path / "cohort"
    assert main(["cohort", "--out", str(out), "--patients", "3", "--seed", "1", "--visits", "2",
                 "--types", "meningioma", "no_tumor", "--modalities", "T1", "--spacing", "5"]) == 0
    manifest = pd.read_csv(out / "manifest.csv")
    assert {"case", "label"} <= set(manifest.columns)
    assert manifest["patient"].nunique() == 3 and len(manifest) == 6
    assert set(manifest["label"]) == {"meningioma", "no_tumor"}
    assert len(load_dataset(out, require_all=False)) == 6


def test_unknown_type_is_one_clear_line(tmp_path, capsys):
    assert main(["sample", "--out", str(tmp_path), "--type", "astrocytoma"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Unknown tumour type 'astrocytoma'" in err


def test_help_names_every_tumour_type_the_generator_knows():
    from braintumorai.cli.synthetic_commands import TYPE_NAMES
    from braintumorai.synthetic import CLASSES

    assert TYPE_NAMES.split(", ") == list(CLASSES)
