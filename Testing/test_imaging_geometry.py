"""Geometry: the model-grid round trip, resampling onto the reference, overlap refusal,
and rigid registration (imaging contract 2-3)."""

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.errors import GeometryError
from braintumorai.geometry import check_coregistration
from braintumorai.model_grid import ModelGrid, to_model, to_reference
from braintumorai.registration import register_rigid
from braintumorai.study import Study, align, model_input

from imaging_helpers import centroid_in_voxels, head_with_blob, physical_points, rotation, weighted_centroid

BLOB = np.array([18.0, -25.0, 12.0])  # LPS mm
OBLIQUE = rotation("z", 25) @ rotation("x", -15)
FLIP = np.diag([-1.0, 1.0, -1.0])  # a flipped volume: same anatomy, axes reversed


@pytest.mark.parametrize("name,direction", [("oblique", OBLIQUE), ("oblique flipped", OBLIQUE @ FLIP)])
def test_blob_round_trip_through_model_grid_stays_within_one_voxel(name, direction):
    # Anisotropic, like a clinical 2-D acquisition: 0.9 x 0.9 mm in-plane, 4 mm slices.
    reference = head_with_blob((180, 200, 40), (0.9, 0.9, 4.0), direction, blob_centre=BLOB, blob_radius=10)
    placed = weighted_centroid(reference, 200)
    assert np.linalg.norm(placed - BLOB) < 0.1  # the phantom itself is right (0.02 mm measured)

    grid = ModelGrid(spacing_mm=(2.0, 2.0, 2.0), size=(96, 112, 96)).place(reference)
    on_grid = to_model(reference, grid)
    # On the model grid the blob is where it was in the patient, whatever the input orientation
    # (0.05 mm measured; a half-voxel shift of the 2 mm grid would be 1 mm).
    grid_image = sitk.GetImageFromArray(on_grid)
    grid_image.CopyInformation(grid)
    assert np.linalg.norm(weighted_centroid(grid_image, 200) - BLOB) < 0.15

    back = to_reference(on_grid, grid, reference)
    assert back.GetSize() == reference.GetSize()
    assert back.GetDirection() == reference.GetDirection()
    # Back on the reference: 0.01 mm from where it started (measured), a hundredth of a voxel.
    assert np.linalg.norm(weighted_centroid(back, 200) - placed) < 0.1, name
    found = centroid_in_voxels(reference, weighted_centroid(back, 200))
    expected = centroid_in_voxels(reference, placed)
    assert np.all(np.abs(found - expected) <= 0.05), f"{name}: {found} vs {expected}"


def test_flipped_input_gives_the_same_model_grid_image():
    plain = head_with_blob((100, 110, 90), (1.5, 1.5, 1.5), np.eye(3), blob_centre=BLOB)
    flipped = head_with_blob((100, 110, 90), (1.5, 1.5, 1.5), FLIP, blob_centre=BLOB)
    grid = ModelGrid((2.0, 2.0, 2.0), (64, 64, 64))
    a = to_model(plain, grid.place(plain))
    b = to_model(flipped, grid.place(flipped))
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_study_on_another_grid_is_resampled_onto_the_reference():
    reference = head_with_blob((120, 130, 110), (1.2, 1.2, 1.2), np.eye(3), blob_centre=BLOB)
    other = head_with_blob((60, 70, 30), (2.5, 2.5, 5.0), OBLIQUE, blob_centre=BLOB)
    aligned = align(Study({"T1C": reference, "FLAIR": other}))
    assert aligned.status == {"T1C": "yes", "FLAIR": "resampled"}
    flair = aligned.images["FLAIR"]
    assert flair.GetSize() == reference.GetSize() and flair.GetOrigin() == reference.GetOrigin()
    assert np.linalg.norm(weighted_centroid(flair, 200) - BLOB) < 3.0


def test_volume_that_does_not_overlap_the_reference_is_refused():
    reference = head_with_blob((80, 90, 80), (2.0, 2.0, 2.0))
    moved = head_with_blob((80, 90, 80), (2.0, 2.0, 2.0))
    moved.SetOrigin((np.asarray(moved.GetOrigin()) + [150.0, 0.0, 0.0]).tolist())
    assert check_coregistration(moved, reference).status == "no"
    with pytest.raises(GeometryError, match=r"FLAIR \('far.nii.gz'\) is not co-registered"):
        align(Study({"T1": reference, "FLAIR": moved}, names={"FLAIR": "far.nii.gz"}))


def test_user_images_are_not_modified_by_alignment():
    reference = head_with_blob((80, 90, 80), (2.0, 2.0, 2.0))
    other = head_with_blob((50, 60, 40), (3.0, 3.0, 4.0), OBLIQUE)
    before = sitk.GetArrayFromImage(other).copy(), other.GetOrigin(), other.GetDirection()
    study = Study({"T1": reference, "T2": other})
    model_input(align(study), ModelGrid((3.0, 3.0, 3.0), (48, 56, 48)))
    assert np.array_equal(sitk.GetArrayFromImage(study.images["T2"]), before[0])
    assert study.images["T2"].GetOrigin() == before[1] and study.images["T2"].GetDirection() == before[2]


def test_model_input_marks_absent_channels_and_normalises_inside_the_brain():
    reference = head_with_blob((80, 90, 80), (2.0, 2.0, 2.0))
    result = model_input(align(Study({"T1": reference, "CT": reference * 0.5})), ModelGrid((3.0,) * 3, (48, 56, 48)))
    assert result.channels.shape == (6, 48, 56, 48)
    assert result.present.tolist() == [True, False, False, False, True, False]
    assert not result.channels[1].any() and not result.channels[5].any()
    t1 = result.channels[0][result.brain]
    assert abs(t1.mean()) < 0.05 and abs(t1.std() - 1) < 0.05
    assert not result.channels[0][~result.brain].any()


def _mni_t1_at(spacing: float) -> sitk.Image:
    from nilearn import datasets

    nifti = datasets.load_mni152_template(resolution=1)
    array = np.asarray(nifti.get_fdata(), np.float32).transpose(2, 1, 0)  # (x,y,z) -> (z,y,x)
    image = sitk.GetImageFromArray(array)
    affine = nifti.affine
    # NIfTI affines are RAS; SimpleITK is LPS: negate the first two rows.
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :4]
    image.SetSpacing([1.0, 1.0, 1.0])
    image.SetDirection((lps[:3, :3]).ravel().tolist())
    image.SetOrigin(lps[:3, 3].tolist())
    return sitk.Resample(image, [int(s / spacing) for s in image.GetSize()], sitk.Transform(), sitk.sitkLinear,
                         image.GetOrigin(), [spacing] * 3, image.GetDirection(), 0.0, sitk.sitkFloat32)


def test_rigid_registration_recovers_a_known_motion_of_an_mni_volume():
    fixed = _mni_t1_at(2.0)
    truth = sitk.Euler3DTransform()
    truth.SetCenter(fixed.TransformContinuousIndexToPhysicalPoint([s / 2 for s in fixed.GetSize()]))
    truth.SetRotation(np.deg2rad(6.0), np.deg2rad(-4.0), np.deg2rad(8.0))
    truth.SetTranslation((7.0, -5.0, 4.0))
    # moving(p) = fixed(truth^-1(p)): the head moved by ``truth``.
    moving = sitk.Resample(fixed, fixed, truth.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    found = register_rigid(fixed, moving)

    def matrix(t):
        m = np.eye(4)
        m[:3, :3] = np.array(t.GetMatrix()).reshape(3, 3)
        m[:3, 3] = np.array(t.GetTranslation()) + np.array(t.GetCenter()) - m[:3, :3] @ np.array(t.GetCenter())
        return m

    # found maps fixed points to moving points, so moving(found(p)) = fixed(p) needs found = truth.
    error = matrix(found) @ np.linalg.inv(matrix(truth))
    angle = np.degrees(np.arccos(np.clip((np.trace(error[:3, :3]) - 1) / 2, -1, 1)))
    brain_points = np.array([[0, -20, 10], [60, -20, 10], [-60, -20, 10], [0, 50, 10], [0, -90, 10], [0, -20, 60]], float)
    shifts = np.linalg.norm((error[:3, :3] @ brain_points.T).T + error[:3, 3] - brain_points, axis=1)
    assert angle < 1.0 and shifts.max() < 1.0, (angle, shifts)


def test_brain_mask_is_estimated_on_an_oblique_volume_with_skull():
    from braintumorai.brain_mask import estimate_brain_mask

    head = head_with_blob((90, 100, 40), (2.0, 2.0, 4.0), OBLIQUE)
    noisy = sitk.GetImageFromArray(sitk.GetArrayFromImage(head) + np.random.default_rng(0).normal(5, 1, (40, 100, 90)).astype(np.float32))
    noisy.CopyInformation(head)
    mask = estimate_brain_mask(noisy)
    assert mask.GetDirection() == head.GetDirection() and mask.GetOrigin() == head.GetOrigin()
    inside = sitk.GetArrayFromImage(head) > 0
    estimated = sitk.GetArrayFromImage(mask) > 0
    assert (inside & estimated).sum() / (inside | estimated).sum() > 0.95


def test_brain_mask_of_a_fine_skull_stripped_volume_fills_holes_and_keeps_its_outline():
    # 1 mm volume: holes are looked for on a 2 mm copy; the outline must stay the 1 mm one.
    from braintumorai.brain_mask import estimate_brain_mask

    zz, yy, xx = np.mgrid[:70, :90, :80]
    brain = ((zz - 35) / 30.0) ** 2 + ((yy - 45) / 40.0) ** 2 + ((xx - 40) / 35.0) ** 2 <= 1
    necrosis = (zz - 30) ** 2 + (yy - 50) ** 2 + (xx - 30) ** 2 <= 8 ** 2  # exact zeros inside the brain
    array = np.where(brain & ~necrosis, 100.0 + np.random.default_rng(1).normal(0, 5, brain.shape), 0.0)
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing((1.0, 1.0, 1.0))
    image.SetDirection(OBLIQUE.flatten().tolist())
    mask = sitk.GetArrayFromImage(estimate_brain_mask(image)).astype(bool)
    assert mask[necrosis].mean() > 0.99
    assert not mask[~brain].any()
    assert mask[brain].mean() > 0.99


def test_registration_moves_a_blob_back_onto_the_reference():
    """align(register=True) on a moved, regridded volume puts its content where the
    reference has it: the blob of the moved copy lands on the reference's blob (with the
    inverse transform it would land about 2 x the motion away)."""
    fixed = _mni_t1_at(2.0)
    centre = np.asarray(fixed.TransformContinuousIndexToPhysicalPoint([s / 2 for s in fixed.GetSize()]))
    blob_at = centre + [25.0, -20.0, 15.0]
    points = physical_points(fixed)
    blob = (np.sum((points - blob_at) ** 2, -1) <= 8.0 ** 2).astype(np.float32)
    with_blob = sitk.GetImageFromArray(sitk.GetArrayFromImage(fixed) + 3.0 * float(np.max(
        sitk.GetArrayViewFromImage(fixed))) * blob)
    with_blob.CopyInformation(fixed)
    truth = sitk.Euler3DTransform()
    truth.SetCenter(centre.tolist())
    truth.SetRotation(np.deg2rad(5.0), np.deg2rad(-6.0), np.deg2rad(7.0))
    truth.SetTranslation((12.0, -8.0, 6.0))
    grid = sitk.Image([80, 96, 70], sitk.sitkFloat32)  # another grid: 2.5 mm, shifted
    grid.SetSpacing([2.5, 2.5, 2.5])
    grid.SetOrigin((centre - (np.array([80, 96, 70]) - 1) / 2 * 2.5 + [3.0, -2.0, 1.0]).tolist())
    moved = sitk.Resample(with_blob, grid, truth.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    aligned = align(Study({"T1": with_blob, "FLAIR": moved}), reference="T1", register=True)
    assert aligned.status["FLAIR"] == "registered"
    level = 2.0 * float(np.max(sitk.GetArrayViewFromImage(fixed)))
    assert np.linalg.norm(weighted_centroid(with_blob, level) - blob_at) < 0.5
    assert np.linalg.norm(weighted_centroid(aligned.images["FLAIR"], level) - blob_at) < 1.5


@pytest.mark.parametrize("radius", [1, 2])
def test_brain_mask_closing_and_filling_equal_itks(radius):
    """The scipy closing and hole filling give the masks ITK's BinaryMorphologicalClosing and
    BinaryFillhole (3-D, then per slice) give: a closed ventricle, a channel open in z and
    filled slice by slice, a notch at the field's edge, speckle gaps."""
    from braintumorai.brain_mask import _close_and_fill

    rng = np.random.default_rng(radius)
    z, y, x = np.mgrid[:40, :48, :44]
    mask = ((z - 20) ** 2 / 18 ** 2 + (y - 24) ** 2 / 22 ** 2 + (x - 22) ** 2 / 20 ** 2) <= 1
    mask &= ~(((z - 20) ** 2 + (y - 24) ** 2 + (x - 22) ** 2) <= 25)     # a closed cavity
    mask &= ~((np.abs(y - 24) <= 2) & (np.abs(x - 30) <= 2))             # a channel through every slice
    mask[:, :6, 20:24] = True                                            # a notch reaching the edge
    mask &= rng.random(mask.shape) > 0.03                                # speckle
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetSpacing((2.0, 2.0, 2.0))
    closed = sitk.BinaryMorphologicalClosing(image, [radius] * 3)
    filled = sitk.BinaryFillhole(closed)
    expected = sitk.JoinSeries([sitk.BinaryFillhole(filled[:, :, k]) for k in range(filled.GetSize()[2])])
    got = _close_and_fill(mask, radius)
    np.testing.assert_array_equal(got.astype(np.uint8), sitk.GetArrayFromImage(expected))
