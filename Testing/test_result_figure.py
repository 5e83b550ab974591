"""training/result_figure.py draws a classify result over its own reference volume."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from training.result_figure import draw


def _result_folder(tmp_path):
    zz, yy, xx = np.mgrid[:30, :40, :36]
    head = (((zz - 15) / 12.0) ** 2 + ((yy - 20) / 16.0) ** 2 + ((xx - 18) / 14.0) ** 2 <= 1).astype(np.float32)
    image = sitk.GetImageFromArray(head * 100)
    image.SetSpacing((2.0, 2.0, 3.0))
    sitk.WriteImage(image, str(tmp_path / "t1c.nii.gz"))
    heat = sitk.GetImageFromArray(np.exp(-((zz - 12) ** 2 + (yy - 25) ** 2 + (xx - 10) ** 2) / 20.0).astype(np.float32))
    heat.CopyInformation(image)
    sitk.WriteImage(heat, str(tmp_path / "saliency_fused.nii.gz"))
    result = {"classes": ["glioblastoma", "no_tumor"], "probabilities": {"glioblastoma": 0.8, "no_tumor": 0.2},
              "predicted": "glioblastoma", "prediction_set": ["glioblastoma"], "coverage": 0.9,
              "modality_weights": {"T1C": 0.7, "FLAIR": 0.3}, "saliency_method": "gradcam", "reference": "T1C"}
    (tmp_path / "result.json").write_text(json.dumps(result))
    return tmp_path


def test_draws_the_result_as_a_png(tmp_path):
    folder = _result_folder(tmp_path)
    out = draw(str(folder), str(folder / "t1c.nii.gz"), str(tmp_path / "figure" / "result.png"))
    with open(out, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_refuses_a_volume_that_is_not_the_reference(tmp_path):
    folder = _result_folder(tmp_path)
    other = sitk.Image([10, 10, 10], sitk.sitkFloat32)
    sitk.WriteImage(other, str(tmp_path / "other.nii.gz"))
    with pytest.raises(SystemExit, match="is not the reference volume of this result"):
        draw(str(folder), str(tmp_path / "other.nii.gz"), str(tmp_path / "x.png"))
