"""The catalogue of issue 15, sections 1, 4 and 5: output folders, batch and prognosis semantics,
and the process around the work (signals, full streams, memory limits, mistyped paths and flags).

Every row runs the real command line in a child process and asserts: no traceback; the exit code;
for a refusal, one sentence on stderr naming the real cause and ``--out`` exactly as it was; the
input files byte-identical (hashed); nothing written or removed outside ``--out``; for a row that
succeeds, what ``--out`` holds. Closing counts by kind are in ``test_the_catalogue_counts``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import SimpleITK as sitk

from bad_inputs import good_study, tiny_checkpoint, tree_digest, write
from bad_outputs_helpers import Row, Run, execute, listing

MARKER = ".braintumorai-output"
SENTENCE_BREAK = re.compile(r"\.\s+[A-Z]")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict:
    """A tiny six-modality model, a 3 mm glioblastoma phantom (six files) and an earlier
    classify result of its T1C."""
    base = tmp_path_factory.mktemp("fixtures")
    model = tiny_checkpoint(base, ("glioblastoma", "meningioma", "no_tumor"), 1.0, "tiny.pt")
    (base / "good").mkdir()
    return {"model": model, "good": good_study(base / "good"), "base": base}


def _classify(f: dict, *args) -> list:
    return ["classify", *args, "--model", f["model"], "--device", "cpu", "-q"]


def _copy(f: dict, folder: Path, *modalities: str) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    return [shutil.copy(f["good"][m], folder / Path(f["good"][m]).name) for m in modalities]


def _earlier_result(f: dict, out: Path, kind: str = "classify") -> Path:
    """What an earlier run of ``kind`` left (written by hand in the format the runs write)."""
    out.mkdir(parents=True)
    if kind == "classify":
        (out / "result.json").write_text(json.dumps({"predicted": "glioblastoma", "saliency": {}}))
        files = ["result.json"]
    else:
        (out / "cases").mkdir()
        (out / "results.csv").write_text("case\n")
        files = None
    marker = {"written_by": f"braintumorai {kind}", "kind": kind}
    if files is not None:
        marker["files"] = files
    (out / MARKER).write_text(json.dumps(marker))
    return out


def _cohort(f: dict, root: Path, rows: list[str], header: str = "case,modalities", name: str = "manifest.csv",
            cases=("A",)) -> Path:
    """A manifest cohort of T1C-only cases (``cases`` get their image folders)."""
    root.mkdir(parents=True, exist_ok=True)
    for case in cases:
        (root / case).mkdir(exist_ok=True)
        shutil.copy(f["good"]["T1C"], root / case / f"{case}-t1c.nii.gz")
    (root / name).write_text("\n".join([header, *rows]) + "\n")
    return root / name


def _complete_classify(run: Run, done) -> None:
    result = json.loads((run.out / "result.json").read_text())
    marker = json.loads((run.out / MARKER).read_text())
    assert marker["kind"] == "classify"
    assert {str(p.relative_to(run.out)) for p in run.out.rglob("*") if p.is_file()} == {MARKER, *marker["files"]}
    assert all((run.out / name).is_file() for name in result["saliency"].values())


def _batch_ran(cases: set, left_out: tuple = ()):
    def check(run: Run, done) -> None:
        ran = {p.name for p in (run.out / "cases").iterdir() if (p / "result.json").is_file()}
        assert ran == cases, ran
        for fragment in left_out:
            assert fragment in done.stdout, done.stdout
    return check


# --------------------------------------------------------------------------- §1 data loss
def _out_holds_inputs(t: Path, f: dict) -> Run:
    out = _earlier_result(f, t / "earlier")
    inputs = _copy(f, out, "T1C", "FLAIR")
    return Run(_classify(f, *inputs, "--out", out), watched=[out], out=out, says=("holds the input", "t1c.nii.gz"))


def _out_holds_user_file(t: Path, f: dict) -> Run:
    out = _earlier_result(f, t / "earlier")
    (out / "my notes.txt").write_text("mine")
    return Run(_classify(f, f["good"]["T1C"], "--out", out), out=out, says=("my notes.txt", "no BrainTumorAI run wrote"))


def _out_replaced(t: Path, f: dict) -> Run:
    out = _earlier_result(f, t / "earlier")
    return Run(_classify(f, f["good"]["T1C"], "--out", out), out=out, expect=(0,), check=_complete_classify)


def _batch_unsafe_ids(t: Path, f: dict) -> Run:
    manifest = _cohort(f, t / "cohort", ["A,T1C", "../../escape,T1C", f"{t}/abs,T1C"])
    (t / "escape").mkdir()
    shutil.copy(f["good"]["T1C"], t / "escape" / "escape-t1c.nii.gz")
    return Run(["batch", manifest, "--out", t / "out", "--model", f["model"], "--no-prognosis", "--device", "cpu",
                "-q"], watched=[t / "cohort", t / "escape"], out=t / "out", expect=(0,), outside=t,
               check=_batch_ran({"A"}, ("left out", "not a plain folder name")))


def _batch_keeps_user_files_of_a_failed_case(t: Path, f: dict) -> Run:
    manifest = _cohort(f, t / "cohort", ["A,T1C"])
    out = _earlier_result(f, t / "out", "batch")
    (out / "cases" / "A").mkdir()
    (out / "cases" / "A" / "error.json").write_text(json.dumps({"case": "A", "error": "x"}))
    (out / "cases" / "A" / "mine.txt").write_text("a user's file")

    def check(run, done):
        assert (out / "cases" / "A" / "mine.txt").read_text() == "a user's file"
    return Run(["batch", manifest, "--out", out, "--model", f["model"], "--no-prognosis", "--device", "cpu", "-q"],
               watched=[t / "cohort"], out=out, expect=(0,), check=check)


def _batch_onto_classify(t: Path, f: dict) -> Run:
    manifest = _cohort(f, t / "cohort", ["A,T1C"])
    out = _earlier_result(f, t / "out")
    return Run(["batch", manifest, "--out", out, "--model", f["model"], "--no-prognosis"], watched=[t / "cohort"],
               out=out, says=("holds a classify result", "batch"))


def _classify_onto_batch(t: Path, f: dict) -> Run:
    out = _earlier_result(f, t / "out", "batch")
    return Run(_classify(f, f["good"]["T1C"], "--out", out), out=out, says=("holds a batch result",))


def _prognose_onto_classify(t: Path, f: dict) -> Run:
    out = _earlier_result(f, t / "out")
    return Run(["prognose", "--visit", "0:", "--visit", "90:", "--out", out], out=out,
               says=("holds a classify result", "prognose"))


def _batch_out_is_a_file(t: Path, f: dict) -> Run:
    manifest = _cohort(f, t / "cohort", ["A,T1C"])
    (t / "results").write_text("a file")
    return Run(["batch", manifest, "--out", t / "results", "--no-prognosis"], watched=[t / "cohort"], out=t / "results",
               says=("results' is a file, not a folder",))


def _batch_out_not_writable(t: Path, f: dict) -> Run:
    manifest = _cohort(f, t / "cohort", ["A,T1C"])
    return Run(["batch", manifest, "--out", "/proc/braintumorai/out", "--no-prognosis"], watched=[t / "cohort"],
               says=("--out /proc/braintumorai/out' cannot be",))


def _stale_leftovers(t: Path, f: dict) -> Run:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = t / f".out.tmp-{dead.pid}-abc"
    stale.mkdir()
    (stale / ".braintumorai-staging").write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    (stale / "saliency_fused.nii.gz").write_text("half")
    alive = t / f".out.tmp-{os.getpid()}-def"
    alive.mkdir()
    (alive / ".braintumorai-staging").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    foreign = t / ".out.tmp-someone-else"
    foreign.mkdir()
    (foreign / "theirs.txt").write_text("not ours")
    (t / ".out.lock").write_text("")

    def check(run, done):
        _complete_classify(run, done)
        assert not stale.exists(), "a leftover of a dead run was kept"
        assert alive.exists() and (foreign / "theirs.txt").exists(), "a live run's or someone else's folder was removed"
    return Run(_classify(f, f["good"]["T1C"], "--out", t / "out"), out=t / "out", expect=(0,), check=check)


# --------------------------------------------------------------------------- §4 prognosis and batch
def _visits(*days) -> list:
    return [f"--visit={day}:" for day in days]


def _same_study_twice(t: Path, f: dict) -> Run:
    inputs = _copy(f, t / "in", "T1C")
    return Run(["prognose", "--visit", f"0:{inputs[0]}", "--visit", f"90:{inputs[0]}", "--out", t / "out",
                "--device", "cpu", "-q"], watched=[t / "in"], says=("the same image", "t1c.nii.gz"))


def _manifest_file_honoured(t: Path, f: dict) -> Run:
    _cohort(f, t / "cohort", ["A,T1C", "B,T1C"], cases=("A", "B"))
    mine = _cohort(f, t / "cohort", ["B,T1C"], name="MINE.csv", cases=("B",))
    return Run(["batch", mine, "--out", t / "out", "--model", f["model"], "--no-prognosis", "--device", "cpu", "-q"],
               watched=[t / "cohort"], out=t / "out", expect=(0,), check=_batch_ran({"B"}))


def _dropped_rows_reported(t: Path, f: dict) -> Run:
    manifest = _cohort(f, t / "cohort", ["A,T1C", "B,DWI", "C,", "A,T1C"], cases=("A", "B", "C"))
    return Run(["batch", manifest, "--out", t / "out", "--model", f["model"], "--no-prognosis", "--device", "cpu",
                "-q"], watched=[t / "cohort"], out=t / "out", expect=(0,),
               check=_batch_ran({"A"}, ("unknown modality 'DWI'", "no modality is listed", "listed a second time")))


def _misnamed_column(t: Path, f: dict) -> Run:
    _cohort(f, t / "cohort", ["A,T1C"], header="case_id,modalities")
    return Run(["batch", t / "cohort", "--out", t / "out", "--no-prognosis"], watched=[t / "cohort"], out=t / "out",
               says=("lacks the column case", "found 'case_id'"))


def _tab_separated(t: Path, f: dict) -> Run:
    manifest = _cohort(f, t / "cohort", ["A\tT1C"], header="case\tmodalities")
    return Run(["batch", manifest, "--out", t / "out", "--model", f["model"], "--no-prognosis", "--device", "cpu",
                "-q"], watched=[t / "cohort"], out=t / "out", expect=(0,), check=_batch_ran({"A"}))


def _comma_in_a_visit_path(t: Path, f: dict) -> Run:
    (t / "in").mkdir()
    path = shutil.copy(f["good"]["T1C"], t / "in" / "scan,1-t1c.nii.gz")
    return Run(["prognose", "--visit", f"0:{path}", "--visit", "90:", "--out", t / "out"], watched=[t / "in"],
               out=t / "out", says=("comma inside a path is written twice", "scan,,1-t1c.nii.gz"))


def _cohort_root_as_visit(t: Path, f: dict) -> Run:
    _cohort(f, t / "cohort", ["A,T1C", "B,T1C"], cases=("A", "B"))
    return Run(["prognose", "--visit", f"0:{t / 'cohort'}", "--out", t / "out"], watched=[t / "cohort"],
               out=t / "out", says=("is a cohort folder", "braintumorai batch"))


def _warned(fragment: str):
    def check(run, done):
        data = json.loads(done.stdout)
        assert any(fragment in w for w in data["warnings"]), data["warnings"]
        assert json.loads((run.out / "survival.json").read_text())["warnings"] == data["warnings"]
    return check


# --------------------------------------------------------------------------- §5 the process
def _after_swap_in(t: Path, f: dict) -> Run:
    def check(run, done):
        assert done.returncode in (0, 130)
        _complete_classify(run, done)
        if done.returncode == 130:
            assert "already complete" in done.stderr, done.stderr
    return Run(_classify(f, f["good"]["T1C"], "--out", t / "out"), out=t / "out", expect=(0, 130),
               signal_when=t / "out" / MARKER,
               check=check)


def _memory_limit(limit_mb: int, says: tuple):
    def build(t: Path, f: dict) -> Run:
        return Run(_classify(f, f["good"]["T1C"], "--out", t / "out"), out=t / "out", expect=(3,),
                   address_space=limit_mb * 1024 ** 2, says=says)
    return build


def _typo_in_folder(command: str):
    def build(t: Path, f: dict) -> Run:
        _copy(f, t / "case01", "T1C")
        args = [command, str(t / "case1")] + ([] if command == "inspect" else ["--out", str(t / "out")])
        return Run(args, watched=[t / "case01"], out=t / "out", says=("case1' does not exist", "did you mean", "case01"))
    return build


CASES = [
    Row("classify --out onto an earlier result that holds the inputs", "refused", _out_holds_inputs),
    Row("classify --out onto an earlier result holding a user's file", "refused", _out_holds_user_file),
    Row("classify --out onto an earlier classify result is replaced whole", "handled", _out_replaced),
    Row("batch case ids '../..' and absolute are left out, said, nothing written outside", "warned", _batch_unsafe_ids),
    Row("batch keeps a user's file in a failed case's folder", "handled", _batch_keeps_user_files_of_a_failed_case),
    Row("batch --out onto a classify result", "refused", _batch_onto_classify),
    Row("classify --out onto a batch result", "refused", _classify_onto_batch),
    Row("prognose --out onto a classify result", "refused", _prognose_onto_classify),
    Row("batch --out is a file", "refused", _batch_out_is_a_file),
    Row("batch --out cannot be written", "refused", _batch_out_not_writable),
    Row("stale staging folder of a killed run removed, others kept", "handled", _stale_leftovers),
    Row("prognose latest visit on day 2000", "refused",
        lambda t, f: Run(["prognose", *_visits(0, 2000), "--out", t / "out"], out=t / "out",
                         says=("day 2000", "past the end of the model's time grid"))),
    Row("prognose latest visit on day 1e9", "refused",
        lambda t, f: Run(["prognose", *_visits(0, "1e9"), "--out", t / "out"], out=t / "out",
                         says=("past the end of the model's time grid",))),
    Row("prognose visits 1e9 days after the first", "refused",
        lambda t, f: Run(["prognose", *_visits("1e9", "2e9"), "--out", t / "out"], out=t / "out",
                         says=("day 1e+09 after the first", "time grid"))),
    Row("prognose 199 visits without images", "refused",
        lambda t, f: Run(["prognose", *_visits(*range(0, 995, 5)), "--out", t / "out"], out=t / "out",
                         says=("199 visits were given (199 without images)", "more than the 8"))),
    Row("prognose the same study as two visits", "refused", _same_study_twice),
    Row("prognose with little of the grid left after the latest visit", "warned",
        lambda t, f: Run(["prognose", *_visits(0, 1700), "--out", t / "out", "--json", "-q"], out=t / "out",
                         expect=(0,), check=_warned("leaves only 126 days"))),
    Row("batch MANIFEST.csv: the file given is the one read", "handled", _manifest_file_honoured),
    Row("batch rows with unknown or no modality and duplicates are reported", "warned", _dropped_rows_reported),
    Row("batch manifest with a misnamed column", "refused", _misnamed_column),
    Row("batch manifest separated by tabs", "handled", _tab_separated),
    Row("prognose --visit -30:DIR", "refused",
        lambda t, f: Run(["prognose", "--visit", f"-30:{t}", "--out", t / "out"], out=t / "out",
                         says=("--visit=-30:", "with '='"))),
    Row("prognose a visit path with a comma", "refused", _comma_in_a_visit_path),
    Row("prognose a cohort root given as one visit", "refused", _cohort_root_as_visit),
    Row("SIGINT while the command line loads", "refused",
        lambda t, f: Run(_classify(f, f["good"]["T1C"], "--out", t / "out"), out=t / "out", expect=(130,),
                         signal_on_library="_multiarray_umath", says=("stopped by Ctrl-C (SIGINT)",))),
    Row("SIGINT just after the swap-in", "handled", _after_swap_in),
    Row("stdout on a full disk", "refused",
        lambda t, f: Run(_classify(f, f["good"]["T1C"], "--out", t / "out"), out=t / "out", expect=(3,),
                         stdout_full=True,
                         says=("could not write to standard output (No space left on device)",),
                         check=_complete_classify)),
    Row("stderr on a full disk, bad input", "refused",
        lambda t, f: Run(_classify(f, str(t / "missing-t1c.nii.gz"), "--out", t / "out"), out=t / "out",
                         stderr_full=True)),
    Row("ulimit -v 300 MB", "refused", _memory_limit(300, ("ulimit -v",))),
    Row("ulimit -v 1 GB", "refused", _memory_limit(1024, ("memory limit (ulimit -v) of 1024 MB",))),
    Row("ulimit -v 1.5 GB", "refused", _memory_limit(1536, ("memory limit (ulimit -v) of 1536 MB",))),
    Row("classify: a typo in a folder path", "refused", _typo_in_folder("classify")),
    Row("inspect: a typo in a folder path", "refused", _typo_in_folder("inspect")),
    Row("prognose: a missing visit folder", "refused",
        lambda t, f: Run(["prognose", "--visit", f"0:{t / 'visit0'}", "--out", t / "out"], out=t / "out",
                         says=("visit0' in --visit", "does not exist"))),
    Row("classify: a segmentation given as input", "refused",
        lambda t, f: Run(_classify(f, f["good"]["T1C"], write(sitk.ReadImage(f["good"]["T1C"]) > 500,
                                                               t / "case-seg.nii.gz"), "--out", t / "out"),
                         watched=[t / "case-seg.nii.gz"], out=t / "out", says=("segmentations are not inputs",))),
    Row("classify --ouput (mistyped flag)", "refused",
        lambda t, f: Run(["classify", f["good"]["T1C"], "--ouput", t / "out"], out=t / "out",
                         says=("unknown flag --ouput (did you mean --out?)", "braintumorai classify --help"))),
]


@pytest.mark.parametrize("row", CASES, ids=[row.id for row in CASES])
def test_output_and_process_catalogue(row, tmp_path, fixtures):
    run = row.build(tmp_path, fixtures)
    watched = [Path(p) for p in run.watched] + [Path(fixtures["good"]["T1C"]).parent]
    before = [tree_digest(p) for p in watched]
    out_before = tree_digest(run.out) if run.out is not None else None
    outside = listing(run.outside) if run.outside is not None else None
    done = execute(run, tmp_path)
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.returncode in run.expect, (done.returncode, done.stderr[-800:])
    assert [tree_digest(p) for p in watched] == before, "an input file was changed"
    if outside is not None:
        added = {p for p in listing(run.outside) - outside if not p.startswith("out")}
        assert not added and outside <= listing(run.outside), f"written or removed outside --out: {added}"
    if run.says or (done.returncode != 0 and not run.stderr_full and run.check is None):
        message = done.stderr.strip()
        assert message.count("\n") == 0, message
        assert message.endswith(".") and not SENTENCE_BREAK.search(message.split(": ", 1)[-1]), message
        for fragment in run.says:
            assert fragment in message, message
    if run.out is not None and done.returncode != 0 and run.check is None:
        assert tree_digest(run.out) == out_before, "--out changed after a refusal"
    if run.check is not None:
        run.check(run, done)


def test_the_catalogue_counts():
    """The closing table of issue 15 (sections 1, 4, 5): rows by kind."""
    kinds = {kind: sum(row.kind == kind for row in CASES) for kind in ("refused", "warned", "handled")}
    assert sum(kinds.values()) == len(CASES) >= 36
    assert kinds == {"refused": 27, "warned": 3, "handled": 6}, kinds
