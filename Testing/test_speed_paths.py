"""The fast paths give today's answers: separable resampling against ITK's, the numpy brain
mask against the SimpleITK one it replaced, the numpy map quantisation against
SimpleITK's; and the command line starts without its heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from braintumorai import brain_mask, grid_resampling
from braintumorai.model_grid import ModelGrid, _itk_to_reference, maps_to_reference, to_model, to_reference

REAL_DEV = Path("/work/shared/data/real-dev")
ROOT = Path(__file__).resolve().parents[1]

DIRECTIONS = {
    "identity": np.eye(3),
    "left-right flipped": np.diag([-1.0, 1.0, 1.0]),
    "RAS": np.diag([-1.0, -1.0, 1.0]),
    "axes permuted": np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]),
}


def _volume(direction, spacing, size=(120, 110, 70), seed=0) -> sitk.Image:
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.random(size[::-1]).astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin((-61.3, 40.7, -20.2))
    image.SetDirection(np.asarray(direction, float).ravel().tolist())
    return image


def _itk_to_model(image, grid, interpolator):
    """to_model as it was: ITK on a grid twice as fine, 2x2x2 means (linear); ITK direct (nearest)."""
    if interpolator != sitk.sitkLinear:
        return sitk.GetArrayFromImage(sitk.Resample(image, grid, sitk.Transform(), interpolator, 0.0, sitk.sitkFloat32))
    fine = sitk.Image([2 * s for s in grid.GetSize()], sitk.sitkFloat32)
    spacing = np.asarray(grid.GetSpacing())
    fine.SetSpacing((spacing / 2).tolist())
    fine.SetOrigin((np.asarray(grid.GetOrigin()) - spacing / 4).tolist())
    samples = sitk.GetArrayFromImage(sitk.Resample(image, fine, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                   sitk.sitkFloat32))
    d, h, w = (n // 2 for n in samples.shape)
    return samples.reshape(d, 2, h, 2, w, 2).mean(axis=(1, 3, 5), dtype=np.float32)


@pytest.mark.parametrize("name", list(DIRECTIONS))
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.78, 0.9, 6.5)])
def test_separable_resampling_equals_itk_voxel_for_voxel(name, spacing):
    """Onto the model grid (box of linear samples, and nearest for masks) and back (linear),
    for flipped, permuted and anisotropic grids: within 1e-5 of ITK's values at every voxel
    (float32 rounding; ITK computes in double), the grid's edges included."""
    image = _volume(DIRECTIONS[name], spacing)
    grid = ModelGrid((2.0, 2.0, 2.0), (40, 48, 36)).place(image)
    assert grid_resampling.plan(image, grid) is not None  # the fast path is the one tested
    np.testing.assert_allclose(to_model(image, grid), _itk_to_model(image, grid, sitk.sitkLinear), atol=1e-5, rtol=0)
    mask = sitk.Cast(image > 0.5, sitk.sitkUInt8)
    np.testing.assert_array_equal(to_model(mask, grid, sitk.sitkNearestNeighbor),
                                  _itk_to_model(mask, grid, sitk.sitkNearestNeighbor))
    rng = np.random.default_rng(1)
    maps = {k: (rng.random((36, 48, 40)) * (rng.random((36, 48, 40)) > 0.4)).astype(np.float32) for k in "ab"}
    z, y, x = np.mgrid[:36, :48, :40]
    # A map that is 0 outside a ball off-centre (as maps are outside the brain): rows left out.
    maps["ball"] = np.where((z - 12) ** 2 + (y - 30) ** 2 + (x - 9) ** 2 < 36, rng.random((36, 48, 40)), 0.0
                            ).astype(np.float32)
    back = maps_to_reference(maps, grid, image)
    for key, array in maps.items():
        expected = sitk.GetArrayFromImage(_itk_to_reference(array, grid, image, sitk.sitkLinear))
        np.testing.assert_allclose(sitk.GetArrayFromImage(back[key]), expected, atol=1e-5, rtol=0)
        assert back[key].GetOrigin() == image.GetOrigin() and back[key].GetDirection() == image.GetDirection()


def test_oblique_grid_falls_back_to_itk():
    """A rotated volume has no separable path; the maps still come back as ITK puts them."""
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    image = _volume(rotation, (1.0, 1.0, 1.0))
    grid = ModelGrid((2.0, 2.0, 2.0), (40, 48, 36)).place(image)
    assert grid_resampling.plan(image, grid) is None
    array = np.random.default_rng(2).random((36, 48, 40)).astype(np.float32)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(to_reference(array, grid, image)),
                                  sitk.GetArrayFromImage(_itk_to_reference(array, grid, image, sitk.sitkLinear)))


def _old_brain_mask(image: sitk.Image) -> np.ndarray:
    """estimate_brain_mask as it was (SimpleITK components at full resolution, BinShrink)."""
    array = sitk.GetArrayViewFromImage(image)
    if np.count_nonzero(array == 0) > 0.2 * array.size:
        mask = sitk.Cast(image != 0, sitk.sitkUInt8)
    else:
        mask = sitk.OtsuThreshold(sitk.Cast(image, sitk.sitkFloat32), 0, 1, 128)
    mask = sitk.Cast(sitk.RelabelComponent(sitk.ConnectedComponent(mask), sortByObjectSize=True) == 1, sitk.sitkUInt8)
    factors = [max(1, int(round(2.0 / s))) for s in mask.GetSpacing()]
    coarse = sitk.Cast(sitk.BinShrink(sitk.Cast(mask, sitk.sitkFloat32), factors) > 0.999, sitk.sitkUInt8)
    coarse_array = sitk.GetArrayFromImage(coarse).astype(bool)
    holes = sitk.GetImageFromArray((brain_mask._close_and_fill(coarse_array, 1) & ~coarse_array).astype(np.uint8))
    holes.CopyInformation(coarse)
    holes = sitk.Resample(holes, mask, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(sitk.Or(mask, holes)).astype(bool)


def _dice(a, b) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _mask_cases():
    from braintumorai.synthetic import generate_case
    from braintumorai.synthetic.head import FULL_HEAD_MM

    # Skull-stripped at 1 mm (non-zero voxels) and with the head kept (Otsu), odd field sizes.
    yield "phantom 1 mm", generate_case("glioblastoma", seed=3, spacing=1.0, modalities=("T1C",)).images["T1C"]
    yield "phantom 1.2 x 1 x 1 mm", generate_case("meningioma", seed=4, spacing=(1.2, 1.0, 1.0),
                                                  modalities=("FLAIR",)).images["FLAIR"]
    yield "head-kept phantom", generate_case("glioblastoma", seed=1, spacing=1.0, modalities=("T1",),
                                             head_mm=FULL_HEAD_MM).images["T1"]
    for folder in sorted(p for p in REAL_DEV.glob("*") if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix in (".mha", ".nrrd", ".gz") and not any(t in path.name for t in ("seg", "roi")):
                from braintumorai.io import read_image

                yield path.name, read_image(path)
                break


@pytest.mark.slow
def test_brain_mask_agrees_with_the_full_resolution_one():
    """The numpy mask (largest piece in the bounding box, holes on 2 mm bins) against the
    SimpleITK one it replaced: Dice >= 0.9999 on phantoms (stripped, head kept, odd sizes)
    and on the first volume of each real dev study."""
    for name, image in _mask_cases():
        new = sitk.GetArrayFromImage(brain_mask.estimate_brain_mask(image)).astype(bool)
        old = _old_brain_mask(image)
        assert _dice(new, old) >= 0.9999, name


def test_largest_piece_drops_a_speck_next_to_the_brain():
    """A speck one voxel from the brain (same 2 mm bin, not connected) is not brain."""
    mask = np.zeros((40, 40, 40), bool)
    mask[5:30, 5:30, 5:30] = True
    mask[31, 31, 31] = True
    image = sitk.GetImageFromArray(mask.astype(np.float32))
    out = sitk.GetArrayFromImage(brain_mask.estimate_brain_mask(image)).astype(bool)
    assert not out[31, 31, 31] and out[10:25, 10:25, 10:25].all()


def test_fill_holes_3d_equals_scipys():
    rng = np.random.default_rng(5)
    for _ in range(5):
        mask = ndimage.binary_opening(rng.random((30, 34, 38)) > 0.55)
        np.testing.assert_array_equal(brain_mask.fill_holes_3d(mask), ndimage.binary_fill_holes(mask))


def test_quantised_map_is_bit_identical_to_simpleitks():
    from braintumorai.results import MAP_LEVELS, quantised

    values = np.random.default_rng(6).random((20, 30, 40)).astype(np.float32) * 1.2 - 0.1
    values.ravel()[:256] = (np.arange(256, dtype=np.float32) + 0.5) / MAP_LEVELS  # exact half steps
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((1.5, 1.0, 0.5))
    expected = sitk.Round(sitk.Clamp(image, sitk.sitkFloat32, 0.0, 1.0) * float(MAP_LEVELS)) / float(MAP_LEVELS)
    got = quantised(image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(sitk.Cast(expected,
                                                                                                 sitk.sitkFloat32)))
    assert got.GetSpacing() == image.GetSpacing() and got.GetPixelID() == sitk.sitkFloat32


HEAVY = ("torch", "monai", "SimpleITK", "matplotlib", "numpy", "scipy")


@pytest.mark.parametrize("arguments", [["--version"], ["--help"], ["classify", "--help"], ["prognose", "--help"],
                                       ["bench", "--help"], ["inspect", "--help"]])
def test_start_up_imports_no_heavy_library(arguments):
    """`braintumorai --version` and every --help load none of torch, MONAI, SimpleITK,
    matplotlib, numpy or scipy (they are most of a second to import)."""
    probe = ("import runpy, sys\n"
             f"sys.argv = ['braintumorai'] + {arguments!r}\n"
             "try:\n    runpy.run_module('braintumorai', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "BrainTumorAI"), str(ROOT)]))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
    assert loaded == ["LOADED []"], done.stderr[-2000:]
    assert "braintumorai" in done.stdout


def test_bench_on_cuda_without_a_gpu_falls_back_to_the_cpu(monkeypatch, capsys):
    """`bench --device cuda` on a machine without CUDA says so in one line and measures the
    CPU instead (the run itself is replaced here: only the choice of plans is tested)."""
    import torch

    from braintumorai.cli import bench_command, build_parser

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plans = []
    monkeypatch.setattr("braintumorai.benchmark.write_study", lambda folder, size: {"T1C": "study"})
    monkeypatch.setattr("braintumorai.benchmark.run_benchmark",
                        lambda study, repeats, device, precision, progress: plans.append((device, precision)) or [])
    args = build_parser().parse_args(["bench", "--device", "cuda", "--json"])
    assert bench_command.run(args) == 0
    captured = capsys.readouterr()
    assert plans == [("cpu", None)]
    assert "no CUDA GPU" in captured.err and "CPU" in captured.err
    assert json.loads(captured.out)["fallback"].startswith("CUDA was asked for")


def test_bench_writes_one_study_for_every_device_and_precision(monkeypatch, capsys):
    """On a GPU machine `bench` measures the CPU and three CUDA precisions: all on the same
    files, written once (writing a 240 x 240 x 155 study with its visits is most of a minute)."""
    import torch

    from braintumorai.cli import bench_command, build_parser

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "a GPU")
    written, studies = [], []
    monkeypatch.setattr("braintumorai.benchmark.write_study",
                        lambda folder, size: written.append(folder) or {"T1C": str(folder / "t1c.nii.gz")})
    monkeypatch.setattr("braintumorai.benchmark.run_benchmark",
                        lambda study, repeats, device, precision, progress: studies.append(study) or [])
    assert bench_command.run(build_parser().parse_args(["bench", "--json"])) == 0
    assert len(written) == 1 and len(studies) == 4 and all(s == studies[0] for s in studies)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.gpu
def test_cuda_predict_gives_the_cpus_probabilities(tmp_path):
    """On a GPU (float16 autocast) the probabilities are within 0.02 of the CPU's, and the
    fused map peaks where the CPU's does (GPU-only; benchmarks/gpu_check.sh runs it)."""
    from braintumorai.benchmark import MRI, write_study
    from braintumorai.pipeline import Classifier

    files = write_study(tmp_path, size=(120, 120, 80), follow_ups=False)
    study = {m: files[m] for m in MRI}
    cpu = Classifier.load(device="cpu").predict(study)
    gpu = Classifier.load(device="cuda").predict(study)
    np.testing.assert_allclose(gpu.probabilities, cpu.probabilities, atol=0.02)
    peak = [np.unravel_index(np.argmax(sitk.GetArrayViewFromImage(r.saliency["fused"])),
                             sitk.GetArrayViewFromImage(r.saliency["fused"]).shape) for r in (cpu, gpu)]
    assert np.abs(np.subtract(*peak)).max() <= 4
