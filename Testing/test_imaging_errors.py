"""Bad input at the imaging layer: one clear sentence that names the file."""

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.errors import InputError
from braintumorai.io import read_image, write_image_atomic
from braintumorai.study import Study

from imaging_helpers import write_dicom_series


def _write(tmp_path, name, array, spacing=None):
    image = sitk.GetImageFromArray(np.asarray(array, np.float32), isVector=False)
    if spacing:
        image.SetSpacing(spacing)
    path = tmp_path / name
    sitk.WriteImage(image, str(path))
    return path


def _one_sentence(message: str) -> bool:
    return message.count(". ") == 0 and message.endswith(".")


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as error:
        read_image(tmp_path / "nope_t1.nii.gz")
    assert "nope_t1.nii.gz' does not exist" in str(error.value) and _one_sentence(str(error.value))


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken_t1.nii.gz"
    path.write_bytes(b"this is not an image")
    with pytest.raises(InputError, match=r"Cannot read '.*broken_t1.nii.gz'") as error:
        read_image(path)
    assert _one_sentence(str(error.value))


def test_two_dimensional_image(tmp_path):
    path = _write(tmp_path, "slice_t1.nrrd", np.random.rand(32, 32))
    with pytest.raises(InputError, match=r"slice_t1.nrrd' is a 2-D image \(32x32\)"):
        read_image(path)


def test_four_dimensional_image(tmp_path):
    image = sitk.JoinSeries([sitk.GetImageFromArray(np.random.rand(8, 8, 8).astype(np.float32))] * 3)
    path = tmp_path / "dynamic_pet.nii.gz"
    sitk.WriteImage(image, str(path))
    with pytest.raises(InputError, match=r"dynamic_pet.nii.gz' is a 4-D image .*pick one time point"):
        read_image(path)


def test_four_dimensional_image_with_one_frame_is_accepted(tmp_path):
    image = sitk.JoinSeries([sitk.GetImageFromArray(np.random.rand(8, 8, 8).astype(np.float32))])
    path = tmp_path / "single_t2.nii.gz"
    sitk.WriteImage(image, str(path))
    assert read_image(path).GetDimension() == 3


def test_empty_volume(tmp_path):
    path = _write(tmp_path, "empty_flair.nii.gz", np.zeros((8, 8, 8)))
    with pytest.raises(InputError, match=r"empty_flair.nii.gz' is empty"):
        read_image(path)


def test_constant_volume(tmp_path):
    path = _write(tmp_path, "flat_t2.nii.gz", np.full((8, 8, 8), 7.0))
    with pytest.raises(InputError, match=r"flat_t2.nii.gz' is constant \(every voxel is 7\)"):
        read_image(path)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_voxels(tmp_path, value):
    array = np.random.rand(8, 8, 8)
    array[2, 3, 4] = value
    path = _write(tmp_path, "bad_ct.nrrd", array)
    with pytest.raises(InputError, match=r"bad_ct.nrrd' has 1 NaN or infinite voxels"):
        read_image(path)


def test_unknown_and_duplicate_modality_in_a_study():
    image = sitk.GetImageFromArray(np.random.rand(8, 8, 8).astype(np.float32))
    with pytest.raises(InputError, match="Unknown modality 'DWI'"):
        Study({"DWI": image})
    with pytest.raises(InputError, match="T1C was given twice"):
        Study({"T1C": image, "t1ce": image})
    with pytest.raises(InputError, match="No volume was given"):
        Study({})


def test_reading_formats_keeps_geometry(tmp_path):
    array = np.random.rand(6, 7, 8).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5, 0.7, 3.0))
    image.SetOrigin((10.0, -4.0, 2.5))
    for name in ("v_t1.nii.gz", "v_t1.nrrd", "v_t1.mha"):
        path = write_image_atomic(image, tmp_path / name)
        back = read_image(path)
        assert np.allclose(back.GetSpacing(), image.GetSpacing()) and np.allclose(back.GetOrigin(), image.GetOrigin())
        assert np.allclose(sitk.GetArrayFromImage(back), array)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_dicom_series_is_read_with_its_geometry(tmp_path):
    pytest.importorskip("pydicom")

    def brighter(slice_, index):
        slice_.PixelData = (slice_.pixel_array + 10 * index).astype(slice_.pixel_array.dtype).tobytes()

    source = write_dicom_series(tmp_path / "ct_series", edit=brighter)
    image = read_image(tmp_path / "ct_series")
    assert image.GetSize() == (128, 128, 4)
    assert abs(image.GetSpacing()[2] - 5.0) < 1e-3
    assert image.GetOrigin()[2] == pytest.approx(float(source.ImagePositionPatient[2]))


def test_pet_suv_from_bq_per_ml_with_dicom_weight_and_dose(tmp_path):
    """A PET DICOM series in Bq/mL: weight from (0010,1030), dose from the radiopharmaceutical
    sequence, decay-corrected from injection (09:30) to the series start (10:15)."""
    pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from braintumorai.normalization import suv_factor

    def as_pet(slice_, index):
        slice_.Modality, slice_.Units, slice_.PatientWeight = "PT", "BQML", 70
        slice_.SeriesTime, slice_.DecayCorrection = "101500", "START"
        item = Dataset()
        item.RadionuclideTotalDose, item.RadiopharmaceuticalStartTime, item.RadionuclideHalfLife = 370e6, "093000", 6586.2
        slice_.RadiopharmaceuticalInformationSequence = Sequence([item])

    folder = tmp_path / "pet_series"
    write_dicom_series(folder, edit=as_pet)
    study = Study.from_files({"PET": str(folder)})
    metadata = study.metadata["PET"]
    assert metadata["units"] == "BQML" and metadata["patient_weight_kg"] == 70
    expected_dose = 370e6 * 0.5 ** (45 * 60 / 6586.2)  # 45 minutes of F-18 decay
    assert metadata["injected_dose_bq"] == pytest.approx(expected_dose, rel=1e-9)
    assert suv_factor(metadata) == pytest.approx(70_000 / expected_dose)
    # Given explicitly (--pet-weight / --pet-dose), the values win over the tags.
    explicit = Study.from_files({"PET": str(folder)}, metadata={"PET": {"injected_dose_bq": 3.0e8}})
    assert explicit.metadata["PET"]["injected_dose_bq"] == 3.0e8
