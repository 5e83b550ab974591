"""The bad-input catalogue (issue 9): every bad or hostile input ends in one clear sentence,
never a traceback or a silently wrong result; the input files stay byte-identical; and
``--out`` holds either a complete result of this run or exactly what it held before.

Each row is built from a good six-modality phantom study (``bad_inputs.py``) and run
through the real command line in-process with a tiny untrained six-modality model.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.cli import main
from braintumorai.output_folder import MARKER

from bad_inputs import (Case, array_of, as_modality, copy, good_study, like, noise_volume, tampered_model,
                        tiny_checkpoint, tree_digest, truncated, with_spacing, with_voxels, write)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return tiny_checkpoint(tmp_path_factory.mktemp("model"), ("glioblastoma", "meningioma", "no_tumor"), 1.0, "tiny.pt")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict:
    return good_study(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def earlier_result(tmp_path_factory, good, checkpoint) -> Path:
    """A complete earlier result folder (T1C + FLAIR), copied into --out before each row."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    assert main(["classify", good["T1C"], good["FLAIR"], "--out", str(out), "--model", checkpoint,
                 "--device", "cpu"]) == 0
    return out


def _swap_t1_t2(inputs, good):
    return ["--modality", f"T1={copy(good, inputs, 'T2')[0]}", "--modality", f"T2={copy(good, inputs, 'T1')[0]}"]


def _zscored_t1c(inputs, good):
    array = array_of(good["T1C"])
    brain = array != 0
    array[brain] = (array[brain] - array[brain].mean()) / array[brain].std()
    return [write(like(good["T1C"], array), inputs / "zscored-t1c.nii.gz")]


def _ct_zero_background(inputs, good):
    array = array_of(good["CT"])
    array[array < -500] = 0.0
    return [*copy(good, inputs, "T1C"), write(like(good["CT"], array), inputs / "stripped-ct.nii.gz")]


def _pet_without_contrast(inputs, good):
    array = array_of(good["PET"])
    array[array == 0] = float(np.median(array[array > 0]))
    return [*copy(good, inputs, "T1C"), write(like(good["PET"], array), inputs / "flat-pet.nii.gz")]


def _four_d(inputs, good):
    frame = sitk.ReadImage(good["T1C"])
    return [write(sitk.JoinSeries([frame] * 3), inputs / "dynamic-t1c.nii.gz")]


def _rgb(inputs, good):
    grey = sitk.Cast(sitk.RescaleIntensity(sitk.ReadImage(good["T1C"])), sitk.sitkUInt8)
    return [write(sitk.Compose(grey, grey, grey), inputs / "colour-t1c.nrrd")]


def _flipped_byte(inputs, good):
    data = bytearray(Path(good["T1C"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (inputs / "flipped-t1c.nii.gz").write_bytes(bytes(data))
    return [str(inputs / "flipped-t1c.nii.gz")]


def _seg_as_t1c(inputs, good):
    array = array_of(good["T1C"])
    labels = np.digitize(array, np.percentile(array[array > 0], [50, 90, 99])) * (array > 0)
    return as_modality(good, inputs, "T1C", "T1C", labels)


def _shifted_flair(inputs, good):
    image = sitk.ReadImage(good["FLAIR"])
    image.SetOrigin((np.asarray(image.GetOrigin()) + [300.0, 0.0, 0.0]).tolist())
    return [*copy(good, inputs, "T1C"), write(image, inputs / "far-t2f.nii.gz")]


def _file(name: str, content: bytes):
    def build(inputs, good):
        (inputs / name).write_bytes(content)
        return [str(inputs / name)]
    return build


def _image(name: str, array_of_good: callable):
    def build(inputs, good):
        return [write(like(good["T1C"], array_of_good(array_of(good["T1C"]))), inputs / name)]
    return build


CASES = [
    # --- files that cannot be used as they are
    Case("missing file", lambda i, g: [str(i / "missing-t1c.nii.gz")], says=("missing-t1c.nii.gz' does not exist",)),
    Case("folder without DICOM", lambda i, g: (i / "series").mkdir() or ["--modality", f"T1C={i / 'series'}"],
         says=("series' holds no DICOM series",)),
    Case("empty file", _file("empty-t1c.nii.gz", b""), says=("empty-t1c.nii.gz",)),
    Case("random bytes", _file("noise-t1c.nii.gz", bytes(range(256)) * 64), says=("Cannot read", "noise-t1c.nii.gz")),
    Case("first half of a .nii.gz", lambda i, g: truncated(g, i, "T1C", 0.5), says=("cut-t1c.nii.gz' is cut short",)),
    Case("90 % of a .nii.gz", lambda i, g: truncated(g, i, "T1C", 0.9), says=("cut-t1c.nii.gz' is cut short",)),
    Case("99.9 % of a .nii.gz", lambda i, g: truncated(g, i, "T1C", 0.999), says=("cut-t1c.nii.gz' is cut short",)),
    Case("half of a .nii", lambda i, g: truncated(g, i, "T1C", 0.5, ".nii"), says=("cut-t1c.nii' is cut short",)),
    Case("99.9 % of a .nii", lambda i, g: truncated(g, i, "T1C", 0.999, ".nii"), says=("cut-t1c.nii' is cut short",)),
    Case("a flipped byte in a .nii.gz", _flipped_byte, says=("flipped-t1c.nii.gz'",)),
    Case("half of a .nrrd", lambda i, g: truncated(g, i, "T1C", 0.5, ".nrrd"), says=("Cannot read", "cut-t1c.nrrd")),
    Case("half of a .mha", lambda i, g: truncated(g, i, "T1C", 0.5, ".mha"), says=("Cannot read", "cut-t1c.mha")),
    Case("NaN voxels in a .nii.gz", lambda i, g: with_voxels(g, i, "T1C", np.nan),
         says=("bad-t1c.nii.gz' has 1000 NaN or infinite voxels",)),
    Case("Inf voxels in a .nii.gz", lambda i, g: with_voxels(g, i, "T1C", np.inf),
         says=("bad-t1c.nii.gz' has 1000 NaN or infinite voxels",)),
    Case("NaN voxels in a .nii", lambda i, g: with_voxels(g, i, "T1C", np.nan, ".nii"),
         says=("bad-t1c.nii' has 1000 NaN",)),
    Case("NaN voxels in a .nrrd", lambda i, g: with_voxels(g, i, "T1C", np.nan, ".nrrd"), says=("bad-t1c.nrrd' has",)),
    Case("2-D image", lambda i, g: [write(sitk.ReadImage(g["T1C"])[:, :, 30], i / "slice-t1c.nrrd")],
         says=("slice-t1c.nrrd' is a 2-D image",)),
    Case("4-D image", _four_d, says=("dynamic-t1c.nii.gz' is a 4-D image",)),
    Case("all zeros", _image("zeros-t1c.nii.gz", np.zeros_like), says=("zeros-t1c.nii.gz' is empty",)),
    Case("constant", _image("flat-t1c.nii.gz", lambda a: np.full_like(a, 7.0)), says=("flat-t1c.nii.gz' is constant",)),
    Case("colour image", _rgb, says=("colour-t1c.nrrd' has 3 values per voxel",)),
    # --- volumes the model cannot judge (plausibility)
    Case("label map given as T1C", _seg_as_t1c, says=("volume-t1c.nii.gz')", "like a label map")),
    Case("20 mm cube of noise as FLAIR", lambda i, g: ["--modality", "FLAIR=" + write(
        noise_volume((20, 20, 20), (1.0, 1.0, 1.0)), i / "cube.nii.gz")], says=("cube.nii.gz') covers only 20",)),
    Case("head-sized noise as FLAIR", lambda i, g: ["--modality", "FLAIR=" + write(
        noise_volume((64, 76, 60), (2.5, 2.5, 2.5)), i / "noise.nii.gz")], says=("noise.nii.gz') does not look like",)),
    Case("T1 given as CT", lambda i, g: as_modality(g, i, "T1", "CT"), says=("CT ('", "Hounsfield")),
    Case("CT given as T1", lambda i, g: as_modality(g, i, "CT", "T1"), says=("T1 ('", "like a CT in Hounsfield")),
    Case("T1C with 50 mm spacing", lambda i, g: with_spacing(g, i, "T1C", (3.0, 3.0, 50.0)),
         says=("odd-t1c.nii.gz') has a voxel spacing of 3 x 3 x 50 mm",)),
    Case("0.05 mm spacing", lambda i, g: with_spacing(g, i, "T1C", (0.05, 0.05, 0.05)), says=("voxel spacing",)),
    Case("negated intensities", _image("negated-t1c.nii.gz", lambda a: -a),
         says=("negated-t1c.nii.gz') is negative throughout the brain",)),
    Case("PET without brain contrast", _pet_without_contrast, says=("flat-pet.nii.gz') is not brighter",)),
    # --- names
    Case("ambiguous name t1_t1c", lambda i, g: [write(sitk.ReadImage(g["T1C"]), i / "t1_t1c.nii.gz")],
         says=("t1_t1c.nii.gz' names more than one modality", "--modality MODALITY=FILE")),
    Case("name without modality", lambda i, g: [write(sitk.ReadImage(g["T1C"]), i / "scan.nii.gz")],
         says=("Cannot tell the modality of", "--modality MODALITY=FILE")),
    Case("diffusion series", lambda i, g: [write(sitk.ReadImage(g["T2"]), i / "case-dwi.nii.gz")],
         says=("case-dwi.nii.gz' looks like a diffusion-weighted",)),
    Case("two files named T1C", lambda i, g: [*copy(g, i, "T1C"), write(sitk.ReadImage(g["T1C"]), i / "b-t1ce.nii.gz")],
         says=("Two files were assigned T1C",)),
    Case("T1C by name and by --modality", lambda i, g: [*copy(g, i, "T1C"), "--modality", f"T1C={g['T1C']}"],
         says=("T1C was given twice",)),
    Case("unknown modality DWI=", lambda i, g: ["--modality", f"DWI={g['T2']}"], says=("Unknown modality 'DWI'",)),
    Case("--modality without =", lambda i, g: ["--modality", "T1C"], says=("'--modality T1C' is not of the form",)),
    Case("--modality without a file", lambda i, g: ["--modality", "T1C="], says=("'--modality T1C=' names no file",)),
    Case("no volume at all", lambda i, g: [], says=("No volume was given",)),
    # --- geometry
    Case("volumes that do not overlap", _shifted_flair, says=("far-t2f.nii.gz') is not co-registered",)),
    Case("reference not among the inputs", lambda i, g: [*copy(g, i, "T1C"), "--reference", "PET"],
         says=("reference modality PET is not among",)),
    # --- options, model and output folder
    Case("bad device", lambda i, g: [*copy(g, i, "T1C"), "--device", "gpu"], says=("Unknown device 'gpu'",)),
    Case("unknown class", lambda i, g: [*copy(g, i, "T1C"), "--class", "astrocytoma"],
         says=("Unknown class 'astrocytoma'",)),
    Case("unknown saliency method", lambda i, g: [*copy(g, i, "T1C"), "--saliency", "lime"], says=("--saliency",)),
    Case("missing model", lambda i, g: [*copy(g, i, "T1C"), "--model", str(i / "none" / "m.pt")],
         says=("m.json' not found",)),
    Case("unknown registry name", lambda i, g: [*copy(g, i, "T1C"), "--model", "no-such-model"],
         says=("Unknown model 'no-such-model'",)),
    Case("--pet-dose negative", lambda i, g: [*copy(g, i, "PET"), "--pet-dose", "-5"],
         says=("--pet-dose -5 is not a positive number",)),
    Case("--out is a file", lambda i, g: (i / "file").write_text("x") and [*copy(g, i, "T1C"), "--out", str(i / "file")],
         says=("file' is a file, not a folder",)),
    Case("--out below a file", lambda i, g: (i / "f").write_text("x") and [*copy(g, i, "T1C"), "--out", str(i / "f/o")],
         says=("f' is a file; choose another folder",)),
    Case("--out holds other files", lambda i, g: (i / "mine").mkdir() or (i / "mine" / "notes.txt").write_text("x")
         and [*copy(g, i, "T1C"), "--out", str(i / "mine")], says=("mine' already holds files",)),
    Case("--out is the current folder", lambda i, g: [*copy(g, i, "T1C"), "--out", "."],
         says=("'--out .' is the current folder",)),
    Case("--out in a place that cannot be written", lambda i, g: [*copy(g, i, "T1C"), "--out", "/proc/braintumorai/out"],
         says=("--out /proc/braintumorai/out' cannot be",)),
    # --- the other commands
    Case("sample --spacing nan", lambda i, g: ["--spacing", "nan"], command="sample", says=("--spacing nan",)),
    Case("sample --seed -1", lambda i, g: ["--seed", "-1"], command="sample", says=("--seed -1 is negative",)),
    Case("sample --visits 9", lambda i, g: ["--visits", "9"], command="sample", says=("--visits 9 is out of range",)),
    Case("sample unknown type", lambda i, g: ["--type", "astrocytoma"], command="sample",
         says=("Unknown tumour type 'astrocytoma'",)),
    Case("cohort --patients 0", lambda i, g: ["--patients", "0"], command="cohort", says=("--patients",)),
    Case("demo --spacing 0", lambda i, g: ["--spacing", "0"], command="demo", says=("--spacing 0 is out of range",)),
    Case("inspect: 50 mm spacing", lambda i, g: with_spacing(g, i, "T1C", (3.0, 3.0, 50.0)), command="inspect",
         says=("REFUSED: T1C", "spacing of 3 x 3 x 50 mm")),
    # --- accepted, with the doubt said in the result
    Case("T1 and T2 swapped", _swap_t1_t2, expect=0, warns="like a T2"),
    Case("z-scored MRI", _zscored_t1c, expect=0, warns="negative intensities"),
    Case("CT with a zero background", _ct_zero_background, expect=0, warns="neither air"),
]
MODEL_CASES = [
    Case("tampered weights", lambda i, g: ["has sha256"], says=("tiny.pt' has sha256",)),
    Case("random-bytes weights with a matching card", lambda i, g: ["random bytes"],
         says=("tiny.pt' does not load as a plain state dict",)),
    Case("card that is not JSON", lambda i, g: ["bad card"], says=("tiny.json' is not valid JSON",)),
]
SENTENCE_BREAK = re.compile(r"\.\s+[A-Z]")


def test_the_catalogue_is_large_enough():
    assert len(CASES) + len(MODEL_CASES) >= 40


def _run(case: Case, args: list, tmp_path: Path, good: dict, checkpoint: str, earlier_result: Path, capsys):
    out = tmp_path / "out"
    if case.command != "inspect" and "--out" not in args:
        if case.command == "classify":
            shutil.copytree(earlier_result, out)
        args = [*args, "--out", str(out)]
    if case.command == "classify":
        args = [*args] + ([] if "--model" in args else ["--model", checkpoint])
        args += [] if "--device" in args else ["--device", "cpu"]
    watched = [tmp_path / "in", Path(good["T1C"]).parent]
    inputs_before = [tree_digest(folder) for folder in watched]
    out_before = tree_digest(out)
    capsys.readouterr()
    try:
        code = main([case.command, *args])
    except SystemExit as stop:  # argparse
        code = stop.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert code == case.expect, captured.err or captured.out
    assert [tree_digest(folder) for folder in watched] == inputs_before, "an input file was changed"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"temporary files left beside --out: {leftovers}"
    if code:
        message = captured.err.strip() or next(
            (line for line in captured.out.splitlines() if line.startswith("REFUSED")), "")
        message = message.split(": ", 1)[1] if case.command != "inspect" else message
        assert message.count("\n") == 0 and message.endswith(".") and not SENTENCE_BREAK.search(message), message
        for fragment in case.says:
            assert fragment in message, message
        assert tree_digest(out) == out_before, "--out changed after a failed run"
    else:
        result = json.loads((out / "result.json").read_text())
        listed = {Path(p).name for p in result["saliency"].values()}
        assert {p.name for p in out.iterdir()} == {"result.json", MARKER} | listed
        assert all((out / p).is_file() for p in result["saliency"].values())
        assert any(case.warns in w for w in result["warnings"]), result["warnings"]
    return captured


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, good, checkpoint, earlier_result, capsys):
    (tmp_path / "in").mkdir()
    args = case.build(tmp_path / "in", good)
    _run(case, args, tmp_path, good, checkpoint, earlier_result, capsys)


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c.id for c in MODEL_CASES])
def test_bad_model(case, tmp_path, good, checkpoint, earlier_result, capsys):
    (tmp_path / "in").mkdir()
    how = {"tampered weights": "tampered", "random-bytes weights with a matching card": "random bytes"}.get(case.id, "card")
    args = [good["T1C"], *tampered_model(tmp_path / "in", checkpoint, how)]
    _run(case, args, tmp_path, good, checkpoint, earlier_result, capsys)
