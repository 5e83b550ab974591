"""Outputs are written whole or not at all (issue 9, item 3-4): a full disk, a second run
into the same folder, a rerun with fewer modalities, Ctrl-C and SIGTERM while the maps
are written or a cohort is generated, and an output folder checked before the compute."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import SimpleITK as sitk
import torch

from braintumorai.checkpoints import save_checkpoint
from braintumorai.cli import main
from braintumorai.errors import InputError
from braintumorai.models import ModalityAttentionNet
from braintumorai.output_folder import MARKER, output_folder
from braintumorai.results import write_json_atomic

from bad_inputs import TOKENS, tree_digest, write
from conftest import ROOT

MODULE_DIR = str(ROOT / "BrainTumorAI")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = ModalityAttentionNet(("a", "b", "c"), ("T1", "T1C", "T2", "FLAIR"),
                                 encoder_kwargs={"channels": (4, 8), "strides": (2, 2), "blocks": (0,)},
                                 embed_dim=8, attention_hidden=4)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(model, path, {"spacing_mm": [6.0, 6.0, 6.0], "grid_size": [24, 28, 24]})
    return str(path.with_suffix(".json"))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    from braintumorai.synthetic import generate_case

    folder = tmp_path_factory.mktemp("study")
    case = generate_case("metastasis", seed=8, modalities=("T1", "T1C", "T2", "FLAIR"), spacing=3.0)
    return {m: write(image, folder / f"case-{TOKENS[m]}.nii.gz") for m, image in case.images.items()}


def _complete(out: Path) -> dict:
    """Assert ``out`` holds one complete result and nothing else; return result.json."""
    result = json.loads((out / "result.json").read_text())
    names = {Path(p).name for p in result["saliency"].values()}
    assert {p.name for p in out.iterdir()} == {"result.json", MARKER} | names
    for path in result["saliency"].values():  # relative to result.json
        assert Path(path).name == path and sitk.ReadImage(str(out / path)).GetDimension() == 3
    return result


def _child(code: str, *arguments: str, **kwargs) -> subprocess.Popen:
    """``braintumorai`` in a fresh process, after ``code`` (a patch) has run; ``main()`` reads
    ``sys.argv`` as the installed ``braintumorai`` script does."""
    script = f"import sys\nsys.path.insert(0, {MODULE_DIR!r})\n{code}\nfrom braintumorai.cli import main\n" \
             "sys.exit(main())\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", script, *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


# --------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (Linux, root); skipped where the machine does not allow mounting one."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the disk-full test mounts a small tmpfs, which needs root on Linux")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path, leave_bytes: int) -> None:
    """Fill ``disk`` with a filler file so that about ``leave_bytes`` stay free."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as stream:
        stream.write(b"\0" * max(0, free - leave_bytes))


def test_a_full_disk_leaves_the_earlier_result_or_a_complete_one(small_disk, study, checkpoint, capsys):
    out = small_disk / "out"
    files = [study["T1C"], study["FLAIR"], study["T2"]]
    assert main(["classify", *files, "--out", str(out), "--model", checkpoint, "--device", "cpu"]) == 0
    earlier = tree_digest(out)
    failures = []
    for leave_kb in (0, 8, 24, 48, 96, 160, 240, 400, 1200):
        _fill(small_disk, leave_kb * 1024)
        capsys.readouterr()
        code = main(["classify", study["T1C"], "--out", str(out), "--model", checkpoint, "--device", "cpu"])
        err = capsys.readouterr().err.strip()
        if code == 0:
            assert set(_complete(out)["saliency"]) == {"fused", "T1C"}
            break
        failures.append(leave_kb)
        assert code == 2 and err.count("\n") == 0 and "space" in err and "Traceback" not in err, err
        assert tree_digest(out) == earlier, f"a failed run with {leave_kb} kB free changed --out"
        assert [p.name for p in small_disk.iterdir() if p.name.startswith(".")] == []
    else:
        pytest.fail("no run succeeded even with 1.2 MB free")
    assert failures, "the disk never ran full: the test did not test anything"


def test_json_is_never_half_written_over_an_earlier_file(small_disk):
    """An in-place write would truncate the earlier result.json, then fail on the full disk."""
    path = small_disk / "result.json"
    write_json_atomic({"earlier": True}, path)
    _fill(small_disk, 0)
    with pytest.raises(InputError, match="has space"):
        write_json_atomic({"values": list(range(20000))}, path)
    assert json.loads(path.read_text()) == {"earlier": True}


def test_a_map_cut_short_by_a_full_disk_never_replaces_the_earlier_file(small_disk):
    """ITK reports a full disk on the console and raises nothing: only the check of the
    written file keeps a cut-short map from being renamed over the earlier one."""
    import numpy as np

    from braintumorai.io import write_image_atomic

    path = small_disk / "saliency_fused.nii.gz"
    write_image_atomic(sitk.GetImageFromArray(np.ones((8, 8, 8), np.float32)), path)
    earlier = path.read_bytes()
    noise = sitk.GetImageFromArray(np.random.default_rng(0).random((40, 60, 60)).astype(np.float32))  # ~0.5 MB
    _fill(small_disk, 64 * 1024)
    with pytest.raises(InputError, match="saliency_fused.nii.gz"):
        write_image_atomic(noise, path)
    assert path.read_bytes() == earlier
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "saliency_fused.nii.gz"]  # no temporary


def test_result_json_reaches_its_name_by_one_rename_of_a_complete_file(tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace

    def replace(source, target):
        if Path(target).name == "result.json":
            renames.append(json.loads(Path(source).read_text()))
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    write_json_atomic({"predicted": "a", "probabilities": {"a": 1.0}}, tmp_path / "result.json")
    assert renames == [{"predicted": "a", "probabilities": {"a": 1.0}}]


# --------------------------------------------------------------------------- two runs, one folder


HOLD_PREDICT = """
import pathlib, time
from braintumorai.pipeline import Classifier
GATE = pathlib.Path(sys.argv.pop())
real_predict = Classifier.predict
def held(self, *args, **kwargs):
    GATE.with_suffix('.started').touch()
    while not GATE.with_suffix('.release').exists():
        time.sleep(0.05)
    return real_predict(self, *args, **kwargs)
Classifier.predict = held
"""


def test_a_second_run_into_a_folder_in_use_is_refused_and_a_rerun_leaves_no_stale_maps(tmp_path, study, checkpoint):
    out, gate = tmp_path / "out", tmp_path / "gate"
    common = ["--out", str(out), "--model", checkpoint, "--device", "cpu"]
    first = _child(HOLD_PREDICT, "classify", *study.values(), *common, str(gate))
    deadline = time.time() + 120
    while not gate.with_suffix(".started").exists():
        if first.poll() is not None or time.time() > deadline:
            first.kill()
            pytest.fail(f"the first run did not reach the compute: {first.communicate()}")
        time.sleep(0.05)
    try:
        second = subprocess.run([sys.executable, "-m", "braintumorai.cli", "classify", study["T1C"], *common],
                                capture_output=True, text=True, cwd=MODULE_DIR)
        assert second.returncode == 2 and "is in use by another BrainTumorAI run" in second.stderr
        assert second.stderr.strip().count("\n") == 0
    finally:
        gate.with_suffix(".release").touch()  # the first run ends whatever happened above
    assert first.wait(120) == 0, first.communicate()
    assert set(_complete(out)["saliency"]) == {"fused", "T1", "T1C", "T2", "FLAIR"}
    # A rerun with one modality replaces the folder whole: no map of the first run stays.
    assert main(["classify", study["T1C"], *common]) == 0
    assert set(_complete(out)["saliency"]) == {"fused", "T1C"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_output_folder_is_checked_before_the_compute(tmp_path, study, checkpoint, monkeypatch):
    from braintumorai.pipeline import Classifier

    loaded = []
    monkeypatch.setattr(Classifier, "load", classmethod(lambda cls, *a, **k: loaded.append(a) or 1 / 0))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["classify", study["T1C"], "--out", str(blocker / "out"), "--model", checkpoint]) == 2
    assert loaded == []
    with pytest.raises(InputError, match="is in use"):
        with output_folder(tmp_path / "busy"):
            with output_folder(tmp_path / "busy"):
                pass


# --------------------------------------------------------------------------- Ctrl-C and SIGTERM


SIGNAL_AFTER_FIRST_MAP = """
import os, signal
import braintumorai.io as io
import braintumorai.results as results
real_write = io.write_image_atomic
sent = []
def write_then_signal(image, path, compress=True):
    written = real_write(image, path, compress)
    if not sent:  # once, after the first map is on disk (the others are being written)
        sent.append(os.kill(os.getpid(), signal.{name}))
    return written
results.write_image_atomic = write_then_signal
"""


@pytest.mark.parametrize("name,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_while_the_maps_are_written_leaves_the_earlier_result(name, code, tmp_path, study, checkpoint):
    out = tmp_path / "out"
    common = ["--out", str(out), "--model", checkpoint, "--device", "cpu"]
    assert main(["classify", study["T1C"], *common]) == 0
    earlier = tree_digest(out)
    child = _child(SIGNAL_AFTER_FIRST_MAP.replace("{name}", name), "classify", *study.values(), *common)
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == code, stderr
    assert "Traceback" not in stderr and stderr.strip().count("\n") == 0
    assert "stopped by" in stderr and ("SIGTERM" if name == "SIGTERM" else "Ctrl-C") in stderr
    assert tree_digest(out) == earlier
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


SIGNAL_ON_IMPORT = """
import os, signal
def hook(event, args):
    if event == "import" and args[0] == {module!r} and not sent:
        sent.append(os.kill(os.getpid(), signal.{name}))
sent = []
sys.addaudithook(hook)
"""


@pytest.mark.parametrize("module,name", [("datetime", "SIGINT"), ("numpy", "SIGINT"), ("SimpleITK", "SIGINT"),
                                         ("torch", "SIGINT"), ("datetime", "SIGTERM")])
def test_a_signal_while_a_library_loads_is_reported_as_the_stop(module, name, tmp_path, study, checkpoint):
    """numpy, interrupted while its C extension loads (it imports datetime then), raises
    ImportError, not KeyboardInterrupt: still the user's Ctrl-C or SIGTERM, never 'reinstall'."""
    out = tmp_path / "out"
    patch = SIGNAL_ON_IMPORT.replace("{module!r}", repr(module)).replace("{name}", name)
    child = _child(patch, "classify", study["T1C"], "--out", str(out), "--model", checkpoint, "--device", "cpu")
    _, stderr = child.communicate(timeout=300)
    assert child.returncode == (143 if name == "SIGTERM" else 130), stderr
    said = "stopped by SIGTERM" if name == "SIGTERM" else "stopped by Ctrl-C (SIGINT)"
    assert stderr.strip().count("\n") == 0 and said in stderr, stderr
    assert "reinstall" not in stderr and not out.exists()


SIGNAL_AFTER_SECOND_PATIENT = """
import os, signal
import braintumorai.synthetic.export as export
real_write = export.write_synthetic_patient
calls = []
def write_then_signal(*args, **kwargs):
    records = real_write(*args, **kwargs)
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGINT)
    return records
export.write_synthetic_patient = write_then_signal
"""


def test_an_interrupted_cohort_is_consistent_and_resumes(tmp_path):
    arguments = ["--patients", "4", "--seed", "2", "--visits", "2", "--modalities", "T1C", "--spacing", "6"]
    child = _child(SIGNAL_AFTER_SECOND_PATIENT, "cohort", "--out", str(tmp_path / "cohort"), *arguments)
    _, stderr = child.communicate(timeout=300)
    assert child.returncode == 130 and "rerun the same command to finish the cohort" in stderr
    assert "Traceback" not in stderr and stderr.strip().count("\n") == 0
    from braintumorai.datasets import load_dataset

    partial = load_dataset(tmp_path / "cohort", require_all=False)
    # The manifest lists the patients finished before the signal; the one being written is not
    # listed (the loader says so and leaves it out) and is written again on resume.
    assert len({r.patient_id for r in partial.records}) in (1, 2)
    assert all("not listed in manifest.csv" in why for _, why in partial.skipped)
    assert main(["cohort", "--out", str(tmp_path / "cohort"), *arguments]) == 0
    assert main(["cohort", "--out", str(tmp_path / "whole"), *arguments]) == 0
    resumed = (tmp_path / "cohort" / "manifest.csv").read_text()
    assert resumed == (tmp_path / "whole" / "manifest.csv").read_text() and resumed.count("\n") == 9
    # Same settings, same bytes: the resumed cohort is the uninterrupted one.
    assert tree_digest(tmp_path / "cohort") == tree_digest(tmp_path / "whole")
    # Other settings into the same folder would mix two cohorts: refused.
    assert main(["cohort", "--out", str(tmp_path / "cohort"), *arguments[:-1], "5"]) == 2


def test_signal_handlers_are_restored_after_main(tmp_path):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert main(["sample", "--out", str(tmp_path), "--seed", "-1"]) == 2
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
