"""Whole-process speed and memory of ``braintumorai prognose`` (a script, not a timed test).

    python benchmarks/bench_prognose.py [--repeats 5] [--model PROGNOSIS_CHECKPOINT]

Writes a patient of four visits (a longitudinal glioblastoma phantom, each visit
T1/T1C/T2/FLAIR resampled onto the BraTS grid, 240x240x155 at 1 mm) to a temporary folder,
then runs the command line in a fresh process per run, as a user would, and prints the
median wall seconds, the stages the command reports and the peak resident memory. The
baseline in the same run is what reading those visits costs without this command: four
``braintumorai classify --saliency none`` processes, one per visit.
Target (issue 8): at most 6 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_classify import run_once, write_brats_sized_study  # noqa: E402


def write_patient(folder: str) -> list[tuple[int, list[str]]]:
    from braintumorai.synthetic.longitudinal import generate_patient

    patient = generate_patient(11, n_visits=4, label="glioblastoma")
    visits = []
    for visit in patient.visits:
        case = patient.case(visit.index, modalities=("T1", "T1C", "T2", "FLAIR"), spacing=1.0)
        visits.append((visit.day, write_brats_sized_study(folder, case, f"PAT-{visit.index:03d}")))
    return visits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", help="prognosis checkpoint (default: the bundled model)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        visits = write_patient(folder)
        arguments = ["prognose", "--out", os.path.join(folder, "out"), "--json", "--device", "cpu",
                     "--treatment", "12:surgery", "--treatment", "40:radiotherapy", "--age", "60", "--sex", "M"]
        for day, files in visits:
            arguments += ["--visit", f"{day}:{','.join(files)}"]
        if args.model:
            arguments += ["--model", args.model]
        prognose, baseline = [], []
        for repeat in range(args.repeats + 1):  # the first run warms the disk cache
            result = run_once(arguments)
            classify = [run_once(["classify", *files, "--out", os.path.join(folder, f"c{i}"), "--saliency", "none",
                                  "--json", "--device", "cpu"]) for i, (_, files) in enumerate(visits)]
            if repeat:
                prognose.append(result)
                baseline.append({"wall": sum(r["wall"] for r in classify), "peak_mb": max(r["peak_mb"] for r in classify)})
    print(f"prognose, 4 visits x 4 MRI at 240x240x155, CPU ({os.cpu_count()} cores), median of {args.repeats} "
          "whole-process runs (Python start and imports included)")
    print("| command | wall s | embedding s | prognosis s | peak memory MB |")
    print("|---|---|---|---|---|")
    median = lambda runs, key: statistics.median(r["timings"].get(key, 0.0) for r in runs)  # noqa: E731
    print(f"| prognose | {statistics.median(r['wall'] for r in prognose):.2f} | {median(prognose, 'embedding_s'):.2f} "
          f"| {median(prognose, 'prognosis_s'):.3f} | {max(r['peak_mb'] for r in prognose):.0f} |")
    print(f"| baseline: 4 x classify --saliency none | {statistics.median(r['wall'] for r in baseline):.2f} | - | - "
          f"| {max(r['peak_mb'] for r in baseline):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
