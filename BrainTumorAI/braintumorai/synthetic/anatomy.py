"""Phantom anatomy: the MNI152 2009a tissue maps that nilearn ships, randomly deformed.

The maps (grey matter, white matter, brain mask; 1 mm, 197x233x189) are loaded once per
process and cached, together with a 2 mm block-averaged copy used for outputs of 2 mm
and coarser (averaging first avoids aliasing). CSF is ``brain - GM - WM``.

Physical space is LPS in millimetres, as in SimpleITK: the MNI RAS affine is turned
into LPS (direction diag(-1, -1, 1)), so a phantom's physical coordinates are close to
MNI coordinates with x and y negated. Output images use an identity direction (like
BraTS) on a grid that tightly covers the deformed brain.

Per case the sampling transform maps an output point ``p`` to the MNI point
``A(p + d(p))``: ``A`` a random affine (rotation, anisotropic scale, shift) and ``d`` a
smooth displacement field on a coarse grid (elastic deformation plus the tumour's mass
effect), evaluated by ITK at each output voxel. The three maps are resampled once per
case directly onto the output grid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

# MNI (RAS) voxel (i, j, k) -> RAS mm is (i - 98, j - 134, k - 72) for the nilearn 1 mm maps.
_MNI_ORIGIN_LPS = (98.0, 134.0, -72.0)
_MNI_DIRECTION_LPS = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class MNIMaps:
    """Tissue maps in MNI space as SimpleITK images (float32, LPS geometry).

    ``gm``, ``wm``: tissue probabilities in [0, 1]; ``brain``: brain mask as a float
    (fractional after block averaging). ``bbox_lps``: (min xyz, max xyz) in mm of the
    brain, ``hull_lps``: (N, 3) brain-surface points (mm) that bound it tightly. ``sites``: candidate lesion locations (name -> (N, 3) LPS mm), ``surface_normals``:
    inward unit normals for the ``surface`` and ``falx`` sites.
    """

    gm: sitk.Image
    wm: sitk.Image
    brain: sitk.Image
    bbox_lps: tuple
    hull_lps: np.ndarray
    sites: dict
    surface_normals: dict


def _to_image(array_ijk: np.ndarray, spacing: float) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_ijk.transpose(2, 1, 0), dtype=np.float32))
    image.SetSpacing((spacing,) * 3)
    # Voxel centres of a block-averaged map sit half a fine voxel further along each axis.
    shift = (spacing - 1.0) / 2.0
    image.SetOrigin((_MNI_ORIGIN_LPS[0] - shift, _MNI_ORIGIN_LPS[1] - shift, _MNI_ORIGIN_LPS[2] + shift))
    image.SetDirection(_MNI_DIRECTION_LPS)
    return image


@functools.lru_cache(maxsize=1)
def _load_mni_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GM, WM, brain (float32, RAS voxel order) from nilearn's bundled 1 mm templates."""
    from nilearn import datasets  # heavy import, only when a phantom is first made

    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).get_fdata(), dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).get_fdata(), dtype=np.float32)
    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj, dtype=np.float32)
    # Tissue outside the mask is negligible; inside, GM + WM never exceeds 1 (checked).
    gm *= brain
    wm *= brain
    return gm, wm, brain


def _block_average(a: np.ndarray, f: int) -> np.ndarray:
    n = [s // f * f for s in a.shape]
    a = a[: n[0], : n[1], : n[2]]
    return a.reshape(n[0] // f, f, n[1] // f, f, n[2] // f, f).mean(axis=(1, 3, 5))


def _ijk_to_lps(ijk: np.ndarray, spacing: float) -> np.ndarray:
    shift = (spacing - 1.0) / 2.0
    ras = ijk * spacing + shift - np.array([98.0, 134.0, 72.0])
    return ras * np.array([-1.0, -1.0, 1.0])


def _lesion_sites(gm: np.ndarray, wm: np.ndarray, brain: np.ndarray) -> tuple[dict, dict]:
    """Candidate centres per anatomical site, from the 2 mm maps (RAS voxel order)."""
    mask = brain > 0.5
    depth = ndi.distance_transform_edt(mask) * 2.0  # mm to the brain surface
    ijk = np.indices(mask.shape).reshape(3, -1).T.astype(np.float64)
    lps = _ijk_to_lps(ijk, 2.0)
    x, y, z = lps[:, 0], lps[:, 1], lps[:, 2]  # LPS: y > 0 is posterior
    g, w, d = gm.ravel(), wm.ravel(), depth.ravel()
    csf = np.clip(brain - gm - wm, 0, 1).ravel()
    # Supratentorial: above the tentorium (roughly z > -12 at the back, z > -30 in front).
    supra = (z > -12.0) | ((z > -32.0) & (y < 10.0))
    ventricle = (csf > 0.5) & (d > 18.0)
    near_ventricle = ndi.binary_dilation(ventricle.reshape(mask.shape), iterations=4).ravel()
    sites = {
        # GBM: hemispheric white matter, away from the cortex.
        "deep_white": supra & (w > 0.7) & (d > 14.0) & (np.abs(x) > 8.0),
        # LGG: cortex / white matter, frontal-temporal-insular predominance.
        "cortical_white": supra & (g + w > 0.9) & (d > 8.0) & (d < 28.0) & (np.abs(x) > 10.0),
        # Metastasis: grey/white junction.
        "junction": supra & (np.abs(g - w) < 0.3) & (g + w > 0.85) & (d > 6.0) | (
            ~supra & (z > -55.0) & (np.abs(g - w) < 0.3) & (d > 8.0)),
        # Lymphoma: deep grey matter, periventricular white matter, corpus callosum.
        "periventricular": supra & near_ventricle & (g + w > 0.8) & (d > 15.0),
    }
    out = {name: lps[m].astype(np.float32) for name, m in sites.items()}
    # Meningioma: convexity surface points and the falx (midline, upper half).
    smooth = ndi.gaussian_filter(mask.astype(np.float32), 1.5)
    grad = np.stack(np.gradient(smooth), axis=-1).reshape(-1, 3) * np.array([-1.0, -1.0, 1.0])  # LPS
    edge = (mask & ~ndi.binary_erosion(mask)).ravel()
    convexity = edge & (z > 0.0) & (np.linalg.norm(grad, axis=1) > 1e-3)
    normals = grad[convexity] / np.linalg.norm(grad[convexity], axis=1, keepdims=True)
    falx = (np.abs(x) < 2.5) & (z > 15.0) & (d < 40.0) & (np.abs(y + 10.0) < 45.0) & (csf > 0.3)
    out["surface"] = lps[convexity].astype(np.float32)
    out["falx"] = lps[falx].astype(np.float32)
    normals_out = {
        "surface": normals.astype(np.float32),  # gradient of the mask points into the brain
        "falx": np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (int(falx.sum()), 1)),  # side chosen per case
    }
    return out, normals_out


@functools.lru_cache(maxsize=2)
def mni_maps(resolution: int = 1) -> MNIMaps:
    """Cached MNI tissue maps at 1 or 2 mm (the 2 mm copy is a 2x2x2 block average)."""
    gm, wm, brain = _load_mni_arrays()
    if resolution == 2:
        gm, wm, brain = (_block_average(a, 2) for a in (gm, wm, brain))
    elif resolution != 1:
        raise ValueError(f"MNI maps exist at 1 or 2 mm, not {resolution} mm; pass 1 or 2.")
    sites, normals = lesion_sites()
    nz = np.nonzero(brain > 0.5)
    lo = np.array([n.min() for n in nz], float)
    hi = np.array([n.max() for n in nz], float)
    corners = _ijk_to_lps(np.array([lo, hi]), float(resolution))
    bbox = (tuple(corners.min(axis=0)), tuple(corners.max(axis=0)))
    mask = brain > 0.5
    edge = np.argwhere(mask & ~ndi.binary_erosion(mask))
    hull = _ijk_to_lps(edge.astype(float), float(resolution))
    return MNIMaps(_to_image(gm, resolution), _to_image(wm, resolution), _to_image(brain, resolution),
                   bbox, hull, sites, normals)


@functools.lru_cache(maxsize=1)
def lesion_sites() -> tuple[dict, dict]:
    """Cached candidate lesion centres (LPS mm) per site and the inward surface normals."""
    return _lesion_sites(*(_block_average(a, 2) for a in _load_mni_arrays()))


# --------------------------------------------------------------------------- transforms


def random_affine(rng: np.random.Generator, max_rotation_deg: float = 8.0, max_scale: float = 0.08,
                  max_shift_mm: float = 5.0) -> dict:
    """Draw affine parameters (JSON-serialisable): Euler angles (rad), scales, shift (mm)."""
    return {
        "angles_rad": [float(a) for a in rng.uniform(-1, 1, 3) * np.deg2rad(max_rotation_deg)],
        "scales": [float(s) for s in 1.0 + rng.uniform(-1, 1, 3) * max_scale],
        "shift_mm": [float(t) for t in rng.uniform(-1, 1, 3) * max_shift_mm],
    }


def affine_matrix(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """(M, t) with ``mni = M @ p + t`` for an output point ``p`` (LPS mm)."""
    ax, ay, az = params["angles_rad"]
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    m = rz @ ry @ rx @ np.diag(params["scales"])
    return m, np.asarray(params["shift_mm"], float)


@dataclass
class OutputGrid:
    """An identity-direction LPS grid: origin (mm, x y z), spacing (mm, x y z), size (x y z)."""

    origin: tuple
    spacing: tuple
    size: tuple

    def reference(self) -> sitk.Image:
        image = sitk.Image([int(s) for s in self.size], sitk.sitkUInt8)
        image.SetOrigin(self.origin)
        image.SetSpacing(self.spacing)
        return image

    @property
    def shape_zyx(self) -> tuple:
        return tuple(int(s) for s in self.size[::-1])

    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Physical x, y, z coordinates (mm) of the voxel centres along each axis."""
        return tuple(np.asarray(self.origin[i] + self.spacing[i] * np.arange(self.size[i]), np.float32)
                     for i in range(3))


def output_grid(points_lps: np.ndarray, spacing, margin_mm: float = 3.0) -> OutputGrid:
    """An identity-direction grid covering ``points_lps`` (N, 3 mm) plus a margin."""
    spacing = np.broadcast_to(np.asarray(spacing, float), (3,))
    lo_o, hi_o = points_lps.min(axis=0) - margin_mm, points_lps.max(axis=0) + margin_mm
    # Snap the origin to a multiple of the spacing so grids of one spacing nest nicely.
    origin = np.floor(lo_o / spacing) * spacing
    size = np.ceil((hi_o - origin) / spacing).astype(int) + 1
    return OutputGrid(tuple(float(o) for o in origin), tuple(float(s) for s in spacing), tuple(int(s) for s in size))


def elastic_field(rng: np.random.Generator, size_xyz: tuple, cell_mm: float, amplitude_mm: float,
                  correlation_mm: float = 20.0) -> np.ndarray:
    """Smooth random displacement (z, y, x, 3) in mm on the coarse grid; RMS about ``amplitude_mm``."""
    shape = tuple(size_xyz[::-1]) + (3,)
    noise = rng.standard_normal(shape)
    sigma = correlation_mm / cell_mm
    field = np.stack([ndi.gaussian_filter(noise[..., i], sigma, mode="nearest") for i in range(3)], axis=-1)
    rms = np.sqrt(np.mean(field**2)) + 1e-12
    return field * (amplitude_mm / rms)


def resample_maps(maps: MNIMaps, grid: OutputGrid, m: np.ndarray, t: np.ndarray, field_zyx3: np.ndarray,
                  field_origin: np.ndarray, cell_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GM, WM, brain (float32 arrays, z y x) on ``grid`` through ``A(p + d(p))``."""
    affine = sitk.AffineTransform(3)
    affine.SetMatrix([float(v) for v in m.ravel()])
    affine.SetTranslation([float(v) for v in t])
    field = sitk.GetImageFromArray(field_zyx3.astype(np.float64), isVector=True)
    field.SetOrigin([float(v) for v in field_origin])
    field.SetSpacing((cell_mm,) * 3)
    displacement = sitk.DisplacementFieldTransform(field)
    # ITK composite transforms apply the last one first: p -> p + d(p) -> A(.)
    transform = sitk.CompositeTransform([affine, displacement])
    reference = grid.reference()
    return tuple(sitk.GetArrayFromImage(sitk.Resample(image, reference, transform, sitk.sitkLinear, 0.0,
                                                      sitk.sitkFloat32))
                 for image in (maps.gm, maps.wm, maps.brain))


def bias_profiles(rng: np.random.Generator, grid: OutputGrid, strength: float) -> tuple:
    """Log bias field as three 1-D profiles (z, y, x): the field is their outer sum.

    Each profile is a random quadratic over the head, so the multiplicative field
    ``exp(z(z) + y(y) + x(x))`` varies smoothly by about ±strength. Separable, so applying
    it costs three broadcast multiplications.
    """
    out = []
    for axis in (2, 1, 0):
        a = grid.axes_mm()[axis]
        u = (a - a.mean()) / 80.0
        c1, c2 = rng.uniform(-1, 1, 2) * strength / 2.0
        out.append((c1 * u + c2 * u * u).astype(np.float32))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def ventricle_centres() -> np.ndarray:
    """Centroids (2, 3) in LPS mm of the left and right lateral ventricles: the deep CSF
    (more than 18 mm from the brain surface) of the 2 mm maps, split at the midline."""
    gm, wm, brain = (_block_average(a, 2) for a in _load_mni_arrays())
    depth = ndi.distance_transform_edt(brain > 0.5) * 2.0
    deep = (np.clip(brain - gm - wm, 0.0, 1.0) > 0.5) & (depth > 18.0)
    lps = _ijk_to_lps(np.argwhere(deep).astype(float), 2.0)
    return np.stack([lps[lps[:, 0] < 0].mean(axis=0), lps[lps[:, 0] >= 0].mean(axis=0)])


def smooth_field(rng: np.random.Generator, shape: tuple, cells: int) -> np.ndarray:
    """A smooth random field (float32, ``shape``, zero mean, unit standard deviation) with
    about ``cells`` independent values along each axis: Gaussian noise on a coarse
    ``cells``^3 grid, interpolated by a separable smooth kernel (three small matrix
    products, so it costs little even on a full-resolution grid)."""
    coarse = rng.standard_normal((cells,) * 3)
    matrices = []
    for n in shape:
        position = (np.arange(n) + 0.5) / n * cells - 0.5  # coarse coordinate of each voxel
        weights = np.exp(-0.5 * ((position[:, None] - np.arange(cells)[None, :]) / 0.6) ** 2)
        matrices.append(weights / weights.sum(axis=1, keepdims=True))
    field = np.tensordot(matrices[0], coarse, axes=(1, 0))            # (n0, c, c)
    field = np.tensordot(field, matrices[1], axes=(1, 1))             # (n0, c, n1)
    field = np.tensordot(field, matrices[2], axes=(1, 1))             # (n0, n1, n2)
    field -= field.mean()
    return (field / (field.std() + 1e-12)).astype(np.float32)
