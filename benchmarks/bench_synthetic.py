"""Benchmark of the phantom generator on one core (a script, not a timed test).

    python benchmarks/bench_synthetic.py [--repeats 5]

Prints spacing, modalities, median seconds per case (after one warm-up case, so the
one-off loading of the MNI maps is excluded and printed separately) and peak memory.
Each configuration runs in its own process with ITK and numpy/BLAS limited to one
thread. Peak MB is the process's peak resident memory (Python, nilearn and the cached
maps included) and, in brackets, the peak of numpy allocations made by one case.
Targets (issue 3): 6 modalities at 2 mm <= 1 s, at 1 mm <= 4 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [(1.0, "all"), (1.0, "mri"), (2.0, "all"), (2.0, "mri"), (3.0, "all")]


def _one(spacing: float, which: str, repeats: int) -> dict:
    import resource
    import time
    import tracemalloc

    import numpy as np
    import SimpleITK as sitk

    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    sys.path.insert(0, os.path.join(ROOT, "BrainTumorAI"))
    from braintumorai.modalities import MODALITIES, MRI_MODALITIES
    from braintumorai.synthetic import CLASSES, generate_case

    mods = MODALITIES if which == "all" else MRI_MODALITIES
    t0 = time.perf_counter()
    generate_case("glioblastoma", seed=999, modalities=mods, spacing=spacing)
    first = time.perf_counter() - t0
    times = []
    tracemalloc.start()
    for i in range(repeats):
        label = CLASSES[i % len(CLASSES)]
        t0 = time.perf_counter()
        case = generate_case(label, seed=i, modalities=mods, spacing=spacing)
        times.append(time.perf_counter() - t0)
    numpy_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"spacing": spacing, "modalities": ",".join(mods), "median_s": float(np.median(times)),
            "max_s": float(np.max(times)), "first_s": first, "peak_mb": rss, "numpy_peak_mb": numpy_peak,
            "size": list(case.images[mods[0]].GetSize())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(float(args.one[0]), args.one[1], args.repeats)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print("| spacing mm | modalities | grid (x y z) | median s | max s | first case s | peak MB (numpy) |")
    print("|---|---|---|---|---|---|---|")
    for spacing, which in CONFIGS:
        out = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--one", str(spacing), which],
                             capture_output=True, text=True, env=env, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {r['spacing']:g} | {r['modalities']} | {' '.join(map(str, r['size']))} | {r['median_s']:.2f} | "
              f"{r['max_s']:.2f} | {r['first_s']:.2f} | {r['peak_mb']:.0f} ({r['numpy_peak_mb']:.0f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
