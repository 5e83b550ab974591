"""Reading volumes: NIfTI / NRRD / MHA files and DICOM series, checked on the way in.

Every image that leaves this module is a 3-D, scalar, finite, non-constant
``SimpleITK.Image`` of type float32, or an ``InputError`` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator, Union

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .file_integrity import check_volume_file, is_nifti, read_checked_nifti
from .format_checks import (check_data_file, check_direction, check_nifti_sform, check_path, check_slice_positions,
                            check_value_range)

PathLike = Union[str, os.PathLike]


def read_image(path: PathLike) -> sitk.Image:
    """Read a volume file, or the DICOM series in a folder, as a checked float32 image.

    A NIfTI file is also checked as stored (:mod:`braintumorai.file_integrity`: complete,
    undamaged, finite), since ITK's reader hides a truncated file or NaN voxels; its
    voxels are taken from the checked bytes, its geometry from ITK.

    Args:
        path: a NIfTI (.nii, .nii.gz), NRRD, MetaImage file, or a folder holding one
            DICOM series.

    Returns:
        3-D float32 ``SimpleITK.Image`` with the file's geometry (LPS).
    """
    path = check_path(path)  # a FIFO or device would block the reader: refused before opening
    if path.is_dir():
        image = _read_dicom_series(path)
    else:
        if not os.access(path, os.R_OK):
            raise InputError(f"The file '{path}' cannot be read (permission denied); check its permissions.")
        # NIfTI: read once and checked as stored (ITK's reader hides a cut-short file and NaN).
        image = read_checked_nifti(path) if is_nifti(path) else None
        check_data_file(path)  # .hdr/.img and .mhd/.raw: complete, beside the header, finite
        if image is None:
            try:
                image = sitk.ReadImage(str(path))
            except RuntimeError:
                raise InputError(
                    f"Cannot read '{path}' as a NIfTI, NRRD, MetaImage or DICOM volume; "
                    "check that the file is complete and in one of these formats."
                ) from None
        if is_nifti(path) and image.GetDimension() == 3:
            check_nifti_sform(path, image)  # ITK silently drops a sheared sform for the qform
    return check_image(image, str(path))


def _read_dicom_series(folder: Path) -> sitk.Image:
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series_ids:
        raise InputError(
            f"The folder '{folder}' holds no DICOM series; give a volume file or a folder of DICOM slices."
        )
    if len(series_ids) > 1:
        raise InputError(
            f"The folder '{folder}' holds {len(series_ids)} DICOM series; "
            "put each series in its own folder and give one folder per modality."
        )
    reader = sitk.ImageSeriesReader()
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_ids[0])
    check_slice_positions(files, folder)  # ITK reads a gap or a duplicate as a uniform stack
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOff()
    try:
        image = reader.Execute()
    except RuntimeError:
        raise InputError(
            f"Cannot read the DICOM series in '{folder}'; check that all its slices are present and readable."
        ) from None
    # Keep the first slice's tags that PET SUV needs (units, weight, dose, ...).
    for key in reader.GetMetaDataKeys(0):
        try:
            image.SetMetaData(key, reader.GetMetaData(0, key))
        except (RuntimeError, UnicodeDecodeError):
            continue
    dose = injected_dose_at_scan_start(reader.GetFileNames()[0])
    if dose is not None:
        image.SetMetaData(INJECTED_DOSE_KEY, repr(dose))
    return image


# Metadata key under which a DICOM PET's decay-corrected injected dose (Bq) is kept.
INJECTED_DOSE_KEY = "braintumorai|injected_dose_bq"


def injected_dose_at_scan_start(dicom_file: str):
    """Injected dose (Bq) of a PET slice, decay-corrected to the series start when the
    voxels are (DecayCorrection START), or None when it cannot be told.

    The dose lies in a sequence (0054,0016) that SimpleITK's reader does not expose, so
    it is read with pydicom (the ``dicom`` extra); without pydicom, pass the dose
    explicitly (``--pet-dose`` or the study metadata).
    """
    try:
        import pydicom
    except ImportError:
        return None
    try:
        header = pydicom.dcmread(dicom_file, stop_before_pixels=True)
        if header.get("Modality") != "PT":
            return None
        item = header.RadiopharmaceuticalInformationSequence[0]
        dose = float(item.RadionuclideTotalDose)
        if str(header.get("DecayCorrection", "")).upper() == "START":
            elapsed = _seconds(header.SeriesTime) - _seconds(item.RadiopharmaceuticalStartTime)
            dose *= 0.5 ** ((elapsed % 86400) / float(item.RadionuclideHalfLife))
        return dose if np.isfinite(dose) and dose > 0 else None
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, OSError):
        return None


def _seconds(dicom_time) -> float:
    """Seconds since midnight of a DICOM TM value (HHMMSS.frac)."""
    text = str(dicom_time).strip()
    return int(text[0:2]) * 3600 + int(text[2:4] or 0) * 60 + float(text[4:] or 0)


def dicom_series_tags(folder: PathLike) -> tuple[str, str]:
    """(SeriesDescription, ContrastBolusAgent) of the one DICOM series in ``folder``, read
    from its first file's header; empty strings when absent or not a single series."""
    try:
        series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        if len(series) != 1:
            return "", ""
        reader = sitk.ImageFileReader()
        reader.SetFileName(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])[0])
        reader.ReadImageInformation()
    except RuntimeError:
        return "", ""

    def tag(key: str) -> str:
        try:
            return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""
        except (RuntimeError, UnicodeDecodeError):
            return ""

    return tag("0008|103e"), tag("0018|0010")


def check_image(image: sitk.Image, name: str = "the image") -> sitk.Image:
    """Check that ``image`` is a usable 3-D scalar volume; return it as float32.

    A 4-D image whose extra axes have size 1 is squeezed to 3-D; anything else that
    is not 3-D, not scalar, empty, constant or non-finite is refused.
    """
    check_value_range(image, name)  # complex, or beyond what float32 holds: said before the cast
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"'{name}' has {image.GetNumberOfComponentsPerPixel()} values per voxel (colour or vector image); "
            "give a scalar grey-level volume."
        )
    dimension = image.GetDimension()
    if dimension == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
        dimension = 3
    if dimension != 3:
        size = "x".join(str(s) for s in image.GetSize())
        raise InputError(
            f"'{name}' is a {dimension}-D image ({size}); give a single 3-D volume "
            + ("(pick one time point or channel of the 4-D series)." if dimension > 3 else "(a whole series, not one slice).")
        )
    check_direction(image.GetDirection(), name)  # a shear or stretch the maps cannot follow
    if min(image.GetSize()) < 2:
        raise InputError(
            f"'{name}' is only {'x'.join(map(str, image.GetSize()))} voxels; give a 3-D volume with at least 2 slices."
        )
    if image.GetPixelID() != sitk.sitkFloat32:  # a float32 image is used as it is (no copy)
        tags = {}
        for key in image.GetMetaDataKeys():
            try:
                tags[key] = image.GetMetaData(key)
            except (RuntimeError, UnicodeDecodeError):
                continue
        image = sitk.Cast(image, sitk.sitkFloat32)
        for key, value in tags.items():  # Cast drops them; PET SUV needs the DICOM ones
            image.SetMetaData(key, value)
    array = sitk.GetArrayViewFromImage(image)
    # One pass, no mask of 9 million booleans: a float64 sum of finite float32 values is
    # always finite (at most 3.4e38 per voxel), and any NaN or infinity makes it NaN or infinite.
    if not np.isfinite(np.sum(array, dtype=np.float64)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise InputError(
            f"'{name}' has {bad} NaN or infinite voxels; fix or re-export the volume before using it."
        )
    low, high = float(array.min()), float(array.max())
    if low == high == 0.0:
        raise InputError(f"'{name}' is empty (every voxel is 0); check that the right volume was loaded.")
    if low == high:
        raise InputError(
            f"'{name}' is constant (every voxel is {high:g}); check that the right volume was loaded."
        )
    return image


def orientation_code(image: sitk.Image) -> str:
    """Three-letter DICOM (LPS) orientation code of the image axes, e.g. 'LPS' or 'RAS'."""
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    # Reading the umask means setting it; the lock keeps writers in other threads
    # (saliency maps are written side by side) from seeing the temporary 0.
    with _UMASK_LOCK:
        mask = os.umask(0)
        os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces
    ``path`` in one rename, so a reader never sees half a file; on failure it is removed.

    The temporary name starts with '.' and keeps the extension (SimpleITK picks its
    writer by extension). The result gets the usual permissions of a new file, and an
    OS error (read-only folder, disk full, a file where a folder should be) becomes one
    ``InputError`` naming the file.
    """
    path = Path(path)
    extension = ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix
    stem = path.name[: len(path.name) - len(extension)] if extension else path.name
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{extension}", dir=path.parent)
        os.close(handle)
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, path)
    except OSError as error:
        raise InputError(
            f"Could not write '{path}' ({error.strerror or error}); check that the folder is writable and has space."
        ) from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def write_image_atomic(image: sitk.Image, path: PathLike, compress: bool = True) -> Path:
    """Write ``image`` to ``path`` atomically (see :func:`atomic_output`), verified before
    the rename: ITK reports a full disk on the console but raises nothing, so the written
    file's stored length is checked against its header (NIfTI), or the file is read back."""
    with atomic_output(path) as temporary:
        try:
            # Fast deflate level: maps and phantoms compress well at level 1, in a fraction of the time.
            sitk.WriteImage(image, str(temporary), compress, 1)
            verify_written_image(temporary, image, path)
        except RuntimeError:
            raise InputError(
                f"Could not write '{path}'; check that the folder is writable and has space."
            ) from None
    return Path(path)


def verify_written_image(written: PathLike, image: sitk.Image, name: PathLike) -> None:
    """Raise ``InputError`` naming ``name`` unless ``written`` holds all of ``image``."""
    failure = InputError(f"Could not write '{name}' completely; check that the folder has space and write it again.")
    if not os.path.isfile(written) or os.path.getsize(written) == 0:
        raise failure
    try:
        if is_nifti(written):
            stored = check_volume_file(written, full=False)
            if stored is not None and tuple(stored.shape[:3]) != tuple(image.GetSize()):
                raise failure
        else:
            back = sitk.ReadImage(str(written))
            if back.GetSize() != image.GetSize():
                raise failure
    except (InputError, RuntimeError):
        raise failure from None
