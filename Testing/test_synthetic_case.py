"""One synthetic case: masks agree with the images, determinism, geometry."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk

from braintumorai.errors import InputError
from braintumorai.modalities import MODALITIES
from braintumorai.synthetic import CLASSES, CT_BACKGROUND_HU, generate_case, sample_case_params

sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)


def arr(image):
    return sitk.GetArrayFromImage(image)


def typical_seed(label, start=0):
    seed = start
    while sample_case_params(label, seed)["atypical"] is not None:
        seed += 1
    return seed


@pytest.fixture(scope="module")
def cases():
    return {label: generate_case(label, seed=typical_seed(label), spacing=3.0) for label in CLASSES}


def tumour_masks(case):
    return {k: arr(case.masks[k]).astype(bool) for k in ("necrosis", "enhancing", "non_enhancing", "oedema",
                                                           "brain")}


def test_outputs_complete_and_typed(cases):
    for label, case in cases.items():
        assert case.label == label
        assert set(case.images) == set(MODALITIES)
        assert {"necrosis", "enhancing", "non_enhancing", "oedema", "brain", "seg"} <= set(case.masks)
        for image in case.images.values():
            assert image.GetPixelID() == sitk.sitkFloat32
        for mask in case.masks.values():
            assert mask.GetPixelID() == sitk.sitkUInt8
        import json

        json.dumps(case.params)  # parameters are JSON-serialisable
        assert case.params["atypical"] is None


def test_nothing_outside_the_brain(cases):
    for case in cases.values():
        m = tumour_masks(case)
        outside = ~m["brain"]
        for mod, image in case.images.items():
            a = arr(image)
            expected = CT_BACKGROUND_HU if mod == "CT" else 0.0
            assert np.all(a[outside] == expected), mod
            assert np.isfinite(a).all()
        for k in ("necrosis", "enhancing", "non_enhancing", "oedema"):
            assert not (m[k] & outside).any()
        assert 1.0e6 < m["brain"].sum() * 27.0 < 2.2e6  # brain volume in mm^3 (about 1.1 to 2 L)


def test_masks_exclusive_and_seg_uses_brats_labels(cases):
    for case in cases.values():
        m = tumour_masks(case)
        stacked = sum(m[k].astype(int) for k in ("necrosis", "enhancing", "non_enhancing", "oedema"))
        assert stacked.max() <= 1
        seg = arr(case.masks["seg"])
        assert set(np.unique(seg)) <= {0, 1, 2, 3}
        assert np.array_equal(seg == 3, m["enhancing"])
        assert np.array_equal(seg == 2, m["oedema"])
        assert np.array_equal(seg == 1, m["necrosis"] | m["non_enhancing"])
    assert not arr(cases["no_tumor"].masks["seg"]).any()
    for label in ("glioblastoma", "lower_grade_glioma", "metastasis", "meningioma", "lymphoma"):
        assert arr(cases[label].masks["seg"]).any(), label


def relative(case, mod, normal):
    a = arr(case.images[mod]).astype(np.float64)
    return a / np.median(a[normal])


def test_enhancement_only_inside_enhancing_mask(cases):
    for label, case in cases.items():
        m = tumour_masks(case)
        normal = m["brain"] & ~(m["necrosis"] | m["enhancing"] | m["non_enhancing"] | m["oedema"])
        enhancement = relative(case, "T1C", normal) - relative(case, "T1", normal)
        near = ndi.binary_dilation(m["enhancing"], iterations=1)
        strong = (enhancement > 0.5) & m["brain"]
        assert (strong & ~near).sum() <= 0.001 * m["brain"].sum(), label
        if m["enhancing"].sum() > 20:
            assert np.median(enhancement[m["enhancing"]]) > 0.5, label


def test_necrosis_dark_on_t1c_and_oedema_bright_on_flair(cases):
    case = cases["glioblastoma"]
    m = tumour_masks(case)
    assert m["necrosis"].sum() > 20 and m["oedema"].sum() > 50
    normal = m["brain"] & ~(m["necrosis"] | m["enhancing"] | m["oedema"])
    t1c = relative(case, "T1C", normal)
    assert np.median(t1c[m["necrosis"]]) < 0.7
    assert np.median(t1c[m["necrosis"]]) < 0.5 * np.median(t1c[m["enhancing"]])
    for label in ("glioblastoma", "metastasis", "lymphoma"):
        c = cases[label]
        mm = tumour_masks(c)
        flair = relative(c, "FLAIR", mm["brain"] & ~(mm["oedema"] | mm["enhancing"] | mm["necrosis"]))
        assert np.median(flair[mm["oedema"]]) > 1.3, label
    pet = arr(case.images["PET"])
    assert np.median(pet[m["necrosis"]]) < 0.6 * np.median(pet[m["enhancing"]])


def test_same_seed_same_bytes_and_subsets_agree():
    a = generate_case("metastasis", seed=11, spacing=4.0)
    b = generate_case("metastasis", seed=11, spacing=4.0)
    c = generate_case("metastasis", seed=11, spacing=4.0, modalities=("FLAIR", "T1"))
    assert a.params == b.params
    for mod in MODALITIES:
        assert arr(a.images[mod]).tobytes() == arr(b.images[mod]).tobytes()
    for name in a.masks:
        assert arr(a.masks[name]).tobytes() == arr(b.masks[name]).tobytes()
    assert set(c.images) == {"FLAIR", "T1"}
    assert arr(c.images["T1"]).tobytes() == arr(a.images["T1"]).tobytes()


def test_different_seeds_differ():
    a = generate_case("glioblastoma", seed=1, spacing=4.0, modalities=("T1C",))
    b = generate_case("glioblastoma", seed=2, spacing=4.0, modalities=("T1C",))
    assert a.params["tumour"] != b.params["tumour"]
    assert a.images["T1C"].GetSize() != b.images["T1C"].GetSize() or \
        not np.array_equal(arr(a.images["T1C"]), arr(b.images["T1C"]))
    labels = {sample_case_params(None, s)["label"] for s in range(40)}
    assert labels == set(CLASSES)  # label=None draws every class


def test_geometry_is_physical_and_shared():
    case = generate_case("lymphoma", seed=3, spacing=(2.0, 2.5, 3.0), modalities=("T1", "PET"))
    ref = case.images["T1"]
    assert ref.GetSpacing() == (2.0, 2.5, 3.0)
    assert ref.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    for image in list(case.images.values()) + list(case.masks.values()):
        assert image.GetOrigin() == ref.GetOrigin() and image.GetSize() == ref.GetSize()
        assert image.GetSpacing() == ref.GetSpacing()
    # The brain sits where MNI puts it (LPS): centroid near (0, 18, 10) mm.
    brain = arr(case.masks["brain"]) > 0
    idx = np.array(np.nonzero(brain)).mean(axis=1)[::-1]
    centre = ref.TransformContinuousIndexToPhysicalPoint(idx.tolist())
    assert np.linalg.norm(np.array(centre) - np.array([0.0, 18.0, 10.0])) < 25.0
    # The same case at two spacings has the same anatomy: brain volumes agree within 5 %.
    fine = generate_case("lymphoma", seed=3, spacing=2.0, modalities=("T1",))
    v_fine = (arr(fine.masks["brain"]) > 0).sum() * 8.0
    v = brain.sum() * 2.0 * 2.5 * 3.0
    assert abs(v - v_fine) / v_fine < 0.05


def test_tumour_scale_grows_the_tumour():
    small = generate_case("glioblastoma", seed=5, spacing=4.0, modalities=("T1",), tumour_scale=0.6)
    big = generate_case("glioblastoma", seed=5, spacing=4.0, modalities=("T1",), tumour_scale=1.0)
    core = [(arr(c.masks["seg"]) % 2 == 1).sum() for c in (small, big)]  # labels 1 and 3
    assert 0 < core[0] < 0.5 * core[1]


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError):
        generate_case("astrocytoma", seed=0)
    with pytest.raises(InputError):
        generate_case("glioblastoma", seed=0, modalities=("T1", "DWI"))
    with pytest.raises(InputError):
        generate_case("glioblastoma", seed=0, modalities=())


@pytest.mark.parametrize("label", ["glioblastoma", "metastasis", "lower_grade_glioma", "meningioma", "lymphoma"])
def test_each_lesion_is_drawn_whole_with_no_straight_cut_edges(label, monkeypatch):
    """A lesion is drawn in a block around it; a block that cut the oedema drew a straight edge
    through the hyperintensity (issue 17). Drawn in blocks half again as large, every tissue
    mask is the same voxel for voxel (the texture inside is drawn afresh for the larger block)."""
    from braintumorai.synthetic import tumours

    names = ("seg", "oedema", "enhancing", "necrosis", "non_enhancing")
    drawn = [generate_case(label, seed, spacing=3.0, modalities=["FLAIR"]).masks for seed in range(5)]
    reach = tumours._block_reach
    monkeypatch.setattr(tumours, "_block_reach", lambda *args: 1.5 * reach(*args))
    for seed, masks in enumerate(drawn):
        wider = generate_case(label, seed, spacing=3.0, modalities=["FLAIR"]).masks
        for name in names:
            np.testing.assert_array_equal(sitk.GetArrayViewFromImage(wider[name]),
                                          sitk.GetArrayViewFromImage(masks[name]), err_msg=f"{label} {seed} {name}")
