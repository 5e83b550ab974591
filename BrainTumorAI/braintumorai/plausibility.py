"""Is this a brain volume, of the modality it was given as? Checks before the model judges it.

A confident answer on a volume the model cannot judge is the worst failure, so every
study is checked before the network sees it (``Classifier.predict`` and ``inspect``):

- geometry, per volume as given: voxel spacing a scanner can produce, and a field of
  view that can hold a head;
- content, per modality on the reference grid inside the brain mask: an image rather
  than noise or a label map, a brain of plausible size, and intensities of the kind the
  modality has (CT in Hounsfield units, MRI magnitudes that are not negative and whose
  tissue contrast fits T1 or T2, PET brighter in the brain than around it).

Each finding is one sentence naming the volume; a *refusal* stops the run with an
``InputError``, a *warning* goes into the result's ``warnings``. The thresholds below
were set from data (``benchmarks/plausibility_survey.py``: phantoms of every modality,
class and spacing from 1 to 3 mm, and the real BraTS sample) with a margin beyond
anything seen there; the README's "Bad input" section lists the measured ranges.

Content features are computed on a strided sample (about 100 000 voxels) of each
volume, so the checks cost a few milliseconds per volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .modalities import MRI_MODALITIES

# --- geometry (refusals) -------------------------------------------------------------
# Clinical and research scanners produce 0.2 mm (high-resolution in-plane) to about
# 7 mm (thick clinical slices); anything outside is a wrong header.
SPACING_RANGE_MM = (0.2, 8.0)
# An adult brain is 140 x 170 x 120 mm; a field narrower than this along any axis
# holds a slab of it at most (phantoms: >= 141 mm; the real sample 240 x 240 x 155 mm).
MIN_FIELD_OF_VIEW_MM = 60.0
# Larger than a head and neck: a body scan (warning: crop it to the head).
MAX_FIELD_OF_VIEW_MM = 500.0

# --- content, any modality -----------------------------------------------------------
# Pearson correlation of neighbouring voxels along the finest axis, over the whole field:
# an image of a head is smooth at the voxel scale (its content against the background),
# noise is not (phantoms 0.88-0.99 at 1-3 mm, the real sample 0.96-0.99; white noise about
# 0). Below: refused as not an image of a brain. (Inside the brain alone the figure is too
# low for a uniform CT at 3 mm, down to 0.26, to separate noise.)
MIN_NEIGHBOUR_CORRELATION = 0.5
# That figure owes much to the head against its background; a crop inside the brain has no
# background (a phantom's 96 mm crop at 8 mm: 0.46), so there only white noise's level reads
# as noise, and the crop is refused for what it is (content_agreement.coverage_findings).
MIN_NEIGHBOUR_CORRELATION_IN_A_CROP = 0.2
# A label map or a mask has a handful of values; an MRI, CT or PET has hundreds.
MIN_DISTINCT_VALUES = 16
# Brain (mask) volume: phantoms 1540-2380 mL, the real sample 1640 mL; a head with skull
# reaches about 4000 mL. Outside this range the mask is not a brain: warning.
BRAIN_VOLUME_RANGE_ML = (400.0, 4500.0)

# --- CT (Hounsfield units) -----------------------------------------------------------
# Brain tissue 20-45 HU, oedema lower, blood and hyperdense tumour up to 80: the brain
# median of a CT lies in this range (phantoms 28-35 HU); an MRI or PET does not.
CT_BRAIN_MEDIAN_HU = (-10.0, 90.0)
# Air or background at -1000 HU, bone above 300 HU: a CT in HU has one or both.
CT_AIR_HU, CT_BONE_HU = -500.0, 300.0

# --- MRI ---------------------------------------------------------------------------------
# Magnitude MRI is not negative; a share of negative brain voxels above this (phantoms:
# 0, the real sample: 0) means a filtered, z-scored or inverted volume: warning.
MRI_NEGATIVE_SHARE_WARN = 0.01
# Tissue contrast from the brain histogram: tail ratio = (p99 - p50) / (p50 - p1).
# T1: CSF is the dark tail (0.23-0.75 in 900 phantoms, 0.58 real); T2: CSF is the bright
# tail (0.96-14 in phantoms, the lowest a treated glioblastoma at 3 mm; 3.5 real). A T1
# with a T2-like ratio, or the reverse, is probably mislabelled or swapped: warning.
# (T1C and FLAIR overlap both, 0.13-4.3: not checked.) The T2 bound was 1.0 until a
# fresh follow-up phantom came out at 0.96.
T1_MAX_TAIL_RATIO = 1.5
T2_MIN_TAIL_RATIO = 0.85
# With the head kept, scalp fat, vessels and contrast give a T1 a bright tail too (a real
# T1 spin-echo after gadolinium, head kept: 2.26), so a lone T1 is judged by its tail only
# when skull-stripped. When both T1 and T2 are given they are compared with each other
# instead: the T2's tail is the brighter (real studies 1.5-3.5 against 0.4-0.75; phantoms
# 0.96-14 against 0.23-0.75), so a T1 with the brighter tail means the two are swapped.
# A saturated window: this share of the brain at the volume's brain maximum (a real MRI: a
# handful of voxels; clipped at the 60th percentile: 40 %) means the bright tissue is lost.
MAX_SATURATED_SHARE = 0.05

# --- PET ---------------------------------------------------------------------------------
# FDG uptake in the brain is several times that around it; a PET whose brain median is
# not above this multiple of the surrounding median has no brain-to-background contrast.
PET_MIN_BRAIN_TO_BACKGROUND = 1.5

# A brain whose cross-section at a face of the field is this share of its largest
# cross-section along that axis is cut by the field (a brainstem at the lowest slice: < 0.2).
CUT_FACE_SHARE = 0.35

# Strided sampling: about this many voxels per volume.
_SAMPLE_VOXELS = 100_000


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one volume: ``refuse`` stops the run, else it is a warning;
    ``widen``: a warning about an input the model cannot fully judge (part of the brain),
    for which the prediction set is widened."""

    modality: str
    refuse: bool
    sentence: str
    widen: bool = False


def geometry_findings(images: Mapping[str, sitk.Image], names: Optional[Mapping[str, str]] = None) -> list[Finding]:
    """Spacing and field of view of each volume as given (before any resampling)."""
    names = names or {}
    findings = []
    low, high = SPACING_RANGE_MM
    for modality, image in images.items():
        name = names.get(modality, modality)
        spacing = np.asarray(image.GetSpacing(), float)
        if not np.all(np.isfinite(spacing)) or spacing.min() < low or spacing.max() > high:
            findings.append(Finding(modality, True, (
                f"{modality} ('{name}') has a voxel spacing of {_mm(spacing)} mm, outside the {low:g}-{high:g} mm "
                "that scanners produce; fix the spacing in the file's header or re-export the volume.")))
            continue
        extent = spacing * np.asarray(image.GetSize(), float)
        if extent.min() < MIN_FIELD_OF_VIEW_MM:
            findings.append(Finding(modality, True, (
                f"{modality} ('{name}') covers only {_mm(extent)} mm, too small to hold a head "
                f"(at least {MIN_FIELD_OF_VIEW_MM:g} mm along each axis is needed); give the whole brain volume.")))
        elif extent.max() > MAX_FIELD_OF_VIEW_MM:
            findings.append(Finding(modality, False, (
                f"{modality} ('{name}') covers {_mm(extent)} mm, more than a head; the brain mask may be wrong, "
                "so crop the volume to the head for a reliable answer.")))
    return findings


def _mm(values) -> str:
    return " x ".join(f"{v:.3g}" for v in values)


def _stride(shape) -> int:
    return max(1, int(np.ceil((np.prod(shape) / _SAMPLE_VOXELS) ** (1 / 3))))


def volume_features(array: np.ndarray, brain: np.ndarray, spacing_xyz) -> dict:
    """Content features of one volume (numpy ``(z, y, x)``) inside ``brain`` (bool, same shape).

    Returns a dict of floats: ``p1, p50, p99`` (brain percentiles), ``tail_ratio``,
    ``negative_share`` (brain voxels < 0), ``air_share`` / ``bone_share`` (all voxels
    <= -500 / >= 300), ``outside_median``, ``field_correlation`` (of neighbours along
    the finest axis, over the whole field), ``distinct_values`` (in a 20 000-voxel brain
    sample, capped there).
    """
    step = _stride(array.shape)
    sample = array[::step, ::step, ::step]
    inside = brain[::step, ::step, ::step]
    values = sample[inside]
    if values.size < 100:  # a tiny mask: judge the whole volume
        values, inside = sample.ravel(), np.ones_like(inside)
    p1, p50, p99 = (float(v) for v in np.percentile(values, [1, 50, 99]))
    outside = sample[~inside]
    below = p50 - p1
    return {
        "p1": p1, "p50": p50, "p99": p99,
        "tail_ratio": float((p99 - p50) / below) if below > 0 else float("inf"),
        "negative_share": float(np.count_nonzero(values < 0) / values.size),
        "air_share": float(np.count_nonzero(sample <= CT_AIR_HU) / sample.size),
        "bone_share": float(np.count_nonzero(sample >= CT_BONE_HU) / sample.size),
        "outside_median": float(np.median(outside)) if outside.size else float("nan"),
        "field_correlation": _neighbour_correlation(array, None, spacing_xyz, step),
        "distinct_values": float(np.unique(values[:: max(1, values.size // 20_000)]).size),
        "saturated_share": float(np.count_nonzero(values >= values.max()) / values.size),
    }


def _neighbour_correlation(array: np.ndarray, brain: Optional[np.ndarray], spacing_xyz, step: int) -> float:
    """Correlation of each sampled voxel (inside ``brain``; None: anywhere) with its next
    neighbour along the finest axis."""
    axis = int(np.argmin(spacing_xyz[::-1]))  # numpy axis (z, y, x) with the smallest spacing
    a = np.moveaxis(array, axis, -1)[::step, ::step]
    columns = np.arange(0, a.shape[-1] - 1, step)
    first, second = a[..., columns], a[..., columns + 1]
    if brain is not None:
        m = np.moveaxis(brain, axis, -1)[::step, ::step]
        both = m[..., columns] & m[..., columns + 1]
        first, second = first[both], second[both]
    x, y = first.astype(np.float64).ravel(), second.astype(np.float64).ravel()
    if x.size >= 100:
        # Clipped to the 0.1-99.9 percentiles: one stray voxel (1e6 in a 0-1000 image) would
        # otherwise dominate Pearson's sums and read as noise, but only where the stride hits it.
        low, high = np.percentile(np.concatenate([x, y]), [0.1, 99.9])
        x, y = np.clip(x, low, high), np.clip(y, low, high)
    if x.size < 100 or x.std() == 0 or y.std() == 0:
        return 1.0
    return float(np.corrcoef(x, y)[0, 1])


def cut_faces(mask: np.ndarray) -> list[tuple[int, str]]:
    """(numpy axis, side) of each face of the field where the brain is cut."""
    faces = []
    for axis in range(3):
        areas = np.count_nonzero(np.moveaxis(mask, axis, 0).reshape(mask.shape[axis], -1), axis=1)
        largest = areas.max() if areas.size else 0
        if largest == 0:
            continue
        for side, area in (("low", areas[0]), ("high", areas[-1])):
            if area > CUT_FACE_SHARE * largest:
                faces.append((axis, side))
    return faces


def brain_is_cropped(mask: np.ndarray) -> bool:
    """True when the brain (bool, numpy (z, y, x)) is cut by the field along all three axes."""
    return len({axis for axis, _ in cut_faces(mask)}) == 3


def content_findings(
    images: Mapping[str, sitk.Image], brain_mask: sitk.Image, names: Optional[Mapping[str, str]] = None,
    skull_stripped: bool = True,
) -> list[Finding]:
    """Content checks of volumes on one grid (the reference grid of an aligned study);
    ``skull_stripped``: False when the study came with the head (see ``T1_MAX_TAIL_RATIO``)."""
    names = names or {}
    brain = sitk.GetArrayViewFromImage(brain_mask) > 0
    spacing = brain_mask.GetSpacing()
    findings = []
    brain_ml = float(np.count_nonzero(brain)) * float(np.prod(spacing)) / 1000.0
    low, high = BRAIN_VOLUME_RANGE_ML
    if not low <= brain_ml <= high:
        findings.append(Finding("", False, (
            f"The brain mask holds {brain_ml:.0f} mL, outside the {low:.0f}-{high:.0f} mL of a brain or head; "
            "the volume may not be a whole brain or the mask estimate failed, so the answer may be off.")))
    features = {m: volume_features(sitk.GetArrayViewFromImage(image), brain, image.GetSpacing())
                for m, image in images.items()}
    noise = MIN_NEIGHBOUR_CORRELATION_IN_A_CROP if brain_is_cropped(brain) else MIN_NEIGHBOUR_CORRELATION
    pair = "T1" in features and "T2" in features
    # Given both, T1 and T2 are judged against each other: swapped when the T1 has the brighter tail.
    swapped = pair and features["T1"]["tail_ratio"] >= features["T2"]["tail_ratio"]
    for modality, f in features.items():
        check_tail = swapped if pair and modality in ("T1", "T2") else (modality != "T1" or skull_stripped)
        findings += modality_findings(modality, f, names.get(modality, modality), check_tail, noise,
                                      strict_tail=not swapped)
    return findings


def modality_findings(modality: str, f: Mapping[str, float], name: str, check_tail: bool = True,
                      min_correlation: float = MIN_NEIGHBOUR_CORRELATION, strict_tail: bool = True) -> list[Finding]:
    """Findings for one volume from its :func:`volume_features` (``check_tail``: judge a T1's or
    T2's contrast by its tail ratio, against the bounds when ``strict_tail``, else as found
    swapped with its partner; ``min_correlation``: the noise bound)."""
    who = f"{modality} ('{name}')"
    if f["distinct_values"] < MIN_DISTINCT_VALUES:
        return [Finding(modality, True, (
            f"{who} has only {f['distinct_values']:.0f} distinct values in the brain, like a label map or mask, "
            "not an image; give the image volume."))]
    if f["field_correlation"] < min_correlation:
        return [Finding(modality, True, (
            f"{who} does not look like an image of a brain (neighbouring voxels correlate at "
            f"{f['field_correlation']:.2f}, as in noise); check that the right volume was given."))]
    if modality == "CT":
        return _ct_findings(who, f)
    if modality in MRI_MODALITIES:
        return _mri_findings(modality, who, f, check_tail, strict_tail)
    if modality == "PET":
        return _pet_findings(who, f)
    return []


def _ct_findings(who: str, f: Mapping[str, float]) -> list[Finding]:
    low, high = CT_BRAIN_MEDIAN_HU
    if not low <= f["p50"] <= high:
        return [Finding("CT", True, (
            f"{who} does not look like a CT in Hounsfield units (brain median {f['p50']:.4g}, brain tissue is "
            f"{low:g} to {high:g} HU); give a CT in HU, or pass the volume as its real modality."))]
    if f["air_share"] == 0 and f["bone_share"] == 0:
        return [Finding("CT", False, (
            f"{who} has neither air (below {CT_AIR_HU:g} HU) nor bone (above {CT_BONE_HU:g} HU), which a CT in "
            "Hounsfield units has; check that it is a CT, the answer may be off."))]
    return []


def _mri_findings(modality: str, who: str, f: Mapping[str, float], check_tail: bool = True,
                  strict_tail: bool = True) -> list[Finding]:
    if f["p99"] <= 0:
        return [Finding(modality, True, (
            f"{who} is negative throughout the brain, but MRI magnitudes are not negative (the volume looks "
            "inverted); give the original magnitude image."))]
    low, high = CT_BRAIN_MEDIAN_HU
    if f["air_share"] > 0.05 and low <= f["p50"] <= high:
        return [Finding(modality, True, (
            f"{who} has values down to -1000 over {100 * f['air_share']:.0f} % of the volume and a brain median of "
            f"{f['p50']:.3g}, like a CT in Hounsfield units, not an MRI; pass it as CT, or give the MRI volume."))]
    findings = []
    if f["negative_share"] > MRI_NEGATIVE_SHARE_WARN:
        findings.append(Finding(modality, False, (
            f"{who} has negative intensities in {100 * f['negative_share']:.0f} % of the brain, which a magnitude "
            "MRI has not (filtered, z-scored or inverted?); the answer may be off.")))
    if np.isfinite(f["outside_median"]) and f["outside_median"] > max(f["p50"], 0.0):
        findings.append(Finding(modality, False, (
            f"{who} is brighter around the brain than in it (median {f['outside_median']:.4g} against "
            f"{f['p50']:.4g}), as an inverted image is, while an MRI's background is dark; give the original image, "
            "the prediction set was widened and the answer may be off."), widen=True))
    if f["saturated_share"] > MAX_SATURATED_SHARE:
        findings.append(Finding(modality, False, (
            f"{who} is clipped: {100 * f['saturated_share']:.0f} % of the brain lies at its brightest value "
            f"({f['p99']:.4g}), so bright tissue such as an enhancing tumour cannot be told apart; give the unclipped "
            "volume, the prediction set was widened and the answer may be off."), widen=True))
    if not check_tail:
        return findings
    if modality == "T1" and (f["tail_ratio"] > T1_MAX_TAIL_RATIO or not strict_tail):
        findings.append(Finding(modality, False, (
            f"{who} has a bright-fluid contrast like a T2 (tail ratio {f['tail_ratio']:.2f}), not the dark CSF "
            "of a T1; check that T1 and T2 are not swapped, the answer may be off.")))
    if modality == "T2" and (f["tail_ratio"] < T2_MIN_TAIL_RATIO or not strict_tail):
        findings.append(Finding(modality, False, (
            f"{who} lacks the bright CSF of a T2 (tail ratio {f['tail_ratio']:.2f}); check that it is a T2 and "
            "not a T1 or FLAIR, the answer may be off.")))
    return findings


def _pet_findings(who: str, f: Mapping[str, float]) -> list[Finding]:
    background = f["outside_median"]
    if np.isfinite(background) and background > 0 and f["p50"] <= PET_MIN_BRAIN_TO_BACKGROUND * background:
        return [Finding("PET", True, (
            f"{who} is not brighter in the brain than around it (brain median {f['p50']:.4g}, around "
            f"{background:.4g}), as an FDG PET is; give an attenuation-corrected brain PET."))]
    return []


def enforce(findings: list[Finding]) -> list[str]:
    """Raise an ``InputError`` with the first refusal; else return the warning sentences."""
    for finding in findings:
        if finding.refuse:
            raise InputError(finding.sentence)
    return [f.sentence for f in findings]
