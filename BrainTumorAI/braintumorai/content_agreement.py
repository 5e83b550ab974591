"""Do the volumes of a study agree in content, not only in their headers?

Headers can agree while the content does not: the same file given as two modalities, a
volume whose voxels are mirrored left-right, a header moved by 25 mm or turned by 20
degrees (measured in issue 15: accepted, maps 14-53 mm off the tumour, no word of doubt).
And a study can line up perfectly and still hold only part of the brain (a slab, the
superior half, a crop), which the model cannot judge. Checked here, on the reference grid
of an aligned study:

- *same content*: two modalities with identical voxels (a content hash): refused;
- *alignment*: the normalised mutual information (NMI) of each volume with the reference
  at its header's place is compared with the NMI after small moves (10 and 20 mm along each
  axis, 10 and 20 degrees about each, a left-right mirror about the brain's centre). On a
  co-registered study the header's place is the best of these (phantoms and the real
  studies: every move loses NMI); a volume whose content fits the reference clearly better
  moved or mirrored is refused, naming the move;
- *coverage*: the brain cut by the reference's field of view (its cross-section at a face of
  the field is a large share of its largest one), or a volume whose field holds only part of
  the brain: warned about, and the prediction set is widened (``Finding.widen``); a brain cut
  along all three axes (a crop inside the brain) is refused.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from .plausibility import Finding, cut_faces

# Coarse grid of the alignment check (mm): the moves tested are 10-20 mm.
_COARSE_MM = 5.0
_BINS = 32
_SHIFTS_MM = (10.0, 20.0)
_ANGLES_DEG = (10.0, 20.0)
# A move must raise the NMI's excess over 1 by this share to count as a better fit
# (co-registered phantoms and real studies: every move lowers it; see the README).
MIN_NMI_GAIN = 0.2
# A volume whose field holds less than this share of the brain does not cover it.
MIN_BRAIN_COVERED = 0.9

_AXES = ("left-right", "front-back", "foot-head")


def _hash(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


def duplicate_findings(images: Mapping[str, sitk.Image], names: Mapping[str, str]) -> list[Finding]:
    """Two or more modalities with identical voxels on the reference grid: refused. Every
    97th voxel is hashed first; only volumes whose samples agree are hashed whole (the
    same answer as hashing every volume whole, at a fraction of the cost)."""
    by_sample: dict[str, list[str]] = {}
    for modality, image in images.items():
        by_sample.setdefault(_hash(sitk.GetArrayViewFromImage(image).ravel()[::97]), []).append(modality)
    seen: dict[str, list[str]] = {}
    for candidates in by_sample.values():
        if len(candidates) > 1:
            for modality in candidates:
                seen.setdefault(_hash(sitk.GetArrayViewFromImage(images[modality])), []).append(modality)
    findings = []
    for group in seen.values():
        if len(group) > 1:
            named = [f"{m} ('{names.get(m, m)}')" for m in group]
            listed = ", ".join(named[:-1]) + " and " + named[-1]
            findings.append(Finding(group[0], True, (
                f"{listed} hold the same voxels (one volume given as {len(group)} modalities); give each modality "
                "its own volume.")))
    return findings


def _bins(values: np.ndarray) -> np.ndarray:
    """``values`` clipped to their 0.5-99.5 percentiles (one stray voxel, 1e6 in a 0-1000 image,
    would otherwise put every other voxel into the first bin), as bin numbers 0.._BINS-1 over
    their range (numpy's histogram bins)."""
    low, high = np.percentile(values, [0.5, 99.5])
    if not high > low:
        return np.zeros(values.shape, np.intp)
    index = ((np.clip(values, low, high) - low) * (_BINS / (high - low))).astype(np.intp)
    return np.minimum(index, _BINS - 1, out=index)


def _nmi_of_bins(a: np.ndarray, b: np.ndarray) -> float:
    joint = np.bincount(a * _BINS + b, minlength=_BINS * _BINS).reshape(_BINS, _BINS).astype(float)

    def entropy(p):
        p = p[p > 0] / p.sum()
        return float(-(p * np.log(p)).sum())

    hj = entropy(joint.ravel())
    return (entropy(joint.sum(axis=1)) + entropy(joint.sum(axis=0))) / hj if hj > 0 else 1.0


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information (H(a) + H(b)) / H(a, b) of two samples (1: independent, 2: one
    determines the other), over _BINS bins of each one's 0.5-99.5 percentile range."""
    return _nmi_of_bins(_bins(np.asarray(a, float)), _bins(np.asarray(b, float)))


def _coarse_grid(reference: sitk.Image) -> sitk.Image:
    size = [max(8, int(round(n * s / _COARSE_MM))) for n, s in zip(reference.GetSize(), reference.GetSpacing())]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetDirection(reference.GetDirection())
    grid.SetSpacing((_COARSE_MM,) * 3)
    grid.SetOrigin(reference.TransformContinuousIndexToPhysicalPoint([-0.5 + _COARSE_MM / (2 * s)
                                                                      for s in reference.GetSpacing()]))
    return grid


def _moves(centre) -> list[tuple[str, sitk.Transform]]:
    """(description, transform) of each move tried; transforms map reference points to the moved volume's."""
    moves = []
    mirror = sitk.AffineTransform(3)
    mirror.SetMatrix([-1.0, 0, 0, 0, 1, 0, 0, 0, 1])
    mirror.SetCenter(list(centre))
    moves.append(("mirrored left-right", mirror))
    for axis in range(3):
        for shift in _SHIFTS_MM:
            for sign in (-1.0, 1.0):
                offset = [0.0, 0.0, 0.0]
                offset[axis] = sign * shift
                moves.append((f"moved {sign * shift:+g} mm along the {_AXES[axis]} axis",
                              sitk.TranslationTransform(3, offset)))
        for angle in _ANGLES_DEG:
            for sign in (-1.0, 1.0):
                rotation = sitk.Euler3DTransform()
                rotation.SetCenter(list(centre))
                angles = [0.0, 0.0, 0.0]
                angles[axis] = np.deg2rad(sign * angle)
                rotation.SetRotation(*angles)
                moves.append((f"turned {sign * angle:+g} degrees about the {_AXES[axis]} axis", rotation))
    return moves


def brain_centre(reference: sitk.Image, brain_mask: sitk.Image) -> tuple:
    """The brain mask's centre of mass (LPS mm); the reference's centre for an empty mask.
    From the mask's projections onto the axes (no list of millions of voxel indices)."""
    mask = sitk.GetArrayViewFromImage(brain_mask) > 0
    count = np.count_nonzero(mask)
    if not count:
        return reference.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in reference.GetSize()])
    centre_zyx = [float((np.count_nonzero(mask, axis=tuple(a for a in range(3) if a != axis)) * np.arange(n)).sum())
                  / count for axis, n in enumerate(mask.shape)]
    return reference.TransformContinuousIndexToPhysicalPoint(centre_zyx[::-1])


def alignment_scores(image: sitk.Image, reference: sitk.Image, brain_mask: sitk.Image,
                     centre: Optional[Sequence[float]] = None) -> dict[str, float]:
    """NMI of ``image`` with ``reference`` (both on the reference grid) as placed ('as given')
    and after each move of :func:`_moves` about ``centre`` (LPS mm; default the brain's
    centre), on a 5 mm grid. The reference is binned once, over all its voxels on that grid."""
    grid = _coarse_grid(reference)
    nan = float("nan")
    fixed = sitk.GetArrayFromImage(sitk.Resample(reference, grid, sitk.Transform(), sitk.sitkLinear, nan)).ravel()
    fixed_finite = np.isfinite(fixed)
    fixed_bins = np.zeros(fixed.shape, np.intp)
    if fixed_finite.any():
        fixed_bins[fixed_finite] = _bins(fixed[fixed_finite].astype(float))
    centre = brain_centre(reference, brain_mask) if centre is None else centre
    scores = {}
    for description, transform in [("as given", sitk.Transform())] + _moves(centre):
        moved = sitk.Resample(image, grid, transform, sitk.sitkLinear, nan)
        moving = sitk.GetArrayViewFromImage(moved).ravel()
        both = np.isfinite(moving) & fixed_finite
        scores[description] = (_nmi_of_bins(fixed_bins[both], _bins(moving[both].astype(float)))
                               if np.count_nonzero(both) > 1000 else nan)
    return scores


def alignment_findings(images: Mapping[str, sitk.Image], reference: str, brain_mask: sitk.Image,
                       names: Mapping[str, str]) -> list[Finding]:
    """Each volume whose content fits the reference clearly better moved or mirrored: refused."""
    findings = []
    centre = brain_centre(images[reference], brain_mask)
    others = [m for m in images if m != reference]
    # Side by side: SimpleITK's resampling and numpy's sorting release the GIL.
    with ThreadPoolExecutor(max_workers=min(len(others), os.cpu_count() or 1) or 1) as pool:
        all_scores = list(pool.map(lambda m: alignment_scores(images[m], images[reference], brain_mask, centre),
                                   others))
    for modality, scores in zip(others, all_scores):
        given = scores.pop("as given")
        if not np.isfinite(given):
            continue
        best = max(scores, key=lambda k: -np.inf if not np.isfinite(scores[k]) else scores[k])
        if scores[best] - 1.0 > (given - 1.0) * (1.0 + MIN_NMI_GAIN):
            hint = ("check its left-right orientation (a mirrored volume cannot be registered)"
                    if best.startswith("mirrored")
                    else "check its header, or register it to the reference (--register)")
            findings.append(Finding(modality, True, (
                f"{modality} ('{names.get(modality, modality)}') does not line up with the reference {reference} in "
                f"content: it fits it better {best} (mutual information {scores[best]:.3f} against {given:.3f} as "
                f"placed); {hint}.")))
    return findings


def coverage_findings(given: Mapping[str, sitk.Image], reference: str, brain_mask: sitk.Image,
                      names: Mapping[str, str]) -> list[Finding]:
    """Does the study hold the whole brain? ``given``: the volumes as given (their own fields),
    ``brain_mask`` on the reference grid."""
    mask = sitk.GetArrayViewFromImage(brain_mask) > 0
    if not mask.any():
        return []
    findings = []
    faces = cut_faces(mask)
    name = f"{reference} ('{names.get(reference, reference)}')"
    if faces:
        direction = np.asarray(brain_mask.GetDirection()).reshape(3, 3)
        described = []
        for axis, side in faces:
            column = direction[:, 2 - axis] * (1.0 if side == "high" else -1.0)  # numpy axis -> ITK index axis
            lps = int(np.argmax(np.abs(column)))
            described.append((("left", "right"), ("posterior", "anterior"), ("superior", "inferior"))[lps][
                0 if column[lps] > 0 else 1])
        cut_axes = {axis for axis, _ in faces}
        where = " and ".join(sorted(set(described)))
        if len(cut_axes) == 3:
            findings.append(Finding(reference, True, (
                f"{name} holds only a part of the brain (cut by its field of view on the {where} sides); give "
                "volumes that cover the whole brain.")))
            return findings
        sides = "sides" if len(set(described)) > 1 else "side"
        findings.append(Finding(reference, False, (
            f"{name} does not cover the whole brain (it is cut by the field of view on the {where} {sides}); the "
            "model was not made for a part of the brain, so the prediction set was widened and the answer may be "
            "off."), widen=True))
    points = _brain_points(brain_mask, mask)
    for modality, image in given.items():
        if modality == reference:
            continue
        share = float(np.mean(_inside_field(image, points)))
        if share < MIN_BRAIN_COVERED:
            findings.append(Finding(modality, False, (
                f"{modality} ('{names.get(modality, modality)}') covers only {100 * share:.0f} % of the brain; the "
                "model was not made for a part of the brain, so the prediction set was widened and the answer may "
                "be off."), widen=True))
    return findings


def _brain_points(brain_mask: sitk.Image, mask: np.ndarray) -> np.ndarray:
    """(n, 3) LPS points (mm) of every second brain voxel along each axis: the share of the
    brain a field holds, to a fraction of a percent, from an eighth of the voxels."""
    zyx = np.nonzero(mask[::2, ::2, ::2])
    ijk = np.stack([2 * zyx[2], 2 * zyx[1], 2 * zyx[0]], axis=1).astype(float)
    matrix = np.asarray(brain_mask.GetDirection()).reshape(3, 3) * np.asarray(brain_mask.GetSpacing())
    return ijk @ matrix.T + np.asarray(brain_mask.GetOrigin())


def _inside_field(image: sitk.Image, points: np.ndarray) -> np.ndarray:
    """Which ``points`` lie in ``image``'s field (its voxels, each half a voxel wide around its
    centre, as nearest-neighbour resampling reads it)."""
    matrix = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    index = (points - np.asarray(image.GetOrigin())) @ np.linalg.inv(matrix).T
    return np.all((index >= -0.5) & (index < np.asarray(image.GetSize()) - 0.5), axis=1)


def agreement_findings(given: Mapping[str, sitk.Image], aligned: Mapping[str, sitk.Image], reference: str,
                       brain_mask: sitk.Image, names: Optional[Mapping[str, str]] = None,
                       content: Sequence[Finding] = ()) -> list[Finding]:
    """This module's findings merged with the per-volume ``content`` findings
    (:func:`braintumorai.plausibility.content_findings`), in the order a refusal should be
    told: the same volume twice, then what is wrong with one volume, then a study that does
    not cover the brain, then a volume that does not line up (checked only when nothing
    else is refused); warnings last.

    ``given``: the volumes as given (their own fields); ``aligned``: on the reference grid,
    as ``brain_mask``.
    """
    names = names or {}
    content = list(content)
    coverage = coverage_findings(given, reference, brain_mask, names)
    findings = (duplicate_findings(aligned, names) + [f for f in content if f.refuse] + coverage
                + [f for f in content if not f.refuse])
    if not any(f.refuse for f in findings):
        findings += alignment_findings(aligned, reference, brain_mask, names)
    return sorted(findings, key=lambda f: not f.refuse)  # stable: the order above among refusals
