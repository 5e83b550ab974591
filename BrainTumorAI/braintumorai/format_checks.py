"""Checks of an input that the readers do not make, for every format (not only ``.nii.gz``).

Measured with SimpleITK 2.5 (issue 15): a NIfTI header/image pair (``.hdr`` + ``.img``)
whose ``.img`` is cut short reads padded with zeros and its NaN voxels read as 0; an
``.mhd`` whose ``ElementDataFile`` lies in another folder is read silently; a FIFO named
``.nrrd`` blocks the reader forever; a direction matrix with a shear or a stretched
axis (NRRD, MetaImage) is kept, and a NIfTI sform with a shear is silently replaced by
the qform, so the maps would be written in another geometry than the input; a DICOM
series with a missing or duplicated slice is read as a uniform stack. Each is refused
here with one sentence naming the file (and the slice).

Called by :func:`braintumorai.io.read_image`: :func:`check_path` before a file is
opened, :func:`check_data_file` before ITK reads a two-file format,
:func:`check_direction` and :func:`check_nifti_sform` on what ITK read, and
:func:`check_slice_positions` on a DICOM series.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from .errors import InputError
from .file_integrity import _DATATYPES, _FLOAT_CODES

PathLike = Union[str, os.PathLike]

# A direction matrix whose columns are unit vectors at right angles to within this
# (ITK writes them to about 1e-6; a shear or stretch of a few per cent is far beyond).
ORTHONORMAL_TOLERANCE = 1e-3
# The sform ITK did not follow moves a voxel of the field's corner by more than this: refused.
SFORM_TOLERANCE_MM = 0.5


def check_path(path: PathLike) -> Path:
    """Refuse, before it is opened, a path that is no regular file or folder: a FIFO, a
    socket or a device would block or stream forever, a symbolic-link loop or a dangling
    link cannot be read. Returns the path."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(f"'{path}' is a loop of symbolic links that never reaches a file; "
                             "point the link at the volume itself.") from None
        if os.path.islink(path):
            raise InputError(f"'{path}' is a symbolic link to '{os.readlink(path)}', which does not exist; "
                             "point the link at the volume itself.") from None
        if error.errno == errno.EACCES:
            raise InputError(f"The file '{path}' cannot be read (permission denied); check its permissions.") from None
        raise InputError(f"The file '{path}' does not exist; check the path.") from None
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return path
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    raise InputError(f"'{path}' is {kind}, not a regular file; give the volume file itself (or a DICOM folder).")


def check_data_file(path: PathLike) -> None:
    """For a two-file format (NIfTI/Analyze ``.hdr`` + ``.img``, MetaImage ``.mhd`` + data
    file): the data file lies beside its header, holds all the voxels the header announces,
    and (float data) no NaN or infinite voxel. Other names are left alone."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".hdr"):
        _check_analyze_pair(path)
    elif name.endswith(".mhd") or name.endswith(".mha"):
        _check_metaimage(path)


def _cut_short(path: Path, data: Path, share: float) -> InputError:
    return InputError(f"'{path}' is cut short: its data file '{data.name}' holds {int(1000 * share) / 10:g} % of the "
                      "voxel data the header announces; copy or export both files again.")


def _check_finite(path: Path, data: Path, dtype: np.dtype, offset: int, count: int) -> None:
    voxels = np.fromfile(data, dtype, count, offset=offset)
    bad = int(voxels.size - np.count_nonzero(np.isfinite(voxels)))
    if bad:
        raise InputError(f"'{path}' has {bad} NaN or infinite voxels (in '{data.name}'); fix or re-export the volume "
                         "before using it.")


def _check_analyze_pair(path: Path) -> None:
    header = path.read_bytes()[:348]
    for endian in ("<", ">"):
        if len(header) == 348 and struct.unpack(endian + "i", header[:4])[0] == 348:
            break
    else:
        raise InputError(f"'{path}' has no valid NIfTI or Analyze header; check that the file is a complete .hdr.")
    datatype, bitpix = struct.unpack(endian + "hh", header[70:74])
    dims = struct.unpack(endian + "8h", header[40:56])
    offset = max(0, int(struct.unpack(endian + "f", header[108:112])[0]))
    ndim = int(dims[0])
    if not 1 <= ndim <= 7 or any(d < 1 for d in dims[1:ndim + 1]) or bitpix <= 0 or bitpix % 8:
        raise InputError(f"'{path}' has a damaged header (dimensions {dims[:ndim + 1]}, {bitpix} bits per voxel); "
                         "re-export the volume.")
    data = next((path.with_name(path.name[:-4] + ext) for ext in (".img", ".IMG", ".img.gz")
                 if path.with_name(path.name[:-4] + ext).is_file()), None)
    if data is None:
        raise InputError(f"'{path}' is a header without its data file '{path.stem}.img' beside it; "
                         "copy both files together.")
    if data.name.lower().endswith(".gz"):
        return  # ITK inflates it and refuses a damaged stream
    count = int(np.prod(dims[1:ndim + 1]))
    expected = offset + count * bitpix // 8
    size = data.stat().st_size
    if size < expected:
        raise _cut_short(path, data, max(0.0, (size - offset) / max(1, expected - offset)))
    if datatype in _FLOAT_CODES - {32, 1792}:
        _check_finite(path, data, np.dtype(_DATATYPES[datatype]).newbyteorder(endian), offset, count)


# MetaImage element types -> numpy types.
_META_TYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
               "MET_UINT": np.uint32, "MET_INT": np.int32, "MET_ULONG_LONG": np.uint64, "MET_LONG_LONG": np.int64,
               "MET_FLOAT": np.float32, "MET_DOUBLE": np.float64}


def _metaimage_fields(path: Path) -> tuple[dict, int]:
    """The header's ``key = value`` fields up to ElementDataFile, and the header's length in bytes."""
    fields, length = {}, 0
    with open(path, "rb") as stream:
        for raw in stream:
            length += len(raw)
            key, _, value = raw.decode("latin-1").partition("=")
            fields[key.strip().lower()] = value.strip()
            if key.strip().lower() == "elementdatafile" or length > 65536:
                break
    return fields, length


def _check_metaimage(path: Path) -> None:
    fields, header_length = _metaimage_fields(path)
    target = fields.get("elementdatafile", "")
    if not target or target.upper().startswith("LIST") or "%" in target:
        return  # no header, or a list of slice files: left to ITK
    if target.upper() == "LOCAL":
        return  # one file (.mha): ITK refuses it cut short and keeps NaN as NaN (checked after reading)
    local = False
    data = path.parent / target
    if not local:
        inside = os.path.realpath(data.parent) == os.path.realpath(path.parent)
        if not inside:
            raise InputError(f"'{path}' takes its voxels from '{target}', outside the header's folder; put the data "
                             f"file beside the header and name it there (ElementDataFile = {Path(target).name}).")
        if not data.is_file():
            raise InputError(f"'{path}' names its data file '{target}', which is not beside it; copy both files "
                             "together.")
    try:
        dims = [int(v) for v in fields.get("dimsize", "").split()]
        channels = int(fields.get("elementnumberofchannels", "1") or 1)
        dtype = np.dtype(_META_TYPES[fields.get("elementtype", "").upper()])
        skip = int(fields.get("headersize", "0") or 0)
    except (KeyError, ValueError):
        return  # ITK says what it cannot read
    if fields.get("compresseddata", "false").lower() == "true" or skip < 0 or not dims:
        return  # a compressed stream is checked by ITK's inflater
    if fields.get("binarydatabyteordermsb", fields.get("elementbyteordermsb", "false")).lower() == "true":
        dtype = dtype.newbyteorder(">")
    offset = header_length if local else skip
    count = int(np.prod(dims)) * channels
    expected = offset + count * dtype.itemsize
    size = data.stat().st_size
    if size < expected:
        raise _cut_short(path, data, max(0.0, (size - offset) / max(1, expected - offset)))
    if dtype.kind == "f":
        _check_finite(path, data, dtype, offset, count)


def check_direction(direction: Sequence[float], name: str) -> None:
    """Refuse a direction matrix (row-major 3x3) that is not orthonormal: a shear or a
    stretched axis cannot be followed by the maps, which are written on a grid with an
    orthonormal direction."""
    matrix = np.asarray(direction, float).reshape(3, 3)
    error = float(np.abs(matrix.T @ matrix - np.eye(3)).max())
    if not np.isfinite(error) or error > ORTHONORMAL_TOLERANCE:
        norms = np.linalg.norm(matrix, axis=0)
        what = ("a stretched axis (direction lengths " + ", ".join(f"{n:.3g}" for n in norms) + ")"
                if np.abs(norms - 1).max() > ORTHONORMAL_TOLERANCE else "axes that are not at right angles (a shear)")
        raise InputError(f"'{name}' has a direction matrix with {what}, which the result maps cannot follow; "
                         "resample it onto a grid with orthonormal directions (or fix its header) first.")


def check_nifti_sform(path: PathLike, image) -> None:
    """Refuse a NIfTI whose sform (code > 0) places the voxels elsewhere than the geometry
    ITK read: ITK drops an sform with a shear for the qform, without an error."""
    path = Path(path)
    raw = path.read_bytes()[:2] == b"\x1f\x8b"
    if raw:
        import gzip

        with gzip.open(path, "rb") as stream:
            header = stream.read(348)
    else:
        with open(path, "rb") as stream:
            header = stream.read(348)
    endian = next((e for e in ("<", ">") if len(header) == 348 and struct.unpack(e + "i", header[:4])[0] == 348), None)
    if endian is None or struct.unpack(endian + "h", header[254:256])[0] <= 0:
        return  # NIfTI-2 or no sform: ITK's geometry is the file's
    srows = np.array(struct.unpack(endian + "12f", header[280:328]), float).reshape(3, 4)
    if not np.all(np.isfinite(srows)):
        return
    size = np.asarray(image.GetSize()[:3], float) - 1
    corners = np.array([[i, j, k] for i in (0, size[0]) for j in (0, size[1]) for k in (0, size[2])])
    sform_ras = corners @ srows[:, :3].T + srows[:, 3]
    itk_lps = np.array([image.TransformContinuousIndexToPhysicalPoint(c.tolist()) for c in corners])
    itk_ras = itk_lps * np.array([-1.0, -1.0, 1.0])
    off = float(np.linalg.norm(sform_ras - itk_ras, axis=1).max())
    if off > SFORM_TOLERANCE_MM:
        raise InputError(f"'{path}' has an sform (voxel-to-world matrix) with a shear, which the reader replaces by "
                         f"its qform, moving the voxels by up to {off:.0f} mm; resample it onto a grid with "
                         "orthonormal directions (or make its qform and sform agree) first.")


# Uncompressed DICOM transfer syntaxes (the pixel data's length is then rows x columns x bytes).
_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


def check_slice_positions(files: Sequence[str], folder: PathLike) -> None:
    """Refuse a DICOM series whose slices are not a uniform stack: a slice cut short, two
    slices at one position (a duplicate), or a gap larger than the others (a missing slice).
    Each sentence names the slice file."""
    import SimpleITK as sitk

    positions, normal = [], None
    for file in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(file)
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            raise InputError(f"The slice '{file}' of the DICOM series in '{folder}' cannot be read; "
                             "export the series again.") from None

        def tag(key: str) -> str:
            try:
                return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""
            except (RuntimeError, UnicodeDecodeError):
                return ""

        try:
            needed = int(tag("0028|0010")) * int(tag("0028|0011")) * int(tag("0028|0100")) // 8 \
                * int(tag("0028|0002") or 1)
        except ValueError:
            needed = 0
        if tag("0002|0010").rstrip("\x00") in _UNCOMPRESSED and os.path.getsize(file) < needed:
            raise InputError(f"The slice '{file}' of the DICOM series in '{folder}' is cut short (its pixel data is "
                             "incomplete); export the series again.")
        try:
            position = np.array([float(v) for v in tag("0020|0032").split("\\")])
            if normal is None:
                row_col = np.array([float(v) for v in tag("0020|0037").split("\\")])
                normal = np.cross(row_col[:3], row_col[3:])
        except ValueError:
            return  # no position tags: left to ITK
        positions.append(float(position @ normal))
    if len(positions) < 3:
        return
    order = np.argsort(positions)
    steps = np.diff(np.asarray(positions)[order])
    typical = float(np.median(steps))
    for index, gap in enumerate(steps):
        first, second = files[order[index]], files[order[index + 1]]
        if gap < 0.01 * max(typical, 1e-3):
            raise InputError(f"The DICOM series in '{folder}' has two slices at one position "
                             f"('{os.path.basename(first)}' "
                             f"and '{os.path.basename(second)}', {positions[order[index]]:.1f} mm); remove the "
                             "duplicate slice.")
        if gap > 1.5 * typical:
            listed = {os.path.basename(f) for f in files}
            unread = sorted(p.name for p in Path(folder).iterdir() if p.is_file() and p.name not in listed
                            and not p.name.startswith("."))
            if unread:
                raise InputError(f"The slice '{unread[0]}' in '{folder}' cannot be read as part of its DICOM series "
                                 f"(cut short or damaged: the series has a {gap:.1f} mm gap there); export the series "
                                 "again.")
            raise InputError(f"The DICOM series in '{folder}' is missing a slice between "
                             f"'{os.path.basename(first)}' and '{os.path.basename(second)}' ({gap:.1f} mm apart where "
                             f"the others are {typical:.1f} mm); export the whole series again.")


# Largest intensity magnitude accepted: scanners store at most 32-bit values, and float32
# statistics (squares for a standard deviation) overflow near 1.8e19, so anything beyond
# 1e15 is a wrong scale, not a measurement (Kirby21's real T2 reaches 1.1e7).
MAX_MAGNITUDE = 1e15
_FLOAT32 = np.finfo(np.float32)


def check_value_range(image, name: str) -> None:
    """Refuse voxel values that single precision (the program computes in float32) cannot
    hold as given: complex values, doubles beyond float32's range or below its smallest
    normal number (they would read as Inf or as 0), and magnitudes beyond any scanner's."""
    import SimpleITK as sitk

    if image.GetPixelID() in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise InputError(f"'{name}' holds complex values (real and imaginary parts), not a magnitude image; "
                         "give the magnitude volume.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        return  # said by check_image
    array = sitk.GetArrayViewFromImage(image)
    if array.dtype.kind != "f" and array.dtype.itemsize < 8:
        return  # 8- to 32-bit integers fit
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    if finite.size == 0:
        return  # said by check_image
    largest = float(np.abs(finite).max())
    if largest > _FLOAT32.max:
        raise InputError(f"'{name}' has values up to {largest:.3g}, beyond the single-precision range (about 3.4e38) "
                         "the program computes in; rescale the volume (e.g. to its scanner units) and export it again.")
    if 0 < largest < _FLOAT32.tiny:
        raise InputError(f"'{name}' has values no larger than {largest:.3g}, below the smallest single-precision "
                         "number (about 1.2e-38), so they would all read as 0; rescale the volume and export it again.")
    if largest > MAX_MAGNITUDE:
        raise InputError(f"'{name}' has values up to {largest:.3g}, far beyond what a scanner stores (at most "
                         f"{MAX_MAGNITUDE:g}); rescale the volume (e.g. to its scanner units) and export it again.")
