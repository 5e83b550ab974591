"""NIfTI files read once and checked as stored give exactly what ITK's reader gives:
the same voxels (scaling included) and the same geometry, for every header variant."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.errors import InputError
from braintumorai.file_integrity import check_volume_file, read_checked_nifti
from braintumorai.io import read_image, write_image_atomic

from conftest import REAL_SAMPLE

nib = pytest.importorskip("nibabel")


def _affine(oblique: bool) -> np.ndarray:
    affine = np.diag([0.9, 1.1, 3.0, 1.0])
    if oblique:
        angle = np.deg2rad(17.0)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        affine[:3, :3] = rotation @ affine[:3, :3]
    affine[:3, 3] = [-80.0, 95.0, -40.0]
    return affine


VARIANTS = {
    "float32, sform": dict(dtype=np.float32),
    "int16 scaled": dict(dtype=np.int16, slope=0.5, intercept=-10.0),
    "uint8": dict(dtype=np.uint8),
    "float64 oblique": dict(dtype=np.float64, oblique=True),
    "qform only": dict(dtype=np.float32, oblique=True, sform=False),
    "big-endian int16": dict(dtype=np.int16, big_endian=True),
    "NIfTI-2": dict(dtype=np.float32, nifti2=True, oblique=True),
    "uncompressed .nii": dict(dtype=np.int32, suffix=".nii"),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_voxels_and_geometry_are_itks(tmp_path, name):
    options = VARIANTS[name]
    dtype = options["dtype"]
    rng = np.random.default_rng(3)
    data = (rng.random((23, 19, 11)) * 100).astype(dtype)
    cls = nib.Nifti2Image if options.get("nifti2") else nib.Nifti1Image
    image = cls(data, _affine(options.get("oblique", False)))
    if options.get("sform") is False:
        image.header.set_sform(None, code=0)
        image.header.set_qform(_affine(True), code=1)
    if "slope" in options:
        image.header.set_slope_inter(options["slope"], options["intercept"])
    if options.get("big_endian"):
        image = cls(data, image.affine, image.header.as_byteswapped(">"))
    path = tmp_path / f"volume{options.get('suffix', '.nii.gz')}"
    nib.save(image, str(path))
    try:
        itks = sitk.ReadImage(str(path))
    except RuntimeError:  # ITK 5.4 reads no NIfTI-2: neither does read_image, with a sentence
        assert read_checked_nifti(path) is None
        with pytest.raises(InputError, match="Cannot read"):
            read_image(path)
        return
    ours = read_checked_nifti(path)
    assert ours is not None
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ours).astype(np.float64),
                                  sitk.GetArrayFromImage(itks).astype(np.float64))
    assert ours.GetOrigin() == itks.GetOrigin() and ours.GetSpacing() == itks.GetSpacing()
    assert ours.GetDirection() == itks.GetDirection()


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="the real BraTS sample is not here (BRAINTUMORAI_REAL_SAMPLE)")
def test_the_real_sample_reads_as_itk_reads_it():
    for path in sorted(REAL_SAMPLE.glob("*.nii.gz")):
        ours, itks = read_image(path), sitk.Cast(sitk.ReadImage(str(path)), sitk.sitkFloat32)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(itks))
        assert (ours.GetOrigin(), ours.GetSpacing(), ours.GetDirection()) == \
            (itks.GetOrigin(), itks.GetSpacing(), itks.GetDirection())


def test_a_written_map_is_verified_by_its_stored_length(tmp_path):
    image = sitk.GetImageFromArray(np.random.default_rng(0).random((12, 13, 14)).astype(np.float32))
    path = write_image_atomic(image, tmp_path / "map.nii.gz")
    assert check_volume_file(path, full=False).shape == (14, 13, 12)
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    with pytest.raises(Exception, match="was not written completely"):
        check_volume_file(path, full=False)


def test_nan_in_a_nifti_that_itk_reads_itself_is_found_as_stored(tmp_path):
    """A one-frame 4-D NIfTI goes to ITK's reader (which turns NaN into 0): the NaN must be
    found in the stored data before that."""
    data = np.random.default_rng(1).random((9, 10, 11, 1)).astype(np.float32)
    data[2, 3, 4, 0] = np.nan
    path = tmp_path / "one-frame-t1c.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    assert not np.isnan(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))).any()  # what ITK alone gives
    with pytest.raises(InputError, match="one-frame-t1c.nii.gz' has 1 NaN or infinite voxels"):
        read_image(path)
