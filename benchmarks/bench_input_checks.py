"""What the input and output checks of issue 9 cost (a script, not a timed test).

    python benchmarks/bench_input_checks.py [--repeats 5]

One process, one BraTS-sized study (240x240x155, 1 mm, T1/T1C/T2/FLAIR .nii.gz, from a
phantom), the bundled model loaded once. Each repeat runs the whole classify of the CLI
(read the files, predict with Grad-CAM, write result.json and the five maps) twice, with
the checks and without them, in alternating order, and prints the median of each stage:

- reading: the NIfTI stored-data check (gzip stream inflated, voxel data complete, finite;
  the voxels then taken from those bytes, ``braintumorai.file_integrity``) instead of
  ITK's unchecked read;
- plausibility: geometry and content checks (``braintumorai.plausibility``);
- writing: every map's stored length checked before its rename, result.json read back,
  the output folder staged, locked and swapped in (``braintumorai.output_folder``).

"Without" replaces exactly those with no-ops (and writes straight into the folder).
Target (issue 9): the checks add at most 0.15 s to the whole classify. On a shared machine
the wall-clock total swings by a second between runs; the stage rows and the process CPU
time (all threads) are the steadier measure, and the load average is printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "BrainTumorAI"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def checks_off():
    """The checks replaced by no-ops, for the baseline."""
    from braintumorai import io, plausibility

    saved = (io.read_checked_nifti, io.verify_written_image, plausibility.geometry_findings,
             plausibility.content_findings)
    io.read_checked_nifti = lambda *args, **kwargs: None  # ITK reads the file unchecked
    io.verify_written_image = lambda *args, **kwargs: None
    plausibility.geometry_findings = lambda *args, **kwargs: []
    plausibility.content_findings = lambda *args, **kwargs: []
    try:
        yield
    finally:
        (io.read_checked_nifti, io.verify_written_image, plausibility.geometry_findings,
         plausibility.content_findings) = saved


@contextlib.contextmanager
def timed_plausibility(times: dict):
    """Add the seconds spent in the plausibility checks to ``times["plausibility"]``."""
    from braintumorai import plausibility

    saved = plausibility.geometry_findings, plausibility.content_findings

    def timed(function):
        def run(*args, **kwargs):
            tick = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                times["plausibility"] = times.get("plausibility", 0.0) + time.perf_counter() - tick
        return run

    plausibility.geometry_findings, plausibility.content_findings = (timed(f) for f in saved)
    try:
        yield
    finally:
        plausibility.geometry_findings, plausibility.content_findings = saved


def classify_once(classifier, files: dict, out: str, checks: bool) -> dict:
    """The CLI's classify in-process; returns stage seconds."""
    from braintumorai.output_folder import output_folder
    from braintumorai.study import Study

    times = {"plausibility": 0.0}
    start, cpu_start = time.perf_counter(), time.process_time()
    with (timed_plausibility(times) if checks else checks_off()):
        folder = output_folder(out) if checks else contextlib.nullcontext()
        with folder as staged:
            tick = time.perf_counter()
            study = Study.from_files(files)
            times["read"] = time.perf_counter() - tick
            result = classifier.predict(study, saliency="gradcam")
            tick = time.perf_counter()
            if checks:
                result.save(staged.staging, final_dir=staged.final)
            else:
                os.makedirs(out, exist_ok=True)
                result.save(out, final_dir=out)
            times["write"] = time.perf_counter() - tick
    times["total"] = time.perf_counter() - start
    times["total CPU"] = time.process_time() - cpu_start  # all threads of this process
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from bench_classify import write_brats_sized_study

    from braintumorai.modalities import assign_modalities
    from braintumorai.pipeline import Classifier

    folder = tempfile.mkdtemp(prefix="bench-checks-")
    try:
        files = assign_modalities(write_brats_sized_study(folder))
        classifier = Classifier.load(device="cpu")
        classify_once(classifier, files, os.path.join(folder, "warm-up"), True)  # imports, MONAI
        runs = {True: [], False: []}
        for repeat in range(args.repeats):
            for checks in ((True, False) if repeat % 2 == 0 else (False, True)):
                out = os.path.join(folder, f"out-{repeat}-{checks}")
                runs[checks].append(classify_once(classifier, files, out, checks))
                shutil.rmtree(out, ignore_errors=True)
        print(f"4-modality classify, 240x240x155 at 1 mm, Grad-CAM, median of {args.repeats} runs (seconds)\n")
        print("| stage | with checks | without | cost of the checks |")
        print("|---|---|---|---|")
        for stage in ("read", "plausibility", "write", "total", "total CPU"):
            on = statistics.median(r[stage] for r in runs[True])
            off = statistics.median(r[stage] for r in runs[False])
            print(f"| {stage} | {on:.3f} | {off:.3f} | {on - off:+.3f} |")
        for stage in ("total", "total CPU"):
            extra = [a[stage] - b[stage] for a, b in zip(runs[True], runs[False])]
            print(f"\npaired difference, {stage}: median {statistics.median(extra):+.3f} s "
                  f"(runs: {', '.join(f'{d:+.2f}' for d in extra)}); target <= 0.15 s")
        print(f"load average during the run: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
