"""``braintumorai bench``: speed and memory of this product against the usual MONAI pipeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="time this product's classify (+ prognose) against a MONAI DenseNet121 + GradCAM pipeline",
        description="Time, on one generated 240x240x155 study with 4 and with 6 modalities, this product's classify "
                    "with its default saliency (maps written) and prognose over 3 visits, against the pipeline a "
                    "MONAI user would write (LoadImaged, Orientationd, Spacingd, NormalizeIntensityd, DenseNet121, GradCAM, Invertd, "
                    "SaveImage): in-process medians after a warm-up, whole-process times, peak memory, and the speed-up. "
                    "On a CUDA machine the GPU is measured too, in float32, float16 and bfloat16, with synchronised "
                    "timings and peak GPU memory; --device cuda without a usable GPU measures the CPU and says so.",
    )
    parser.add_argument("--repeats", type=int, default=3, metavar="N", help="warm runs per figure (default 3)")
    parser.add_argument("--size", default="240,240,155", metavar="X,Y,Z", help="study size in voxels (default 240,240,155)")
    parser.add_argument("--device", choices=["cpu", "cuda", "both"], default=None,
                        help="cpu, cuda, or both (default: both when CUDA is present, else cpu)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..benchmark import run_benchmark, write_study
    from ..errors import InputError

    try:
        size = tuple(int(v) for v in args.size.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 32:
        raise InputError(f"--size {args.size} is not three voxel counts of at least 32, e.g. --size 240,240,155.")
    if args.repeats < 1:
        raise InputError("--repeats must be at least 1.")
    cuda = torch.cuda.is_available()
    device = args.device or ("both" if cuda else "cpu")
    fallback = None
    if device in ("cuda", "both") and not cuda:
        # One line, then the CPU figures: a benchmark asked for on the wrong machine still says something.
        fallback = f"CUDA was asked for (--device {device}) but no CUDA GPU is usable here; measuring the CPU instead."
        print(f"braintumorai bench: {fallback}", file=sys.stderr, flush=True)
        device = "cpu"
    plans = ([("cpu", None)] if device in ("cpu", "both") else []) + \
            ([("cuda", None), ("cuda", "float16"), ("cuda", "bfloat16")] if device in ("cuda", "both") else [])
    progress = None if args.json else (lambda message: print(f"  {message} ...", file=sys.stderr, flush=True))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if progress:
            progress(f"writing a {'x'.join(map(str, size))} study")
        study = write_study(Path(folder), size)  # once: every device and precision reads the same files
        for where, precision in plans:
            rows += run_benchmark(study, args.repeats, where, precision, progress)
    report = {"device": torch.cuda.get_device_name(0) if cuda and device != "cpu" else f"CPU ({os.cpu_count()} cores)",
              "threads": torch.get_num_threads(), "size": list(size), "repeats": args.repeats, "runs": rows}
    if fallback:
        report["fallback"] = fallback
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


def table(report: dict) -> str:
    lines = [f"{report['device']}, {report['threads']} threads, {'x'.join(map(str, report['size']))} study, "
             f"median of {report['repeats']} warm runs; whole-process times include Python start and imports",
             "| modalities | device | this product: preprocess / inference / saliency / write s | total s | "
             "whole process s | peak MB | prognose 3 visits s | MONAI baseline total s | whole process s | peak MB | "
             "speed-up |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def memory(rss, gpu):  # resident memory, and on CUDA the GPU's peak beside it
        return f"{rss:.0f}" if gpu is None else f"{rss:.0f} (GPU {gpu:.0f})"

    for r in report["runs"]:
        prognosis = "n/a" if r["prognosis_s"] is None else f"{r['prognosis_s']:.2f}"
        lines.append(f"| {r['modalities']} | {r['device']} {r['precision']} | {r['preprocess_s']:.2f} / "
                     f"{r['inference_s']:.2f} / {r['saliency_s']:.2f} / {r['write_s']:.2f} | {r['total_s']:.2f} | "
                     f"{r['process_s']:.2f} | {memory(r['peak_rss_mb'], r.get('peak_gpu_mb'))} | {prognosis} | "
                     f"{r['baseline_total_s']:.2f} | {r['baseline_process_s']:.2f} | "
                     f"{memory(r['baseline_peak_rss_mb'], r.get('baseline_peak_gpu_mb'))} | {r['speedup']:.1f}x |")
    return "\n".join(lines)
