"""Is a NIfTI file complete and finite as stored? Checked before its image is used.

ITK's NIfTI reader fills a truncated file's missing slices with 0 and returns NaN and
Inf voxels as 0, without an error (measured with SimpleITK 2.5: half of a real
``.nii.gz`` reads as a volume whose lower half is 0). So every NIfTI file is checked here
as stored: the gzip stream inflated to its end (CRC and length checked by zlib), the
header's voxel data present in full, and float data finite. NRRD and MetaImage need no
such check: their readers refuse a short file and keep NaN as NaN.

The same check verifies every ``.nii.gz`` this package writes, before it is renamed
into place (:func:`braintumorai.io.write_image_atomic`): there the cheap form suffices
(``full=False``: the gzip trailer's length must equal the header's), since a write cut
short by a full disk ends the stream early.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import InputError

try:  # zlib-ng inflates about twice as fast as the standard zlib (ITK bundles it too)
    from zlib_ng import zlib_ng as zlib
except ImportError:  # a dependency of the pip package; inside Slicer it is optional: same answer, slower
    import zlib

PathLike = Union[str, os.PathLike]

_GZIP_MAGIC = b"\x1f\x8b"
# NIfTI datatype code -> numpy type (NIfTI-1 and -2 share the codes).
_DATATYPES = {
    2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 32: np.complex64, 64: np.float64,
    128: np.uint8, 256: np.int8, 512: np.uint16, 768: np.uint32, 1024: np.int64, 1280: np.uint64,
    1792: np.complex128, 2304: np.uint8,
}
# Codes whose voxels can be NaN or infinite.
_FLOAT_CODES = {16, 32, 64, 1792}
# Codes of one real value per voxel (read here; the others are left to ITK).
_SCALAR_CODES = {2, 4, 8, 16, 64, 256, 512, 768, 1024, 1280}
_HEADER_BYTES = 540  # enough for a NIfTI-2 header


def is_nifti(path: PathLike) -> bool:
    """True for ``.nii`` and ``.nii.gz`` file names (any case)."""
    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


@dataclass(frozen=True)
class StoredVolume:
    """What a NIfTI header says is stored: voxel ``shape`` (x, y, z, ...), numpy ``dtype``,
    ``offset`` of the voxel data in bytes, and the ``expected_bytes`` of the whole file."""

    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int
    expected_bytes: int
    datatype: int
    slope: float = float("nan")
    intercept: float = 0.0


def parse_nifti_header(header: bytes, name: str) -> Optional[StoredVolume]:
    """Read a NIfTI-1 or NIfTI-2 header; None for a header/image pair (``ni1``), whose
    data lies in another file. Raises ``InputError`` when it is no NIfTI header."""
    for endian in ("<", ">"):
        if len(header) >= 348 and struct.unpack(endian + "i", header[:4])[0] == 348:
            if header[344:347] == b"ni1":
                return None
            datatype, bitpix = struct.unpack(endian + "hh", header[70:74])
            dims = struct.unpack(endian + "8h", header[40:56])
            offset = max(352, int(struct.unpack(endian + "f", header[108:112])[0]))
            slope, intercept = struct.unpack(endian + "ff", header[112:120])
            break
        if len(header) >= 540 and struct.unpack(endian + "i", header[:4])[0] == 540:
            datatype, bitpix = struct.unpack(endian + "hh", header[12:16])
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = max(544, int(struct.unpack(endian + "q", header[168:176])[0]))
            slope, intercept = struct.unpack(endian + "dd", header[176:192])
            break
    else:
        raise InputError(f"'{name}' has no valid NIfTI header; check that the file is a complete NIfTI volume.")
    ndim = int(dims[0])
    if not 1 <= ndim <= 7 or any(d < 1 for d in dims[1:ndim + 1]) or bitpix <= 0 or bitpix % 8:
        raise InputError(f"'{name}' has a damaged NIfTI header (dimensions {dims[:ndim + 1]}, {bitpix} bits per "
                         "voxel); re-export the volume.")
    shape = tuple(int(d) for d in dims[1:ndim + 1])
    dtype = np.dtype(_DATATYPES.get(datatype, np.uint8)).newbyteorder(endian)
    return StoredVolume(shape, dtype, offset, offset + int(np.prod(shape)) * bitpix // 8, int(datatype),
                        float(slope), float(intercept))


def check_volume_file(path: PathLike, full: bool = True) -> Optional[StoredVolume]:
    """Refuse a NIfTI file that is cut short, damaged, or holds NaN / infinite voxels.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file (other names are left to their readers).
        full: inflate the whole gzip stream (CRC checked) and look at every voxel.
            ``False`` checks only the header and the stored length (for files just written).

    Returns:
        What the header says is stored, or None when the file is no single-file NIfTI.

    Raises:
        InputError: one sentence naming the file.
    """
    path = Path(path)
    if not is_nifti(path):
        return None
    if os.path.getsize(path) == 0:
        raise InputError(f"'{path}' is empty (0 bytes); copy the whole file again.")
    with open(path, "rb") as stream:
        compressed = stream.read(2) == _GZIP_MAGIC
    if not full:
        return _check_length(path, compressed)
    checked = _checked_voxels(path, compressed)
    return None if checked is None else checked[0]


def read_checked_nifti(path: PathLike):
    """A NIfTI volume read once and checked as stored, or None when ITK must read it.

    The voxels come from the checked bytes (so the file is inflated once, not once here
    and once by ITK); the geometry comes from ITK's own reading of the header
    (``ReadImageInformation``), so origin, spacing and direction are exactly what
    ``SimpleITK.ReadImage`` gives. Scaling (``scl_slope``, ``scl_inter``) is applied as
    ITK applies it. Files that are not plain 3-D scalar volumes (4-D, vector, complex,
    header/image pairs) are checked the same way and then left to ITK (None).

    Raises:
        InputError: the file is cut short, damaged, holds NaN / Inf voxels, or its
            header cannot be read.
    """
    import SimpleITK as sitk

    path = Path(path)
    if os.path.getsize(path) == 0:
        raise InputError(f"'{path}' is empty (0 bytes); copy the whole file again.")
    with open(path, "rb") as stream:
        compressed = stream.read(2) == _GZIP_MAGIC
    checked = _checked_voxels(path, compressed)
    if checked is None:
        return None
    info, voxels = checked
    if len(info.shape) != 3 or info.datatype not in _SCALAR_CODES:
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None  # ITK will say what it cannot read
    if reader.GetDimension() != 3 or tuple(reader.GetSize()) != info.shape or reader.GetNumberOfComponents() != 1:
        return None
    array = voxels.reshape(info.shape[::-1])
    if np.isfinite(info.slope) and info.slope != 0 and (info.slope, info.intercept) != (1.0, 0.0):
        array = array.astype(np.float64) * info.slope + info.intercept
    image = sitk.GetImageFromArray(np.asarray(array, array.dtype.newbyteorder("=")))
    image.SetOrigin(reader.GetOrigin())
    image.SetSpacing(reader.GetSpacing())
    image.SetDirection(reader.GetDirection())
    return image


def _checked_voxels(path: Path, compressed: bool):
    """(header, voxel array as stored) after the full check; None for a header/image pair
    or bytes without a NIfTI header (ITK then says it cannot read the file)."""
    stored = _inflate(path) if compressed else path.read_bytes()
    try:
        info = parse_nifti_header(stored[:_HEADER_BYTES], str(path))
    except InputError:
        return None
    if info is None:
        return None
    if len(stored) < info.expected_bytes:
        share = max(0.0, (len(stored) - info.offset) / max(1, info.expected_bytes - info.offset))
        raise InputError(
            f"'{path}' is cut short: it holds {int(1000 * share) / 10:g} % of the voxel data its header announces; "
            "copy or export the whole file again.")
    count = (info.expected_bytes - info.offset) // info.dtype.itemsize
    voxels = np.frombuffer(stored, info.dtype, count, info.offset)
    if info.datatype in _FLOAT_CODES:
        bad = int(voxels.size - np.count_nonzero(np.isfinite(voxels)))
        if bad:
            raise InputError(f"'{path}' has {bad} NaN or infinite voxels; fix or re-export the volume before using it.")
    return info, voxels


def _inflate(path: Path) -> bytes:
    """The whole decompressed content of a gzip file (every member); zlib checks each
    member's CRC and length."""
    data = path.read_bytes()
    pieces = []
    while data[:2] == _GZIP_MAGIC:
        inflater = zlib.decompressobj(wbits=31)
        try:
            pieces.append(inflater.decompress(data))
        except zlib.error as error:
            raise InputError(f"'{path}' is a damaged gzip file ({error}); copy or export the file again.") from None
        if not inflater.eof:
            raise InputError(f"'{path}' is cut short (its gzip stream ends early); copy or export the whole file again.")
        data = inflater.unused_data
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _check_length(path: Path, compressed: bool) -> Optional[StoredVolume]:
    """Header read, stored length compared with the header's (gzip: the trailer's length)."""
    with open(path, "rb") as stream:
        if compressed:
            try:
                header = zlib.decompressobj(wbits=31).decompress(stream.read(1 << 16), _HEADER_BYTES)
            except zlib.error as error:
                raise InputError(f"'{path}' is a damaged gzip file ({error}); write it again.") from None
            stream.seek(-4, os.SEEK_END)
            length = struct.unpack("<I", stream.read(4))[0]  # ISIZE: length mod 2**32
        else:
            header = stream.read(_HEADER_BYTES)
            length = os.path.getsize(path)
    info = parse_nifti_header(header, str(path))
    if info is not None:
        expected = info.expected_bytes % 2**32 if compressed else info.expected_bytes
        if (length != expected) if compressed else (length < expected):
            raise InputError(f"'{path}' was not written completely; check that the folder has space and write it again.")
    return info
