"""`braintumorai demo`, the README's main job, runs end to end (at a reduced size) and writes
every file it promises."""

import json

from braintumorai.cli import main


def test_demo_writes_the_patient_classification_survival_and_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--type", "meningioma", "--seed", "3", "--visits", "3", "--spacing", "3",
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    # stderr is not a terminal here (a log, CI, tee): the numbered steps come as plain lines, no progress line
    steps = captured.err.splitlines()
    assert [line.split(" ", 1)[0] for line in steps if not line.startswith(" ")] == ["1/4", "2/4", "3/4", "4/4"]
    assert sum(line.startswith("  done in ") for line in steps) == 4 and "\r" not in captured.err
    assert "the phantom's truth   meningioma" in printed and "Not for clinical use" in printed
    assert str(out / "report" / "report.html") in printed
    manifest = (out / "patient" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 1 + 3
    for visit in range(3):
        folder = out / "patient" / f"DEMO-00003-{visit:03d}"
        assert {p.name.rsplit("-", 1)[1] for p in folder.iterdir()} == {
            "t1n.nii.gz", "t1c.nii.gz", "t2w.nii.gz", "t2f.nii.gz", "ct.nii.gz", "pet.nii.gz", "seg.nii.gz"}
    result = json.loads((out / "classification" / "result.json").read_text())
    assert set(result["modality_weights"]) == {"T1", "T1C", "T2", "FLAIR", "CT", "PET"}
    assert all((out / "classification" / path).is_file() for path in result["saliency"].values())
    survival = json.loads((out / "survival" / "survival.json").read_text())
    assert len(survival["per_visit"]) == 3 and (out / "survival" / "survival.png").is_file()
    report = (out / "report" / "report.html").read_text()
    for figure in ("probabilities", "modality_weights", "survival", "saliency_fused", "saliency_T1C"):
        assert (out / "report" / f"{figure}.png").is_file()
    assert result["model"]["sha256"] in report and survival["model"]["sha256"] in report
    assert "not for clinical use" in report.lower()


def test_demo_refuses_bad_options(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--visits", "12"]) == 2
    assert "--visits 12" in capsys.readouterr().err
