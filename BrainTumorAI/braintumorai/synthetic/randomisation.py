"""Domain randomisation: phantoms whose acquisition varies far beyond one clean scanner.

A separate layer on top of the plain phantoms (which stay as they are): everything that
is not a class signature is drawn at random per case, widely, so that a classifier
trained on these phantoms must read the radiology and not the scanner (the lesson of
SynthSeg, Billot et al., Medical Image Analysis 2023). Per case and per modality:

- **anatomy**: atrophy with age (ventricles widened, sulci opened);
- **misregistration**: each sequence but the reference moved by a small rigid transform;
- **intensity curve and scale** (MRI): a gamma curve or a random monotone piecewise-linear
  curve, applied below the brain's 99th percentile and continued linearly above it,
  then a random gain; CT gets a calibration offset, PET a global scale;
- **bias field**: a smooth random multiplicative field, per sequence;
- **acquired resolution**: slices of 1.5 to 6.5 mm along any axis, with their slice profile,
  resampled back to the grid with partial volume; an isotropic blur;
- **noise**: Gaussian or Rician, at the acquired resolution (so thick slices give noise
  correlated across them);
- **motion ghosting**: replicas along a phase-encoding axis from periodic phase errors;
- **imperfect skull stripping**: the phantom is rendered with the inner head layers
  (CSF, dura, skull, marrow), and the mask that strips it is eroded or dilated by a
  smoothly varying amount, leaving rims of dura and skull or cutting cortex;
- **field-of-view cut**: the top, bottom or one side of the head outside the scanned slab.

Class signatures (which compartments enhance, are bright on T2/FLAIR, dense on CT, hot
on PET) survive every step: the intensity curves are monotone and act on the whole
image, so they reorder nothing. The masks are never moved: they stay aligned with the
reference modality (the first present of T1C, T1, FLAIR, T2, CT, PET), whose geometry is
left untouched.

:data:`TRAINING` holds the ranges the bundled classifier is trained with; :data:`SHIFTED`
a setting it never sampled (7-8 mm sagittal slices, bias twice the strongest trained,
a sigmoid contrast curve, strong Rician noise), kept for the held-out shifted test set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

from ..modalities import MODALITIES, MRI_MODALITIES, choose_reference
from .anatomy import smooth_field
from .case import CT_BACKGROUND_HU, SyntheticCase, generate_case, sample_case_params

# Inner head kept around the brain so blur, misregistration and skull stripping see real edges (mm).
HEAD_RIM_MM = 8.0


@dataclass(frozen=True)
class Ranges:
    """What a randomisation setting may draw (probabilities, and (low, high) ranges)."""

    atrophy: tuple = (0.0, 0.8)
    misregistration_mm: float = 2.0          # translation per axis; rotation in degrees the same
    curves: tuple = ("identity", "gamma", "piecewise")
    gamma: tuple = (0.5, 2.0)
    bias_log_amplitude: tuple = (0.0, 0.3)
    thick_axes: tuple = (0, 1, 2)            # numpy axes (z, y, x) slices may be thick along
    thick_p: float = 0.65
    thickness_mm: tuple = (1.5, 6.5)
    blur_mm: tuple = (0.0, 1.5)
    noise: tuple = ("gaussian", "rician")
    noise_level: tuple = (0.005, 0.05)       # relative to the brain's median
    ghost_p: float = 0.2
    skull_strip_p: float = 0.5               # probability of an imperfect mask
    skull_strip_offset_mm: tuple = (-3.0, 5.0)
    fov_cut_p: float = 0.15
    ct_offset_hu: float = 6.0
    pet_extra_fwhm_mm: tuple = (0.0, 4.0)
    name: str = "training"


TRAINING = Ranges()
SHIFTED = Ranges(atrophy=(0.0, 0.8), curves=("sigmoid",), bias_log_amplitude=(0.35, 0.45), thick_axes=(2,),
                 thick_p=1.0, thickness_mm=(7.0, 8.0), noise=("rician",), noise_level=(0.04, 0.07), ghost_p=0.0,
                 skull_strip_p=0.0, fov_cut_p=0.0, name="shifted")
SETTINGS = {r.name: r for r in (TRAINING, SHIFTED)}


def draw_randomisation(seed: int, ranges: Ranges = TRAINING) -> dict:
    """Every random choice of one case's randomisation (JSON-serialisable)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 101]))
    u = lambda r: float(rng.uniform(*r))  # noqa: E731
    age = u(ranges.atrophy)
    per_modality = {}
    for mod in MODALITIES:
        curve = str(rng.choice(ranges.curves))
        knots = np.cumsum(rng.dirichlet(np.full(4, 2.0)))
        per_modality[mod] = {
            "rotation_deg": [u((-1, 1)) * ranges.misregistration_mm for _ in range(3)],
            "translation_mm": [u((-1, 1)) * ranges.misregistration_mm for _ in range(3)],
            "curve": curve, "gamma": u(ranges.gamma), "knots": [0.0] + [float(k) for k in knots],
            "sigmoid_gain": u((4.0, 8.0)), "sigmoid_centre": u((0.35, 0.6)),
            "gain": float(np.exp(u((np.log(0.3), np.log(3.0))))),
            "bias": u(ranges.bias_log_amplitude), "bias_seed": int(rng.integers(2**31 - 1)),
            "thick_axis": int(rng.choice(ranges.thick_axes)),
            "thickness_mm": u(ranges.thickness_mm) if rng.random() < ranges.thick_p else 0.0,
            "slice_offset": u((0.0, 1.0)),
            "blur_mm": u(ranges.blur_mm),
            "noise": str(rng.choice(ranges.noise)), "noise_level": u(ranges.noise_level),
            "noise_seed": int(rng.integers(2**31 - 1)),
            "ghost": u((0.03, 0.12)) if rng.random() < ranges.ghost_p else 0.0,
            "ghost_axis": int(rng.choice([1, 2])), "ghost_period": int(rng.integers(2, 5)),
            "ct_offset_hu": u((-1, 1)) * ranges.ct_offset_hu,
            "pet_fwhm_mm": u(ranges.pet_extra_fwhm_mm),
        }
    return {
        "setting": ranges.name,
        "atrophy": {"ventricles": 0.35 * age, "cortical": 0.5 * age},
        "modalities": per_modality,
        "skull_strip_offset_mm": (u(ranges.skull_strip_offset_mm), u((0.5, 3.0)))
        if rng.random() < ranges.skull_strip_p else None,
        "skull_strip_seed": int(rng.integers(2**31 - 1)),
        "fov_cut": {"axis": int(rng.integers(3)), "side": int(rng.integers(2)), "depth_mm": u((5.0, 25.0))}
        if rng.random() < ranges.fov_cut_p else None,
    }


def randomised_case(label: str | None = None, seed: int = 0, modalities=MODALITIES, spacing=2.0,
                    ranges: Ranges = TRAINING, patient=None, visit: int | None = None) -> SyntheticCase:
    """A phantom with a randomised acquisition: the plain case of ``label`` and ``seed``
    (or visit ``visit`` of the longitudinal ``patient``), rendered with the atrophy and
    the inner head the draw asks for, then passed through :func:`randomise`."""
    draw = draw_randomisation(seed, ranges)
    options = {"atrophy": draw["atrophy"], "head_mm": HEAD_RIM_MM}
    if patient is not None:
        case = patient.case(visit, modalities=modalities, spacing=spacing, **options)
    else:
        params = sample_case_params(label, seed)
        case = generate_case(params["label"], seed=seed, modalities=modalities, spacing=spacing, params=params,
                             **options)
    return randomise(case, draw)


def randomise(case: SyntheticCase, draw: dict) -> SyntheticCase:
    """Apply a draw of :func:`draw_randomisation` to a case rendered with the head rim.

    Returns a new case (the input is not changed) whose images are skull-stripped by the
    drawn (im)perfect mask; masks and parameters are kept, the draw is added to
    ``params["randomisation"]``.
    """
    reference = choose_reference(list(case.images), None)
    brain = sitk.GetArrayFromImage(case.masks["brain"]) > 0
    spacing_zyx = np.asarray(case.spacing[::-1], float)
    strip = _strip_mask(brain, spacing_zyx, draw)
    images = {}
    for mod, image in case.images.items():
        p = draw["modalities"][mod]
        if mod != reference:
            image = _misregister(image, p)
        a = sitk.GetArrayFromImage(image).astype(np.float32)
        rng = np.random.default_rng(p["noise_seed"])
        if mod in MRI_MODALITIES:
            a = _mri(a, brain, spacing_zyx, p, rng)
            a[~strip] = 0.0
        elif mod == "CT":
            a = _acquire(a + np.float32(p["ct_offset_hu"]), spacing_zyx, p, rng, noise_scale=100.0,
                         background=CT_BACKGROUND_HU)
            a[~strip] = CT_BACKGROUND_HU
        else:  # PET: extra scanner blur, count noise, global scale
            sigma = [p["pet_fwhm_mm"] / 2.3548 / s for s in spacing_zyx]
            a = ndi.gaussian_filter(a, sigma) if p["pet_fwhm_mm"] > 0 else a
            a = a * (1.0 + rng.standard_normal(a.shape).astype(np.float32) * np.float32(p["noise_level"]))
            a = np.maximum(a, 0.0) * np.float32(p["gain"])
            a[~strip] = 0.0
        images[mod] = a
    if draw["fov_cut"]:
        _cut_field_of_view(images, brain, spacing_zyx, draw["fov_cut"])
    out = {}
    for mod, a in images.items():
        out[mod] = sitk.GetImageFromArray(a.astype(np.float32, copy=False))
        out[mod].CopyInformation(case.images[mod])
    params = dict(case.params, randomisation=draw)
    return SyntheticCase(images=out, masks=dict(case.masks), label=case.label, params=params, seed=case.seed,
                         spacing=case.spacing)


# --------------------------------------------------------------------------- steps


def _misregister(image: sitk.Image, p: dict) -> sitk.Image:
    """Resample ``image`` through a small rigid transform about its centre (same grid)."""
    transform = sitk.Euler3DTransform()
    size = np.asarray(image.GetSize(), float)
    transform.SetCenter(image.TransformContinuousIndexToPhysicalPoint(((size - 1) / 2).tolist()))
    transform.SetRotation(*[float(np.deg2rad(a)) for a in p["rotation_deg"]])
    transform.SetTranslation([float(t) for t in p["translation_mm"]])
    background = float(np.min(sitk.GetArrayViewFromImage(image)))
    return sitk.Resample(image, image, transform, sitk.sitkLinear, background, sitk.sitkFloat32)


def _curve(x: np.ndarray, p: dict) -> np.ndarray:
    """Monotone intensity curve on x = intensity / brain p99 (x >= 0), linear beyond 1."""
    if p["curve"] == "gamma":
        y = np.power(np.clip(x, 0.0, 1.0), p["gamma"])
        slope = p["gamma"]
    elif p["curve"] == "piecewise":
        knots_x = np.linspace(0.0, 1.0, len(p["knots"]))
        y = np.interp(np.clip(x, 0.0, 1.0), knots_x, p["knots"])
        slope = (p["knots"][-1] - p["knots"][-2]) / (knots_x[-1] - knots_x[-2])
    elif p["curve"] == "sigmoid":
        def s(v):
            return 1.0 / (1.0 + np.exp(-p["sigmoid_gain"] * (v - p["sigmoid_centre"])))
        lo, hi = s(0.0), s(1.0)
        y = (s(np.clip(x, 0.0, 1.0)) - lo) / (hi - lo)
        slope = p["sigmoid_gain"] * hi * (1 - hi) / (hi - lo)
    else:
        return x
    return np.where(x > 1.0, 1.0 + slope * (x - 1.0), y).astype(np.float32)


def _bias(shape, p: dict) -> np.ndarray:
    field = smooth_field(np.random.default_rng(p["bias_seed"]), shape, 4)
    return np.exp(np.float32(p["bias"]) * field).astype(np.float32)


def _mri(a: np.ndarray, brain: np.ndarray, spacing_zyx, p: dict, rng) -> np.ndarray:
    scale = float(np.percentile(a[brain], 99)) or 1.0
    a = _curve(np.maximum(a, 0.0) / np.float32(scale), p) * np.float32(scale)
    a = a * _bias(a.shape, p)
    level = float(np.median(a[brain]))
    a = _acquire(a, spacing_zyx, p, rng, noise_scale=level, background=0.0)
    if p["ghost"] > 0:
        a = _ghost(a, p)
    return np.maximum(a, 0.0) * np.float32(p["gain"])


def _acquire(a, spacing_zyx, p: dict, rng, noise_scale: float, background: float) -> np.ndarray:
    """Blur, thick slices (slab average, sampled, noise added, resampled back), noise."""
    if p["blur_mm"] > 0:
        a = ndi.gaussian_filter(a, [p["blur_mm"] / s for s in spacing_zyx], mode="nearest")
    axis, thickness = p["thick_axis"], p["thickness_mm"]
    step = thickness / spacing_zyx[axis]
    if thickness > 0 and step > 1.0:
        # The slab each slice averages: box of the slice thickness with soft edges.
        a = ndi.uniform_filter1d(a, max(int(round(step)), 1), axis=axis, mode="nearest")
        a = ndi.gaussian_filter1d(a, 0.25 * step, axis=axis, mode="nearest")
        n = a.shape[axis]
        positions = np.arange(p["slice_offset"] * step, n - 1, step)
        slices = _along(a, positions, axis)
        slices = _noise(slices, p, rng, noise_scale)
        # Back onto the grid by linear interpolation between acquired slices (partial volume).
        grid = np.clip((np.arange(n) - positions[0]) / step, 0, len(positions) - 1)
        return _along(slices, grid, axis)
    return _noise(a, p, rng, noise_scale)


def _along(a: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` at fractional ``positions`` along ``axis``."""
    low = np.clip(np.floor(positions).astype(int), 0, a.shape[axis] - 1)
    high = np.clip(low + 1, 0, a.shape[axis] - 1)
    w = (positions - low).astype(np.float32)
    shape = [1, 1, 1]
    shape[axis] = -1
    w = w.reshape(shape)
    return np.take(a, low, axis=axis) * (1 - w) + np.take(a, high, axis=axis) * w


def _noise(a: np.ndarray, p: dict, rng, scale: float) -> np.ndarray:
    sigma = np.float32(p["noise_level"] * abs(scale))
    n1 = rng.standard_normal(a.shape).astype(np.float32) * sigma
    if p["noise"] == "rician":
        n2 = rng.standard_normal(a.shape).astype(np.float32) * sigma
        return np.sqrt((a + n1) ** 2 + n2 ** 2)
    return a + n1


def _ghost(a: np.ndarray, p: dict) -> np.ndarray:
    """Periodic phase error along the phase-encoding axis: faint shifted replicas."""
    axis = p["ghost_axis"]
    k = np.fft.fft(a, axis=axis)
    n = a.shape[axis]
    phase = p["ghost"] * 2 * np.pi * np.sin(2 * np.pi * np.arange(n) / p["ghost_period"])
    shape = [1, 1, 1]
    shape[axis] = -1
    return np.abs(np.fft.ifft(k * np.exp(1j * phase).reshape(shape), axis=axis)).astype(np.float32)


def _strip_mask(brain: np.ndarray, spacing_zyx, draw: dict) -> np.ndarray:
    """The skull-stripping mask: the brain, or (imperfect) the brain grown or shrunk by a
    smoothly varying distance (mean and spread in mm from the draw)."""
    if not draw["skull_strip_offset_mm"]:
        return brain
    mean, spread = draw["skull_strip_offset_mm"]
    outside = ndi.distance_transform_edt(~brain, sampling=spacing_zyx)
    inside = ndi.distance_transform_edt(brain, sampling=spacing_zyx)
    signed = (outside - inside).astype(np.float32)  # mm, > 0 outside the brain
    field = smooth_field(np.random.default_rng(draw["skull_strip_seed"]), brain.shape, 5)
    mask = signed <= np.float32(mean) + np.float32(spread) * field
    # Keep it one piece without holes, as a skull-stripping tool would.
    labels, count = ndi.label(mask)
    if count > 1:
        mask = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    return ndi.binary_fill_holes(mask)


def _cut_field_of_view(images: dict, brain: np.ndarray, spacing_zyx, cut: dict) -> None:
    """Blank what lies beyond a plane ``depth_mm`` inside the brain's extent (in place)."""
    axis = cut["axis"]
    covered = np.flatnonzero(brain.any(axis=tuple(i for i in range(3) if i != axis)))
    depth = int(round(cut["depth_mm"] / spacing_zyx[axis]))
    index = [slice(None)] * 3
    index[axis] = slice(covered[-1] - depth, None) if cut["side"] else slice(0, covered[0] + depth)
    for mod, a in images.items():
        a[tuple(index)] = CT_BACKGROUND_HU if mod == "CT" else 0.0


def ranges_dict(ranges: Ranges) -> dict:
    """A setting as JSON (for model cards)."""
    return asdict(ranges)
