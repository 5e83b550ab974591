"""Whole-process speed and memory of ``braintumorai classify`` (a script, not a timed test).

    python benchmarks/bench_classify.py [--repeats 3] [--model PATH] [--occlusion]

Writes a BraTS-sized study (240x240x155, 1 mm, T1/T1C/T2/FLAIR, from a phantom) to a
temporary folder, then runs the command line in a fresh process per run, as a user
would, and prints median wall seconds, the stages the command reports, and the peak
resident memory of the process. The baseline in the same run is ``--saliency none``
(classification alone), so the table shows what each saliency method costs.
Target (issue 4): with saliency, at most 5 s and 3 GB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_brats_sized_study(folder: str, case=None, name: str = "BENCH-000") -> list[str]:
    """A 4-modality phantom (``case``, default a glioblastoma) resampled onto the BraTS grid
    (240x240x155, 1 mm), written as ``folder/NAME-{t1n,t1c,t2w,t2f}.nii.gz``."""
    import SimpleITK as sitk

    from braintumorai.synthetic import generate_case

    if case is None:
        case = generate_case("glioblastoma", seed=11, modalities=("T1", "T1C", "T2", "FLAIR"), spacing=1.0)
    grid = sitk.Image([240, 240, 155], sitk.sitkFloat32)
    centre = case.images["T1C"].TransformContinuousIndexToPhysicalPoint(
        [(s - 1) / 2 for s in case.images["T1C"].GetSize()])
    grid.SetOrigin([c - h for c, h in zip(centre, (119.5, 119.5, 77.0))])
    paths = []
    for modality, token in (("T1", "t1n"), ("T1C", "t1c"), ("T2", "t2w"), ("FLAIR", "t2f")):
        image = sitk.Resample(case.images[modality], grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        path = os.path.join(folder, f"{name}-{token}.nii.gz")
        sitk.WriteImage(image, path)
        paths.append(path)
    return paths


# Peak memory from VmHWM: ru_maxrss would keep this parent's high-water mark across fork and exec.
CHILD = """
import json, sys, time
start = time.perf_counter()
from braintumorai.cli import main
code = main(sys.argv[1:])
from braintumorai.benchmark import peak_rss_mb
peak_mb = peak_rss_mb()
print("BENCH " + json.dumps({"code": code, "seconds": time.perf_counter() - start, "peak_mb": peak_mb}), file=sys.stderr)
"""


def run_once(arguments: list[str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *arguments], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    line = next((l for l in done.stderr.splitlines() if l.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"classify failed:\n{done.stderr}")
    child = json.loads(line[6:])
    result = json.loads(done.stdout)
    return {"wall": wall, "peak_mb": child["peak_mb"], "timings": result["timings"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--occlusion", action="store_true", help="also time occlusion sensitivity (slow)")
    args = parser.parse_args()
    methods = ["none", "layercam", "gradcam", "gradcam++"] + (["occlusion"] if args.occlusion else [])
    with tempfile.TemporaryDirectory() as folder:
        files = write_brats_sized_study(folder)
        rows = []
        for method in methods:
            runs = []
            for repeat in range(args.repeats + 1):  # the first run warms the disk cache
                out = os.path.join(folder, f"out-{method}")
                arguments = ["classify", *files, "--out", out, "--saliency", method, "--json", "--device", "cpu"]
                if args.model:
                    arguments += ["--model", args.model]
                result = run_once(arguments)
                if repeat:
                    runs.append(result)
            rows.append((method, runs))
    print(f"classify, 240x240x155 x 4 modalities, CPU ({os.cpu_count()} cores), median of {args.repeats} "
          "whole-process runs (Python start and imports included)")
    print(f"| saliency | wall s | preprocess s | inference s | saliency s | peak memory MB |")
    print(f"|---|---|---|---|---|---|")
    for method, runs in rows:
        median = lambda key: statistics.median(r["timings"].get(key, 0.0) for r in runs)  # noqa: E731
        print(f"| {method}{' (baseline)' if method == 'none' else ''} | {statistics.median(r['wall'] for r in runs):.2f} "
              f"| {median('preprocess_s'):.2f} | {median('inference_s'):.2f} | {median('saliency_s'):.2f} "
              f"| {max(r['peak_mb'] for r in runs):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
