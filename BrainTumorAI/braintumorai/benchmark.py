"""``braintumorai bench``: this product's pipeline against the one a MONAI user would write,
on the same input, in the same run.

Input: a phantom study resampled onto the BraTS grid (240x240x155 at 1 mm by default), with
the four MRI and with all six modalities. For each:

- **this product**: ``Classifier.predict`` with its default saliency (the maps on the
  reference grid) and ``result.save`` (result.json and every map written), then
  ``Prognosticator.predict`` over three visits (when a prognosis model is installed);
- **the baseline**: ``LoadImaged``, ``EnsureChannelFirstd``, ``Orientationd``, ``Spacingd`` to
  the same model spacing, ``ResizeWithPadOrCropd`` to the same grid, ``NormalizeIntensityd``,
  a 3-D ``DenseNet121`` over the stacked channels, ``GradCAM`` from ``monai.visualize``, the
  map put back on the input grid with ``Invertd`` and written with ``SaveImage``. Its weights
  are untrained: it is timed, not judged.

Each pipeline runs in a child process of its own: once cold (the whole-process time runs from
the child's start, Python start and imports included, to that first result), then ``repeats``
times more for the in-process figures (medians of the warm runs) and the peak memory. On a
CUDA machine the same is also measured on the GPU in float32, float16 and bfloat16 autocast
(both pipelines alike): every time is read after ``torch.cuda.synchronize()`` (kernels run
asynchronously; without it a stage's time lands in the next one), and the peak GPU memory
(``torch.cuda.max_memory_allocated``) is reported beside the peak resident memory.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional

MRI = ("T1", "T1C", "T2", "FLAIR")
ALL = ("T1", "T1C", "T2", "FLAIR", "CT", "PET")
_TOKENS = {"T1": "t1n", "T1C": "t1c", "T2": "t2w", "FLAIR": "t2f", "CT": "ct", "PET": "pet"}


FOLLOW_UP_DAYS = (90, 180)


def follow_up_files(files: Mapping[str, str], day: int) -> dict[str, str]:
    """The paths of the follow-up visit on ``day`` that :func:`write_study` writes beside ``files``."""
    return {m: str(Path(p).parent / f"day{day}" / Path(p).name) for m, p in files.items()}


def write_study(folder: Path, size=(240, 240, 155), seed: int = 11, follow_ups: bool = True) -> dict[str, str]:
    """A six-modality glioblastoma phantom resampled onto a ``size`` grid at 1 mm (coarser along
    an axis where ``size`` cannot hold the phantom's field at 1 mm: a smaller study still holds
    the whole brain, which the input checks rightly demand), and with ``follow_ups`` the visits
    of :data:`FOLLOW_UP_DAYS` (other seeds) in ``day<N>/`` beside it."""
    import SimpleITK as sitk

    from .synthetic import generate_case

    case = generate_case("glioblastoma", seed=seed, spacing=1.0)
    grid = sitk.Image([int(s) for s in size], sitk.sitkFloat32)
    source = case.images["T1C"]
    field_mm = [n * d for n, d in zip(source.GetSize(), source.GetSpacing())]
    # 1 mm unless the grid holds under 85 % of the field (the field's outer margin is background).
    spacing = [1.0 if int(s) >= 0.85 * f else f / int(s) for f, s in zip(field_mm, size)]
    grid.SetSpacing(spacing)
    centre = source.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in source.GetSize()])
    grid.SetOrigin([c - (s - 1) / 2 * d for c, s, d in zip(centre, size, spacing)])
    files = {}
    for modality in ALL:
        background = -1000.0 if modality == "CT" else 0.0
        image = sitk.Resample(case.images[modality], grid, sitk.Transform(), sitk.sitkLinear, background,
                              sitk.sitkFloat32)
        files[modality] = str(folder / f"BENCH-{_TOKENS[modality]}.nii.gz")
        sitk.WriteImage(image, files[modality])
    if follow_ups:  # each visit its own scan (the same bytes at two visits is refused as a path mistake)
        for index, day in enumerate(FOLLOW_UP_DAYS):
            (folder / f"day{day}").mkdir(exist_ok=True)
            write_study(folder / f"day{day}", size, seed + 1 + index, follow_ups=False)
    return files


def product_once(files: dict, out: Path, device: str, prognosis: bool, precision: Optional[str] = None) -> dict:
    """Classify with the default saliency and write everything; then prognose over three visits."""
    from .pipeline import Classifier

    start = _now(device)
    classifier = _cached("classifier", lambda: Classifier.load(device=device))
    classifier.precision = precision or "float32"
    result = classifier.predict(files)
    tick = _now(device)
    result.save(out)
    timings = dict(result.timings, write_s=_now(device) - tick, total_s=_now(device) - start)
    if prognosis:
        from .prognosis import Prognosticator

        tick = _now(device)
        prognosticator = _cached("prognosis", lambda: Prognosticator.load(device=device, classifier=classifier))
        prognosticator.predict([{"day": 0, "study": dict(files)}]
                               + [{"day": day, "study": follow_up_files(files, day)} for day in FOLLOW_UP_DAYS])
        timings["prognosis_s"] = _now(device) - tick
    return timings


def _now(device: str) -> float:
    """``time.perf_counter()`` once the GPU has finished what was queued (CUDA only)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def baseline_once(files: dict, out: Path, device: str, spacing=(3.0, 3.0, 3.0), size=(56, 64, 56),
                  precision: Optional[str] = None) -> dict:
    """The MONAI pipeline (see the module docstring); ``size`` and ``spacing`` in (x, y, z)."""
    import torch
    from monai.data import MetaTensor
    from monai.networks.nets import DenseNet121
    from monai.transforms import (Compose, EnsureChannelFirstd, Invertd, LoadImaged, NormalizeIntensityd,
                                  Orientationd, ResizeWithPadOrCropd, SaveImage, Spacingd)
    from monai.visualize import GradCAM

    keys = list(files)
    start = _now(device)
    transform = Compose([LoadImaged(keys, image_only=True), EnsureChannelFirstd(keys),
                         Orientationd(keys, axcodes="RAS", labels=None), Spacingd(keys, pixdim=spacing, mode="bilinear"),
                         ResizeWithPadOrCropd(keys, spatial_size=size), NormalizeIntensityd(keys, nonzero=True)])
    data = transform(dict(files))
    x = torch.cat([data[k] for k in keys], 0)[None].as_tensor().to(device)
    timings = {"preprocess_s": _now(device) - start}
    tick = _now(device)
    network = _cached(f"densenet{len(keys)}", lambda: DenseNet121(spatial_dims=3, in_channels=len(keys),
                                                                  out_channels=6).eval().to(device))
    with torch.no_grad(), _autocast(device, precision):
        network(x)
    timings["inference_s"] = _now(device) - tick
    tick = _now(device)
    with _autocast(device, precision):
        cam = GradCAM(network, target_layers="class_layers.relu")(x).float().cpu()
    timings["saliency_s"] = _now(device) - tick
    tick = _now(device)
    reference = data[keys[0]]
    mapped = MetaTensor(cam[0], meta=reference.meta, applied_operations=reference.applied_operations)
    back = Invertd(keys="cam", transform=transform, orig_keys=keys[0], nearest_interp=False)(
        {"cam": mapped, keys[0]: reference})["cam"]
    SaveImage(output_dir=str(out), output_postfix="gradcam", separate_folder=False, print_log=False)(back)
    timings["write_s"] = _now(device) - tick
    timings["total_s"] = _now(device) - start
    return timings


_cache: dict = {}


def _cached(key, make):
    if key not in _cache:
        _cache[key] = make()
    return _cache[key]


def _autocast(device: str, precision: Optional[str]):
    import contextlib

    import torch

    if device.startswith("cuda") and precision in ("float16", "bfloat16"):
        return torch.autocast("cuda", dtype=getattr(torch, precision))
    return contextlib.nullcontext()


def child(argv: list[str]) -> int:
    """``python -m braintumorai.benchmark PIPELINE FILES_JSON OUT DEVICE REPEATS PROGNOSIS [PRECISION]``:
    runs a pipeline once (printing ``COLD`` when done, so the parent can time the whole process
    up to the first result), then ``repeats`` more times, and prints one JSON line."""
    pipeline, files_json, out, device, repeats, prognosis = argv[:6]
    precision = argv[6] if len(argv) > 6 else None
    files = json.loads(files_json)
    run = product_once if pipeline == "product" else baseline_once
    kwargs = {"prognosis": prognosis == "1"} if pipeline == "product" else {}
    runs = []
    for index in range(1 + int(repeats)):
        runs.append(run(files, Path(out) / f"run{index}", device, precision=precision, **kwargs))
        if index == 0:
            print("COLD " + json.dumps(runs[0]), flush=True)
    warm = runs[1:] or runs
    medians = {key: statistics.median(r[key] for r in warm) for key in warm[0]}
    print("BENCH " + json.dumps({"timings": medians, "peak_rss_mb": peak_rss_mb(),
                                 "peak_gpu_mb": peak_gpu_mb(device)}), flush=True)
    return 0


def peak_gpu_mb(device: str) -> Optional[float]:
    """Peak GPU memory this process allocated through torch (MB); None off CUDA."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: ``VmHWM`` (it starts afresh at exec, while
    ``ru_maxrss`` keeps the parent's high-water mark across fork and exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * (1024 if sys.platform == "darwin" else 1))


def _spawn(arguments: list[str]) -> tuple[dict, float]:
    """Run a child; returns its figures and the seconds from its start to its first
    classification result."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "braintumorai.benchmark", *arguments], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    first, result = None, None
    for line in process.stdout:
        if line.startswith("COLD "):
            # Up to the classification's result: the cold run's prognosis is not part of it.
            first = time.perf_counter() - start - json.loads(line[5:]).get("prognosis_s", 0.0)
        elif line.startswith("BENCH "):
            result = json.loads(line[6:])
    errors = process.stderr.read()
    code = process.wait()
    if code != 0 or result is None or first is None:
        tail = (errors.strip().splitlines() or [f"no output (exit code {code})"])[-1]
        raise RuntimeError(f"the benchmark's child process failed: {tail}")
    return result, first


def _prognosis_installed() -> bool:
    from .checkpoints import resolve_model
    from .errors import ModelError

    try:
        resolve_model(None, task="prognosis")
        return True
    except ModelError:
        return False


def run_benchmark(study: Mapping[str, str], repeats: int = 3, device: str = "cpu", precision: Optional[str] = None,
                  progress=None) -> list[dict]:
    """One row per modality count: this product against the baseline, same input, same run.
    ``study``: the files :func:`write_study` wrote (one study serves every device and
    precision of a run)."""
    report = progress or (lambda message: None)
    prognosis = "1" if _prognosis_installed() else "0"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for modalities in (MRI, ALL):
            chosen = json.dumps({m: study[m] for m in modalities})
            figures = {}
            for pipeline in ("product", "baseline"):
                report(f"{pipeline}, {len(modalities)} modalities on {device}{' ' + precision if precision else ''}")
                figures[pipeline] = _spawn([pipeline, chosen, str(folder / pipeline), device, str(repeats),
                                            prognosis if pipeline == "product" else "0",
                                            *([precision] if precision else [])])
            (product, process_s), (baseline, baseline_process_s) = figures["product"], figures["baseline"]
            t = product["timings"]
            rows.append({
                "modalities": len(modalities), "device": device, "precision": precision or "float32",
                "preprocess_s": t["preprocess_s"], "inference_s": t["inference_s"], "saliency_s": t["saliency_s"],
                "write_s": t["write_s"], "prognosis_s": t.get("prognosis_s"), "total_s": t["total_s"],
                "process_s": process_s, "peak_rss_mb": product["peak_rss_mb"],
                "peak_gpu_mb": product.get("peak_gpu_mb"), "baseline_peak_gpu_mb": baseline.get("peak_gpu_mb"),
                "baseline_total_s": baseline["timings"]["total_s"], "baseline_process_s": baseline_process_s,
                "baseline_peak_rss_mb": baseline["peak_rss_mb"],
                "speedup": baseline["timings"]["total_s"] / t["total_s"]})
    return rows


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))
