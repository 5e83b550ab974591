"""The content checks' fast paths give the answers of the plain computations they replace
(braintumorai/content_agreement.py): NMI against numpy's 2-D histogram, the share of the
brain in a field against nearest-neighbour resampling, the duplicate check against whole hashes."""

import numpy as np
import SimpleITK as sitk

from braintumorai import content_agreement as ca


def reference_nmi(a, b, bins=32):
    a = np.clip(a, *np.percentile(a, [0.5, 99.5]))
    b = np.clip(b, *np.percentile(b, [0.5, 99.5]))
    joint = np.histogram2d(a, b, bins=bins)[0]

    def entropy(p):
        p = p[p > 0] / p.sum()
        return -(p * np.log(p)).sum()

    return (entropy(np.histogram(a, bins)[0]) + entropy(np.histogram(b, bins)[0])) / entropy(joint.ravel())


def test_nmi_equals_the_histogram_definition_and_orders_dependence():
    rng = np.random.default_rng(0)
    a = rng.normal(size=50_000)
    a[7] = 1e6  # one stray voxel
    tight, loose, none = a + 0.1 * rng.normal(size=a.size), a + rng.normal(size=a.size), rng.normal(size=a.size)
    values = [ca.nmi(a, b) for b in (tight, loose, none)]
    np.testing.assert_allclose(values, [reference_nmi(a, b) for b in (tight, loose, none)], rtol=1e-3)
    assert values[0] > values[1] > values[2] >= 1.0


def test_the_share_of_the_brain_in_a_field_is_what_resampling_the_field_gives():
    brain = sitk.Image([60, 70, 50], sitk.sitkUInt8)
    brain.SetSpacing((1.0, 1.2, 2.0))
    brain.SetOrigin((-30.0, -40.0, -50.0))
    array = sitk.GetArrayFromImage(brain)
    array[5:45, 10:60, 8:52] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(brain)
    slab = sitk.Image([80, 90, 12], sitk.sitkFloat32)  # an oblique slab that holds part of the brain
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(0.2, -0.1, 0.3)
    slab.SetDirection(rotation.GetMatrix())
    slab.SetSpacing((1.0, 1.0, 3.0))
    slab.SetOrigin((-45.0, -55.0, -20.0))
    field = sitk.Image(slab.GetSize(), sitk.sitkUInt8) + 1
    field.CopyInformation(slab)
    covered = sitk.Resample(field, mask, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    expected = np.count_nonzero(sitk.GetArrayViewFromImage(covered)[array > 0]) / np.count_nonzero(array)
    share = np.mean(ca._inside_field(slab, ca._brain_points(mask, array > 0)))
    assert 0.1 < expected < 0.9 and abs(share - expected) < 0.01


def test_duplicates_are_found_whole_not_by_their_sample():
    rng = np.random.default_rng(1)
    volume = sitk.GetImageFromArray(rng.normal(size=(20, 30, 40)).astype(np.float32))
    same = sitk.Image(volume)
    close = sitk.GetImageFromArray(sitk.GetArrayFromImage(volume))
    close[1, 0, 0] = 5.0  # voxel 1: outside the sample of every 97th voxel, so only the whole hash tells
    findings = ca.duplicate_findings({"T1": volume, "T2": same, "FLAIR": close}, {})
    assert len(findings) == 1 and "T1 ('T1') and T2 ('T2') hold the same voxels" in findings[0].sentence
    assert ca.duplicate_findings({"T1": volume, "FLAIR": close}, {}) == []
