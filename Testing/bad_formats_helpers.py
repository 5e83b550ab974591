"""Builders of the inputs of issue 15 sections 2 and 3 (geometry the maps cannot follow,
formats and content), each made from the good phantom study of ``bad_inputs.py``.

Every builder writes into ``inputs`` and returns the command-line arguments after the
command, like the builders of ``bad_inputs.py``.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from bad_inputs import TOKENS, array_of, copy, like, write


def _with_direction(image: sitk.Image, direction: np.ndarray) -> sitk.Image:
    """``image`` with another direction matrix, turned about its centre (so it still overlaps)."""
    centre = image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in image.GetSize()])
    half = (np.asarray(image.GetSize()) - 1) / 2.0 * np.asarray(image.GetSpacing())
    moved = sitk.Image(image)
    moved.SetDirection(np.asarray(direction, float).ravel().tolist())
    moved.SetOrigin((np.asarray(centre) - np.asarray(direction) @ half).tolist())
    return moved


def sheared(good: dict, inputs: Path, modality: str, suffix: str, shear: np.ndarray) -> list[str]:
    """The good volume written as ``suffix`` with a direction matrix ``shear`` (not orthonormal)."""
    image = _with_direction(sitk.ReadImage(good[modality]), shear)
    return [*([] if modality == "T1C" else copy(good, inputs, "T1C")),
            write(image, inputs / f"sheared-{TOKENS[modality]}{suffix}")]


SHEAR = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
STRETCH = np.diag([1.0, 1.0, 1.25])


def nifti_sform_shear(good: dict, inputs: Path) -> list[str]:
    """A .nii.gz whose sform (code 1) holds a shear while its qform stays the plain grid:
    ITK reads such a file through the qform, so the voxels land elsewhere than the sform says."""
    plain = inputs / "plain.nii"
    write(sitk.ReadImage(good["T1C"]), plain)
    header = bytearray(plain.read_bytes())
    plain.unlink()
    srows = np.array(struct.unpack("<12f", header[280:328]), float).reshape(3, 4)
    srows[0, 1] += 0.3 * srows[1, 1]  # x grows with j: a shear of 0.3
    header[280:328] = struct.pack("<12f", *srows.ravel())
    header[254:256] = struct.pack("<h", 1)  # sform_code: scanner
    target = inputs / "shear-t2f.nii.gz"
    target.write_bytes(gzip.compress(bytes(header)))
    return [*copy(good, inputs, "T1C"), str(target)]


def mirrored(good: dict, inputs: Path, modality: str = "FLAIR") -> list[str]:
    """One volume's voxels mirrored left-right, its header unchanged."""
    array = array_of(good[modality])[:, :, ::-1]
    others = [m for m in ("T1", "T1C", "T2") if m != modality]
    mirror = write(like(good[modality], array), inputs / f"mirror-{TOKENS[modality]}.nii.gz")
    return [*copy(good, inputs, *others), mirror]


def moved(good: dict, inputs: Path, shift_mm=(25.0, 0.0, 0.0), degrees: float = 0.0) -> list[str]:
    """FLAIR's header moved by ``shift_mm`` (LPS) or turned by ``degrees`` about its centre
    (axial plane), its voxels unchanged."""
    from imaging_helpers import rotation

    image = sitk.ReadImage(good["FLAIR"])
    if degrees:
        image = _with_direction(image, rotation("z", degrees) @ np.array(image.GetDirection()).reshape(3, 3))
    image.SetOrigin((np.asarray(image.GetOrigin()) + np.asarray(shift_mm)).tolist())
    return [*copy(good, inputs, "T1", "T1C", "T2"), write(image, inputs / "moved-t2f.nii.gz")]


def cropped(good: dict, inputs: Path, keep: str, spacing: float = 0.0) -> list[str]:
    """Every MRI volume cut to a part of the brain: 'superior half', 'superior quarter' (the
    superior half's half along the second axis: cut on two axes), 'slab62' (a 62 mm axial
    slab through the middle) or 'box96' (a 96 mm cube around the centre, optionally
    resampled to ``spacing`` mm)."""
    paths = []
    for modality in ("T1", "T1C", "T2", "FLAIR"):
        image = sitk.ReadImage(good[modality])
        if spacing:
            size = [int(round(n * s / spacing)) for n, s in zip(image.GetSize(), image.GetSpacing())]
            image = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(),
                                  (spacing,) * 3, image.GetDirection())
        nx, ny, nz = image.GetSize()
        step = image.GetSpacing()
        if keep == "superior half":
            image = image[:, :, nz // 2:]
        elif keep == "superior quarter":
            image = image[:, ny // 2:, nz // 2:]
        elif keep == "slab62":
            slices = int(round(62 / step[2]))
            image = image[:, :, nz // 2 - slices // 2: nz // 2 - slices // 2 + slices]
        else:
            half = [int(round(48 / s)) for s in step]
            image = image[nx // 2 - half[0]: nx // 2 + half[0], ny // 2 - half[1]: ny // 2 + half[1],
                          nz // 2 - half[2]: nz // 2 + half[2]]
        paths.append(write(image, inputs / f"part-{TOKENS[modality]}.nii.gz"))
    return paths


def analyze_pair(good: dict, inputs: Path, damage: str) -> list[str]:
    """The good T1C as a NIfTI header/image pair (.hdr + .img): 'cut' keeps half the .img,
    'nan' puts NaN into 1000 voxels."""
    array = array_of(good["T1C"])
    if damage == "nan":
        array.ravel()[np.random.default_rng(0).choice(array.size, 1000, replace=False)] = np.nan
    header = inputs / "pair-t1c.hdr"
    write(like(good["T1C"], array), header)
    if damage == "cut":
        data = header.with_suffix(".img")
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    return [str(header)]


def metaimage_pair(good: dict, inputs: Path, damage: str) -> list[str]:
    """The good T1C as a MetaImage header and raw file (.mhd + .raw): 'cut' keeps half the
    .raw, 'nan' puts NaN into 1000 voxels, 'elsewhere' points the header at a raw file in
    another folder."""
    array = array_of(good["T1C"])
    if damage == "nan":
        array.ravel()[np.random.default_rng(0).choice(array.size, 1000, replace=False)] = np.nan
    header = inputs / "meta-t1c.mhd"
    writer = sitk.ImageFileWriter()
    writer.SetFileName(str(header))
    writer.SetUseCompression(False)
    writer.Execute(like(good["T1C"], array))
    data = header.with_suffix(".raw")
    if damage == "cut":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif damage == "elsewhere":
        other = inputs / "other"
        other.mkdir()
        os.replace(data, other / data.name)
        text = header.read_text().replace("ElementDataFile = meta-t1c.raw", f"ElementDataFile = {other / data.name}")
        header.write_text(text)
    return [str(header)]


def dicom_with(inputs: Path, defect: str) -> list[str]:
    """A 12-slice DICOM series (pydicom's CT_small, 5 mm apart) with one slice 'missing',
    'duplicated' (a second file at the same position) or 'cut' (its pixel data cut short)."""
    from imaging_helpers import write_dicom_series

    folder = inputs / "series"
    write_dicom_series(folder, count=12, step_mm=5.0)
    if defect == "missing":
        (folder / "slice6.dcm").unlink()
    elif defect == "duplicated":
        import pydicom

        twin = pydicom.dcmread(folder / "slice6.dcm")
        twin.SOPInstanceUID = twin.SOPInstanceUID + ".99"
        twin.InstanceNumber = 99
        twin.save_as(folder / "slice6-copy.dcm")
    else:
        data = (folder / "slice6.dcm").read_bytes()
        (folder / "slice6.dcm").write_bytes(data[: len(data) - 4000])
    return ["--modality", f"CT={folder}"]


def nifti_of(good: dict, inputs: Path, name: str, convert) -> list[str]:
    """A NIfTI of the good T1C's voxels passed through ``convert`` (numpy array -> array of
    any dtype), with the good geometry."""
    reference = sitk.ReadImage(good["T1C"])
    image = sitk.GetImageFromArray(convert(array_of(good["T1C"])))
    image.CopyInformation(reference)
    return [write(image, inputs / name)]


def with_one_voxel(good: dict, inputs: Path, value: float, odd: bool) -> list[str]:
    """The good study (T1C, FLAIR) with one T1C voxel inside the head set to ``value``, at an
    even or an odd index along every axis."""
    array = array_of(good["T1C"])
    z, y, x = (np.asarray(array.shape) // 2 // 2 * 2) + (1 if odd else 0)
    array[z, y, x] = value
    return [*copy(good, inputs, "FLAIR"), write(like(good["T1C"], array), inputs / "spike-t1c.nii.gz")]


def fifo(inputs: Path, name: str) -> list[str]:
    os.mkfifo(inputs / name)
    return [str(inputs / name)]


def symlink_loop(inputs: Path, name: str) -> list[str]:
    os.symlink(inputs / f"other-{name}", inputs / name)
    os.symlink(inputs / name, inputs / f"other-{name}")
    return [str(inputs / name)]


def same_file_as(good: dict, inputs: Path, modalities) -> list[str]:
    """The good T1C given as each of ``modalities``."""
    t1c = copy(good, inputs, "T1C")[0]
    return [arg for m in modalities for arg in ("--modality", f"{m}={t1c}")]


def inverted_flair(good: dict, inputs: Path) -> list[str]:
    """FLAIR's intensities inverted (max - value over the whole field), as a negative export."""
    array = array_of(good["FLAIR"])
    return [*copy(good, inputs, "T1", "T1C", "T2"),
            write(like(good["FLAIR"], array.max() - array), inputs / "inverted-t2f.nii.gz")]


def clipped_t1c(good: dict, inputs: Path, percentile: float = 60.0) -> list[str]:
    """T1C clipped at the ``percentile`` of its head voxels (a saturated window)."""
    array = array_of(good["T1C"])
    ceiling = float(np.percentile(array[array > 0], percentile))
    return [*copy(good, inputs, "T1", "T2", "FLAIR"),
            write(like(good["T1C"], np.minimum(array, ceiling)), inputs / "clipped-t1c.nii.gz")]
