"""What the command line says to a person: every error one line (ITK's console output never
reaches the terminal), each warning once, progress that does not say "Done" before the
results are written, options it did not use named, and a widened prediction set only
called widened when it grew."""

from __future__ import annotations

import argparse
import json

import pytest
import SimpleITK as sitk

from braintumorai.cli import main
from braintumorai.cli.arguments import unused_pet_options
from braintumorai.ood import ood_warning
from braintumorai.study import Study


def test_classify_on_a_folder_without_a_dicom_series_says_one_line_and_nothing_from_itk(tmp_path, capfd):
    folder = tmp_path / "t1c_series"
    folder.mkdir()
    (folder / "notes.dcm").write_text("not a DICOM file")
    code = main(["classify", str(folder), "--out", str(tmp_path / "out")])
    err = capfd.readouterr().err  # file descriptor 2: ITK writes there, past Python's sys.stderr
    assert code == 2
    assert "itk" not in err.lower() and "WARNING" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("braintumorai classify: ")


@pytest.fixture()
def tiny_model(tmp_path):
    pytest.importorskip("torch")
    from braintumorai.checkpoints import save_checkpoint
    from braintumorai.models import ModalityAttentionNet

    model = ModalityAttentionNet(("HGG", "LGG"), ("T1C", "PET"), embed_dim=8,
                                 encoder_kwargs={"channels": (4, 8), "strides": (2, 2), "blocks": (0,)})
    save_checkpoint(model, tmp_path / "tiny", {"spacing_mm": [6.0, 6.0, 6.0], "grid_size": [24, 28, 24]})
    return tmp_path / "tiny.json"


def test_classify_says_each_warning_once_names_unused_pet_options_and_ends_with_done(tmp_path, tiny_model, capsys):
    from imaging_helpers import head_with_blob

    image = head_with_blob((48, 56, 48), (3.0, 3.0, 3.0), texture=True)
    sitk.WriteImage(image, str(tmp_path / "case-t1c.nii.gz"))
    code = main(["classify", str(tmp_path / "case-t1c.nii.gz"), "--model", str(tiny_model), "--device", "cpu",
                 "--saliency", "none", "--out", str(tmp_path / "out"), "--progress", "json", "--pet-weight", "70"])
    assert code == 0
    captured = capsys.readouterr()
    stages = [json.loads(line)["stage"] for line in captured.err.splitlines() if line.strip()]
    assert stages.count("Done") == 1 and stages[-1] == "Done"
    assert stages.index("Writing the results") < stages.index("Done")
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    unused = "--pet-weight was not used: the study has no PET volume."
    assert unused in result["warnings"]
    warnings = [line for line in captured.out.splitlines() if line.startswith("WARNING: ")]
    assert len(warnings) == len(result["warnings"]) == len(set(warnings))
    assert f"WARNING: {unused}" in warnings


def _options(weight=None, dose=None) -> argparse.Namespace:
    return argparse.Namespace(pet_weight=weight, pet_dose=dose)


def test_pet_options_on_a_pet_already_in_suv_are_named_as_unused():
    import numpy as np

    pet = sitk.GetImageFromArray(np.random.default_rng(0).uniform(1, 5, (8, 8, 8)).astype(np.float32))
    study = Study(images={"PET": pet}, metadata={"PET": {"units": "GML"}})
    assert unused_pet_options(_options(70.0, 370.0), study) == (
        "--pet-weight and --pet-dose were not used: the PET is already in SUV (its units say GML).")
    in_bq = Study(images={"PET": pet}, metadata={"PET": {"units": "BQML"}})
    assert unused_pet_options(_options(70.0, 370.0), in_bq) is None  # used: they turn Bq/mL into SUV
    assert unused_pet_options(_options(), study) is None


def test_the_ood_warning_says_widened_only_when_the_set_grew():
    stayed = ood_warning(1.25, 1.04, 0.9, ["glioblastoma"], ["glioblastoma"], flag_quantile=0.95)
    assert "widened" not in stayed and "stays glioblastoma" in stayed
    assert "about 1 in 20 studies like the training data score this high too" in stayed
    grew = ood_warning(1.25, 1.04, 0.9, ["glioblastoma"], ["glioblastoma", "metastasis"])
    assert "widened" in grew and "glioblastoma, metastasis" in grew and "1 in" not in grew


def test_demo_steps_are_plain_lines_off_a_terminal_and_quiet_stays_quiet():
    from braintumorai.cli.demo_command import steps_mode

    # pytest's stderr is not a terminal, as a log, CI or tee is not
    assert steps_mode(argparse.Namespace(progress=None)) == "lines"
    assert steps_mode(argparse.Namespace(progress="none")) == "none"  # --quiet
    assert steps_mode(argparse.Namespace(progress="json")) == "json"


def test_the_slicer_panel_never_rounds_to_certainty_and_spells_classes_as_the_report():
    from BrainTumorAILib.panel_text import result_summary, result_table_rows

    data = {"classes": ["glioblastoma", "lower_grade_glioma"], "prediction_set": ["lower_grade_glioma"],
            "probabilities": {"glioblastoma": 0.00043, "lower_grade_glioma": 0.99957},
            "predicted": "lower_grade_glioma", "coverage": 0.9, "uncertainty": 0.0021}
    text = result_summary(data)
    assert "Predicted lower-grade glioma (lower_grade_glioma) (probability > 0.99)" in text
    assert "uncertainty < 0.01" in text and "1.00" not in text
    assert result_table_rows(data) == [("lower-grade glioma (lower_grade_glioma)", "> 0.999", True),
                                       ("glioblastoma", "< 0.001", False)]
