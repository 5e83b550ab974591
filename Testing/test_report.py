"""The report writer (braintumorai.report) and the commands' JSON progress lines."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.errors import InputError
from braintumorai.report import read_classification_folder, write_report
from braintumorai.report.slices import lps_volume, slices_through

SHA_CLASSIFIER = "a" * 63 + "1"
SHA_PROGNOSIS = "b" * 63 + "2"
SHA_ENCODER = "c" * 63 + "3"


def head_and_map(direction=np.eye(3)):
    """A head-shaped volume, a saliency map peaked at voxel (i, j, k) = (12, 27, 20), a lesion mask."""
    zz, yy, xx = np.mgrid[:30, :40, :36]
    head = ((((zz - 15) / 12.0) ** 2 + ((yy - 20) / 16.0) ** 2 + ((xx - 18) / 14.0) ** 2) <= 1) * 100.0
    image = sitk.GetImageFromArray(head.astype(np.float32))
    image.SetSpacing((2.0, 2.0, 3.0))
    image.SetDirection(np.asarray(direction, float).ravel().tolist())
    heat = sitk.GetImageFromArray(np.exp(-((zz - 20) ** 2 + (yy - 27) ** 2 + (xx - 12) ** 2) / 20.0).astype(np.float32))
    heat.CopyInformation(image)
    lesion = sitk.Cast(heat > 0.5, sitk.sitkUInt8)
    return image, heat, lesion


def classification_data() -> dict:
    return {"classes": ["glioblastoma", "metastasis", "no_tumor"],
            "probabilities": {"glioblastoma": 0.8, "metastasis": 0.15, "no_tumor": 0.05}, "predicted": "glioblastoma",
            "uncertainty": 0.41, "prediction_set": ["glioblastoma", "metastasis"], "coverage": 0.9,
            "modality_weights": {"T1C": 0.6, "FLAIR": 0.4}, "saliency": {}, "saliency_method": "gradcam",
            "saliency_class": "glioblastoma", "reference": "T1C",
            "model": {"name": "braintumorai-phantom-classifier", "version": "0.1.0", "sha256": SHA_CLASSIFIER},
            "warnings": ["The FLAIR volume has <5> slices."], "ood_score": 9.5, "ood_flag": True}


def survival_data() -> dict:
    times = [float(t) for t in np.linspace(0, 1826.25, 31)]
    survival = [float(v) for v in np.exp(-np.array(times) / 900.0)]
    curve = {"day": 0.0, "survival": survival, "lower": [v * 0.9 for v in survival],
             "upper": [min(1.0, v * 1.1) for v in survival], "median_days": 623.8, "survival_1y": 0.67,
             "survival_2y": 0.44, "risk": 2.0}
    return {"times_days": times, "survival": survival, "lower": curve["lower"], "upper": curve["upper"],
            "median_days": 623.8, "survival_1y": 0.67, "survival_2y": 0.44, "risk": 2.0, "conditioned_on_day": 0.0,
            "per_visit": [curve], "visits": [{"day": 0.0, "name": "visit on day 0", "modalities": ["T1C"],
                                             "segmentation": False, "treatments": []}],
            "model": {"name": "tiny-prognosis", "version": None, "sha256": SHA_PROGNOSIS},
            "image_model": {"name": "tiny-classifier", "version": None, "sha256": SHA_ENCODER},
            "warnings": ["Two visits share a day; both were used."]}


def test_the_report_writes_every_file_it_promises_and_names_the_models(tmp_path):
    image, heat, lesion = head_and_map()
    out = tmp_path / "report"
    files = write_report(out, classification=classification_data(), saliency={"fused": heat, "T1C": heat},
                         reference=image, images={"T1C": image}, lesion=lesion, survival=survival_data(),
                         identifiers={"Patient ID": "P-17 <b>", "Study date": "20240115"})
    assert set(files) == {"report", "probabilities", "modality_weights", "saliency_fused", "saliency_T1C", "survival"}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())  # nothing half-written left
    for name, path in files.items():
        if name != "report":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000, name
    html = files["report"].read_text(encoding="utf-8")
    for sha in (SHA_CLASSIFIER, SHA_PROGNOSIS, SHA_ENCODER):
        assert sha in html
    assert "not for clinical use" in html and "0.800" in html and "0.150" in html and "90 % coverage" in html
    assert "P-17 &lt;b&gt;" in html and "<b>" not in html.split("P-17")[1][:5]  # identifiers shown as given, escaped
    assert "The FLAIR volume has &lt;5&gt; slices." in html and "Out-of-distribution score: 9.500" in html
    assert "do not rely on the predicted class" in html  # a flagged study says what to do
    assert "20.5 months" in html and "Two visits share a day" in html
    # Self-contained: every figure inlined, and the inlined bytes are the PNG files written beside it.
    inlined = [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]
    assert len(inlined) == len(files) - 1
    assert {bytes(b) for b in inlined} == {path.read_bytes() for name, path in files.items() if name != "report"}
    assert "http" not in html.replace("http://www.w3.org", "")  # nothing fetched


def test_a_report_reads_a_classify_folder_and_refuses_what_it_cannot_draw(tmp_path):
    image, heat, _ = head_and_map()
    folder = tmp_path / "classification"
    folder.mkdir()
    sitk.WriteImage(heat, str(folder / "saliency_fused.nii.gz"))
    data = dict(classification_data(), saliency={"fused": "/elsewhere/saliency_fused.nii.gz"})
    (folder / "result.json").write_text(json.dumps(data))
    read, maps = read_classification_folder(folder)  # the folder was moved: maps found beside result.json
    assert read["predicted"] == "glioblastoma" and set(maps) == {"fused"}
    files = write_report(tmp_path / "r", classification=folder, reference=image)
    assert "saliency_fused" in files and "survival" not in files
    files = write_report(tmp_path / "s", survival=survival_data())  # survival alone
    assert set(files) == {"report", "survival"}

    with pytest.raises(InputError, match="needs a classification result, a survival prediction or both"):
        write_report(tmp_path / "x")
    with pytest.raises(InputError, match="need the reference volume"):
        write_report(tmp_path / "x", classification=classification_data(), saliency={"fused": heat})
    blank = sitk.Image(heat.GetSize(), sitk.sitkFloat32)  # a map below one quantisation step: a result
    blank.CopyInformation(heat)
    sitk.WriteImage(blank, str(folder / "saliency_fused.nii.gz"))
    _, maps = read_classification_folder(folder)
    assert sitk.GetArrayViewFromImage(maps["fused"]).max() == 0.0
    (folder / "saliency_fused.nii.gz").write_bytes(b"not a volume")
    with pytest.raises(InputError, match="cannot be read"):
        read_classification_folder(folder)
    (folder / "saliency_fused.nii.gz").unlink()
    with pytest.raises(InputError, match="saliency map .* is missing"):
        read_classification_folder(folder)


@pytest.mark.parametrize("flip", [False, True])
def test_slices_are_drawn_in_radiological_convention_through_the_point_whatever_the_direction(flip):
    direction = np.diag([-1.0, 1.0, 1.0]) if flip else np.eye(3)  # a left-right flipped acquisition
    image, heat, _ = head_and_map(direction)
    volume, spacing = lps_volume(heat)
    k, j, i = np.unravel_index(int(np.argmax(volume)), volume.shape)
    axial, coronal, sagittal = slices_through(volume, spacing, (k, j, i))
    for view in (axial, coronal, sagittal):
        row, column = view.point
        assert view.pixels[row, column] == volume.max()
    # Physical position of the peak: the same point whatever the stored orientation.
    peak = np.array(heat.TransformIndexToPhysicalPoint([12, 27, 20]))
    oriented = sitk.DICOMOrient(heat, "LPS")
    np.testing.assert_allclose(oriented.TransformIndexToPhysicalPoint([int(i), int(j), int(k)]), peak)
    assert axial.labels == ("R", "L", "A", "P") and sagittal.labels == ("A", "P", "S", "I")
    assert axial.aspect == 1.0 and coronal.aspect == 1.5  # 2 mm columns, 3 mm rows


def test_classify_prints_json_progress_lines_a_program_can_read(tmp_path, capsys):
    pytest.importorskip("torch")
    from braintumorai.checkpoints import save_checkpoint
    from braintumorai.cli import main
    from braintumorai.models import ModalityAttentionNet

    model = ModalityAttentionNet(("HGG", "LGG"), ("T1C",), embed_dim=8,
                                 encoder_kwargs={"channels": (4, 8), "strides": (2, 2), "blocks": (0,)})
    save_checkpoint(model, tmp_path / "tiny", {"spacing_mm": [6.0, 6.0, 6.0], "grid_size": [24, 28, 24]})
    from imaging_helpers import head_with_blob

    image = head_with_blob((48, 56, 48), (3.0, 3.0, 3.0), texture=True)  # an image, not a two-valued mask
    sitk.WriteImage(image, str(tmp_path / "case-t1c.nii.gz"))
    code = main(["classify", str(tmp_path / "case-t1c.nii.gz"), "--model", str(tmp_path / "tiny.json"),
                 "--device", "cpu", "--out", str(tmp_path / "out"), "--progress", "json"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    fractions = [line["progress"] for line in lines]
    assert len(lines) >= 4 and fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(line["stage"], str) and line["stage"] for line in lines)


def test_a_refusal_after_text_progress_starts_on_a_line_of_its_own(tmp_path, capsys):
    """--progress text rewrites one line; a run that then fails ends that line first, so the
    one-sentence refusal is a line of its own (as a terminal shows it)."""
    from braintumorai.cli import main
    from imaging_helpers import head_with_blob

    image = head_with_blob((48, 56, 48), (3.0, 3.0, 3.0), texture=True)
    sitk.WriteImage(image, str(tmp_path / "case-t1c.nii.gz"))
    code = main(["classify", str(tmp_path / "case-t1c.nii.gz"), "--class", "astrocytoma", "--device", "cpu",
                 "--out", str(tmp_path / "out"), "--progress", "text"])
    assert code == 2
    err = capsys.readouterr().err
    assert "\r  " in err  # the progress line was drawn
    assert err.endswith("\n") and err.splitlines()[-1].startswith("braintumorai classify: ")


def test_the_survival_section_reads_as_probabilities_and_days_with_no_unexplained_risk_score(tmp_path):
    """The model's risk (-log S at the grid's end) means nothing to a reader without its
    definition: the report shows the median, 1- and 2-year survival and the band, not the score."""
    import re

    files = write_report(tmp_path / "s", survival=survival_data())  # its risk is 2.0
    html = files["report"].read_text()
    text = re.sub(r"<[^>]+>|data:image/png;base64,[A-Za-z0-9+/=]+", " ", html)
    assert "risk" not in text.lower() and "2.000" not in text
    assert "20.5 months" in text and "(624 days)" in text  # the median (623.8 days) is shown
