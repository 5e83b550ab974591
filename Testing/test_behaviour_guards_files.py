"""Behaviours that planted bugs once broke without a failing test (issue 15, section 6): each
test here fails with its bug planted. Files as stored and as written, the batch table, the
command line's flags, exit codes and signals, prognosis inputs, the printed probabilities and
the study's out-of-distribution score."""

from __future__ import annotations

import csv
import gzip
import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.datasets.records import VisitRecord
from braintumorai.errors import InputError
from braintumorai.io import read_image, write_image_atomic


def _volume(dtype, value=None) -> sitk.Image:
    array = np.arange(8 * 9 * 10, dtype=np.float64).reshape(8, 9, 10).astype(dtype)
    if value is not None:
        array[4, 4, 4] = value
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0, 2.0))
    return image


def test_a_written_file_gets_the_usual_permissions_not_the_temporary_files(tmp_path):
    """Outputs are written to a private temporary file, then renamed: the result must have
    the permissions any new file gets (0666 less the umask), or colleagues cannot read it."""
    previous = os.umask(0o022)
    try:
        path = write_image_atomic(_volume(np.float32), tmp_path / "map.nii.gz")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_nan_in_a_double_precision_volume_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "t1c.nii.gz"
    sitk.WriteImage(_volume(np.float64, np.nan), str(path))
    with pytest.raises(InputError, match="1 NaN or infinite voxels"):
        read_image(path)


def test_a_gzip_file_of_several_members_is_read_whole(tmp_path):
    """pigz and concatenated gzip files store a .nii.gz as several members: all of them are
    the volume (a reader that stops after the first calls a good file cut short)."""
    whole = tmp_path / "whole.nii"
    sitk.WriteImage(_volume(np.float32), str(whole))
    data = whole.read_bytes()
    path = tmp_path / "members-t1c.nii.gz"
    path.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(path)),
                                  sitk.GetArrayFromImage(sitk.ReadImage(str(whole))))


def test_a_volume_of_64_bit_integers_beyond_any_scanner_is_refused(tmp_path):
    path = tmp_path / "t1c.nrrd"
    sitk.WriteImage(_volume(np.int64, 10 ** 18), str(path))
    with pytest.raises(InputError, match="far beyond what a scanner stores"):
        read_image(path)


def test_the_batch_table_says_day_0_for_a_first_visit(tmp_path):
    """results.csv: a first visit is on day 0, an undated one has an empty cell."""
    from braintumorai.batch import write_results_csv

    records = [VisitRecord(patient_id="P", case_id="P-000", visit_day=0, files={}),
               VisitRecord(patient_id="P", case_id="P-001", visit_day=None, files={})]
    table = write_results_csv(tmp_path, SimpleNamespace(records=records))
    with open(table, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["case"], row["visit_day"]) for row in rows] == [("P-000", "0"), ("P-001", "")]


def test_a_unique_prefix_of_a_flag_is_taken_as_argparse_takes_it(capsys):
    """`--quie` is short for one flag only (--quiet): accepted; `--mod` for two (--modality, --model): refused."""
    from braintumorai.cli import build_parser
    from braintumorai.cli.arguments_check import check_argv

    parser = build_parser()
    check_argv(parser, ["classify", "a-t1c.nii.gz", "--quie"])  # no SystemExit
    with pytest.raises(SystemExit) as stop:
        check_argv(parser, ["classify", "a-t1c.nii.gz", "--mod", "x"])
    assert stop.value.code == 2 and "short for more than one flag" in capsys.readouterr().err


def test_running_out_of_memory_is_exit_3_with_one_sentence(monkeypatch, capsys):
    """Exit 3 is 'the machine could not do it'; 2 would tell the user the input was wrong."""
    from braintumorai.cli import inspect_command, main

    def no_memory(args):
        raise MemoryError()

    monkeypatch.setattr(inspect_command, "run", no_memory)
    assert main(["inspect", "any-t1c.nii.gz"]) == 3
    error = capsys.readouterr().err
    assert "ran out of memory" in error and error.count("\n") == 1


def test_a_slight_shear_is_refused_as_a_strong_one_is(tmp_path):
    """A 5 % shear moves the far corner of a 240 mm field by 12 mm: the maps cannot follow it."""
    image = _volume(np.float32)
    image.SetDirection((1.0, 0.05, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    path = tmp_path / "t1c.nrrd"
    sitk.WriteImage(image, str(path))
    with pytest.raises(InputError, match="not at right angles"):
        read_image(path)


def test_probabilities_at_the_edge_of_the_printed_digits():
    """Exactly 0.999 is 0.999; only what would round to 1 (or to 0) is written as a bound."""
    from braintumorai.report.wording import probability_text

    assert [probability_text(p) for p in (0.999, 0.9995, 0.001, 0.0004, 0.5)] == [
        "0.999", "> 0.999", "0.001", "< 0.001", "0.500"]


def test_the_study_ood_score_is_its_most_unusual_modality(monkeypatch):
    """One unusual modality makes the study unusual: the largest distance, not the mean."""
    import braintumorai.ood as ood

    monkeypatch.setattr(ood, "study_distances", lambda *args: np.array([[0.5, 3.0, np.nan], [0.2, 0.4, 0.3]]))
    score = ood.ood_score({"per_modality": {"T1": {}}}, ["T1", "T2", "FLAIR"], np.zeros((2, 3, 4)))
    np.testing.assert_allclose(score, [3.0, 0.4])


def test_a_second_ctrl_c_during_the_clean_up_is_ignored():
    """The first Ctrl-C starts the clean-up; a second one must not break it off."""
    import signal
    import time

    from braintumorai.cli.interruption import signals_as_exceptions

    cleaned = False
    with pytest.raises(KeyboardInterrupt):
        with signals_as_exceptions() as received:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1.0)
            finally:
                os.kill(os.getpid(), signal.SIGINT)  # impatient user
                time.sleep(0.2)
                cleaned = True
    assert cleaned and received.numbers == [signal.SIGINT]


@pytest.mark.parametrize("arguments, code, said", [
    ([f"--visit={day}:" for day in range(0, 800, 100)], 0, None),  # the model's maximum: 8 visits
    (["--visit=0:", "--kps", "110"], 2, "KPS 110.0 is not a Karnofsky score between 0 and 100"),
])
def test_prognose_takes_as_many_visits_as_the_model_and_a_kps_up_to_100(arguments, code, said, tmp_path, capsys):
    from braintumorai.cli import main

    assert main(["prognose", *arguments, "--device", "cpu", "--out", str(tmp_path / "out"), "-q"]) == code
    if said:
        assert said in capsys.readouterr().err
