"""`braintumorai demo`, the README's main job, runs end to end on a generated phantom."""

import json

from braintumorai.cli import main


def test_demo_writes_the_study_and_the_classification(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--type", "meningioma", "--seed", "3", "--spacing", "3",
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "true label of the phantom: meningioma" in printed and "Not for clinical use" in printed
    result = json.loads((out / "classification" / "result.json").read_text())
    assert set(result["modality_weights"]) == {"T1", "T1C", "T2", "FLAIR", "CT", "PET"}
    assert (out / "study" / "manifest.csv").exists()
    assert (out / "study" / "DEMO-000" / "DEMO-000-t1c.nii.gz").exists()
    assert all((out / "classification").joinpath(f"saliency_{m}.nii.gz").exists() for m in ("fused", "T1C"))
