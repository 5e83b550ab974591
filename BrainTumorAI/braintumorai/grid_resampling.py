"""Resampling between two grids that are axis-aligned to each other, one axis at a time.

The model grid has the identity direction, and nearly every scan is stored axis-aligned
too (BraTS, most NIfTI and NRRD exports; flipped or permuted axes included). Between two
such grids each output index reads one input axis only, through the exact index-to-index
affine ``c = scale * i + offset``; so linear interpolation (and the model grid's 2x2x2 box
of linear samples, and nearest neighbour) factor into three 1-D steps of two (or four)
taps each. Done in numpy, that is the same arithmetic as ITK's ``ResampleImageFilter``,
with ITK's rules (inside when ``-0.5 <= c < n - 0.5``, neighbours clamped at the border,
nearest rounds half up), but several times faster: no per-voxel transform, several maps
in one pass, and no work on output rows that can only be 0 (outside the other grid, or
reading input rows that are 0, as a saliency map is outside the brain).

Oblique grids (a rotation between the two) return None: the callers then use ITK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import SimpleITK as sitk

# Largest continuous-index error (voxels) tolerated from ignoring an off-axis coupling.
_AXIS_TOLERANCE_VOXELS = 1e-4

LINEAR, NEAREST, BOX2 = "linear", "nearest", "box2"


@dataclass(frozen=True)
class AxisStep:
    """One output numpy axis: it reads input numpy axis ``source_axis`` through ``taps``
    (indices, int64 ``(n_out, K)``) and ``weights`` (float32 ``(n_out, K)``; a row of zeros
    is outside the input grid)."""

    source_axis: int
    taps: np.ndarray
    weights: np.ndarray


def index_affine(source: sitk.Image, target: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """``(M, b)`` with ``source continuous index = M @ target index + b`` (ITK x, y, z order),
    computed as ITK does (physical point, then the inverse of direction x spacing)."""
    def matrix(image):
        return np.asarray(image.GetDirection(), float).reshape(3, 3) @ np.diag(image.GetSpacing())

    to_source = np.linalg.inv(matrix(source))
    return (to_source @ matrix(target),
            to_source @ (np.asarray(target.GetOrigin(), float) - np.asarray(source.GetOrigin(), float)))


def plan(source: sitk.Image, target: sitk.Image, mode: str = LINEAR) -> Optional[list[AxisStep]]:
    """The three 1-D steps (output numpy axes z, y, x) from ``source``'s grid onto ``target``'s,
    or None when the grids are not axis-aligned to each other (or not 3-D)."""
    if source.GetDimension() != 3 or target.GetDimension() != 3:
        return None
    affine, offset = index_affine(source, target)
    source_size, target_size = source.GetSize(), target.GetSize()
    steps = []
    for numpy_axis in range(3):
        k = 2 - numpy_axis  # the target's ITK axis
        column = affine[:, k]
        a = int(np.argmax(np.abs(column)))  # the source's ITK axis it reads
        off_axis = np.delete(column, a)
        if np.abs(off_axis).max(initial=0.0) * max(target_size) > _AXIS_TOLERANCE_VOXELS:
            return None
        if any(abs(affine[a, other]) * max(target_size) > _AXIS_TOLERANCE_VOXELS for other in range(3) if other != k):
            return None
        index = np.arange(target_size[k], dtype=np.float64)
        # The offset along source axis a collects what the other target axes contribute at index 0.
        if mode == NEAREST and _has_ties(column[a] * index + offset[a]):
            return None
        taps, weights = _taps(column[a], offset[a], index, source_size[a], mode)
        steps.append(AxisStep(2 - a, taps, weights))
    if sorted(step.source_axis for step in steps) != [0, 1, 2]:
        return None
    return steps


def _has_ties(c: np.ndarray) -> bool:
    """Whether a nearest-neighbour coordinate lies half-way between two voxels, where the
    choice rests on rounding: ITK's own arithmetic then decides (the caller falls back)."""
    return bool(np.any(np.abs(c - np.floor(c) - 0.5) < 1e-6))


def _taps(scale: float, offset: float, index: np.ndarray, n: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    if mode == NEAREST:
        c = scale * index + offset
        inside = (c >= -0.5) & (c < n - 0.5)
        taps = np.clip(np.floor(c + 0.5), 0, n - 1).astype(np.int64)[:, None]
        return taps, inside.astype(np.float32)[:, None]
    if mode == LINEAR:
        return _linear(scale * index + offset, n)
    if mode == BOX2:  # the mean of two linear samples a quarter of an output voxel either side
        low, high = _linear(scale * (index - 0.25) + offset, n), _linear(scale * (index + 0.25) + offset, n)
        return np.concatenate([low[0], high[0]], 1), 0.5 * np.concatenate([low[1], high[1]], 1)
    raise ValueError(f"unknown mode {mode!r}")


def _linear(c: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """ITK's linear interpolation along one axis: two clamped neighbours, 0 outside."""
    inside = (c >= -0.5) & (c < n - 0.5)
    base = np.floor(c)
    fraction = c - base
    base = base.astype(np.int64)
    taps = np.stack([np.clip(base, 0, n - 1), np.clip(base + 1, 0, n - 1)], 1)
    weights = np.stack([1.0 - fraction, fraction], 1) * inside[:, None]
    return taps, weights.astype(np.float32)


def apply(steps: list[AxisStep], array: np.ndarray, skip_zero_input: bool = False) -> np.ndarray:
    """Resample ``array`` (``(..., z, y, x)`` on the source grid; leading axes are channels
    resampled alike) through ``steps``; float32 out (``NEAREST``: the input's type).

    ``skip_zero_input``: output rows whose taps read only all-zero input rows are left 0
    without computing them (worth its pass over the input for sparse maps)."""
    lead = array.ndim - 3
    source_axes = [lead + step.source_axis for step in steps]
    work = np.transpose(array, list(range(lead)) + source_axes)  # a view: axis j now holds what step j reads
    if work.dtype != np.float32 and steps[0].weights.shape[1] > 1:
        work = work.astype(np.float32)
    full_shape = work.shape[:lead] + tuple(step.taps.shape[0] for step in steps)
    # Shrinking axes first, so the expanding ones work on the smallest array.
    order = sorted(range(3), key=lambda j: steps[j].taps.shape[0] / max(1, work.shape[lead + j]))
    if skip_zero_input:
        # Input rows along each axis that hold a non-zero value, found once on the input: a row
        # that is all 0 stays all 0 while the other axes are resampled.
        nonzero = [np.any(work != 0, axis=tuple(a for a in range(work.ndim) if a != lead + j)) for j in range(3)]
    kept = [slice(None)] * (lead + 3)
    for j in order:
        step, axis = steps[j], lead + j
        useful = np.any(step.weights != 0, 1)
        if skip_zero_input:
            useful &= np.any(nonzero[j][step.taps] & (step.weights != 0), 1)
        rows = np.flatnonzero(useful)
        if rows.size == 0:
            return np.zeros(full_shape, work.dtype)
        first, last = int(rows[0]), int(rows[-1]) + 1
        kept[axis] = slice(first, last)
        work = _one_axis(work, axis, step.taps[first:last], step.weights[first:last])
    out = np.zeros(full_shape, work.dtype)
    out[tuple(kept)] = work
    return out


def _one_axis(work: np.ndarray, axis: int, taps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    shape = [1] * work.ndim
    shape[axis] = -1
    if taps.shape[1] == 1:  # nearest: a selection; rows outside the input are 0
        out = np.take(work, taps[:, 0], axis)
        if not weights.all():
            index = [slice(None)] * work.ndim
            index[axis] = weights[:, 0] == 0
            out[tuple(index)] = 0
        return out
    out = None
    for k in range(taps.shape[1]):
        if not weights[:, k].any():
            continue
        term = np.take(work, taps[:, k], axis)
        term *= weights[:, k].reshape(shape)
        out = term if out is None else np.add(out, term, out=out)
    return out
