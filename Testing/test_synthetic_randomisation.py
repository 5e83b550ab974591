"""Domain randomisation: every step deterministic per seed, masks aligned with the images,
the plain phantom untouched; atrophy; the head layers."""

import copy

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.synthetic import generate_case, sample_case_params
from braintumorai.synthetic.randomisation import (
    HEAD_RIM_MM, SHIFTED, TRAINING, draw_randomisation, randomise, randomised_case,
)

sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
SPACING = 3.0


def arr(image):
    return sitk.GetArrayFromImage(image)


def neutral(draw: dict) -> dict:
    """The same draw with every step switched off."""
    out = copy.deepcopy(draw)
    for p in out["modalities"].values():
        p.update(curve="identity", gain=1.0, bias=0.0, thickness_mm=0.0, blur_mm=0.0, noise_level=0.0, ghost=0.0,
                 rotation_deg=[0.0] * 3, translation_mm=[0.0] * 3, ct_offset_hu=0.0, pet_fwhm_mm=0.0)
    out["skull_strip_offset_mm"] = None
    out["fov_cut"] = None
    return out


STEPS = {
    "curve": lambda d: [p.update(curve="piecewise") for p in d["modalities"].values()],
    "bias": lambda d: [p.update(bias=0.25) for p in d["modalities"].values()],
    "thick slices": lambda d: [p.update(thickness_mm=6.0, thick_axis=1) for p in d["modalities"].values()],
    "blur": lambda d: [p.update(blur_mm=1.0) for p in d["modalities"].values()],
    "noise": lambda d: [p.update(noise="rician", noise_level=0.05) for p in d["modalities"].values()],
    "ghosting": lambda d: [p.update(ghost=0.1) for p in d["modalities"].values()],
    "misregistration": lambda d: [p.update(rotation_deg=[2.0, -1.0, 1.0], translation_mm=[2.0, -2.0, 1.0])
                                  for p in d["modalities"].values()],
    "skull stripping": lambda d: d.update(skull_strip_offset_mm=(4.0, 2.0)),
    "field of view": lambda d: d.update(fov_cut={"axis": 0, "side": 1, "depth_mm": 20.0}),
}


@pytest.fixture(scope="module")
def rendered():
    """A typical glioblastoma with the head rim, as the randomisation layer renders it."""
    seed = 0
    while sample_case_params("glioblastoma", seed)["atypical"] is not None:
        seed += 1
    draw = draw_randomisation(seed)
    case = generate_case("glioblastoma", seed=seed, spacing=SPACING, head_mm=HEAD_RIM_MM)
    return case, draw


def enhancement_contrast(case) -> float:
    """Mean T1C in the enhancing mask over the mean in the rest of the brain."""
    t1c = arr(case.images["T1C"])
    enhancing = arr(case.masks["enhancing"]) > 0
    rest = (arr(case.masks["brain"]) > 0) & (arr(case.masks["seg"]) == 0) & (t1c > 0)
    return float(t1c[enhancing].mean() / t1c[rest].mean())


def test_neutral_draw_only_strips_the_skull(rendered):
    case, draw = rendered
    out = randomise(case, neutral(draw))
    brain = arr(case.masks["brain"]) > 0
    for mod in ("T1", "T1C", "T2", "FLAIR", "PET"):
        a = arr(out.images[mod])
        assert np.allclose(a[brain], arr(case.images[mod])[brain], rtol=1e-5), mod
        assert np.all(a[~brain] == 0), mod
    assert np.all(arr(out.images["CT"])[~brain] == -1000.0)


@pytest.mark.parametrize("step", list(STEPS))
def test_each_step_is_deterministic_and_keeps_masks_aligned(rendered, step):
    case, draw = rendered
    chosen = neutral(draw)
    STEPS[step](chosen)
    a, b = randomise(case, chosen), randomise(case, chosen)
    for mod in case.images:
        assert arr(a.images[mod]).tobytes() == arr(b.images[mod]).tobytes(), (step, mod)
        assert a.images[mod].GetOrigin() == case.images[mod].GetOrigin()
        assert a.images[mod].GetSize() == case.masks["seg"].GetSize()
    # The masks are the case's own, on the same grid, and still mark the enhancing rim on
    # the reference modality (T1C), which no step moves.
    assert arr(a.masks["seg"]).tobytes() == arr(case.masks["seg"]).tobytes()
    assert enhancement_contrast(a) > 1.3, step
    assert not np.array_equal(arr(a.images["T2"]), arr(randomise(case, neutral(draw)).images["T2"])), step


def test_misregistration_moves_the_others_not_the_reference(rendered):
    case, draw = rendered
    chosen = neutral(draw)
    STEPS["misregistration"](chosen)
    out = randomise(case, chosen)
    plain = randomise(case, neutral(draw))
    assert np.array_equal(arr(out.images["T1C"]), arr(plain.images["T1C"]))
    assert not np.array_equal(arr(out.images["FLAIR"]), arr(plain.images["FLAIR"]))


def test_same_seed_same_case_other_seed_other_case():
    a = randomised_case("metastasis", seed=5, spacing=SPACING, modalities=("T1C", "FLAIR"))
    b = randomised_case("metastasis", seed=5, spacing=SPACING, modalities=("T1C", "FLAIR"))
    c = randomised_case("metastasis", seed=6, spacing=SPACING, modalities=("T1C", "FLAIR"))
    for mod in ("T1C", "FLAIR"):
        assert arr(a.images[mod]).tobytes() == arr(b.images[mod]).tobytes()
    assert a.params["randomisation"] == b.params["randomisation"] != c.params["randomisation"]


def test_shifted_setting_lies_outside_the_training_ranges():
    assert SHIFTED.thickness_mm[0] > TRAINING.thickness_mm[1]
    assert SHIFTED.bias_log_amplitude[0] > TRAINING.bias_log_amplitude[1]
    assert not set(SHIFTED.curves) & set(TRAINING.curves)
    draw = draw_randomisation(3, SHIFTED)
    assert all(p["thickness_mm"] >= 7.0 and p["curve"] == "sigmoid" for p in draw["modalities"].values())


def test_atrophy_widens_the_ventricles_and_sulci():
    plain = generate_case("no_tumor", seed=2, spacing=SPACING, modalities=("T2",))
    old = generate_case("no_tumor", seed=2, spacing=SPACING, modalities=("T2",),
                        atrophy={"ventricles": 0.3, "cortical": 0.4})
    brain = arr(plain.masks["brain"]) > 0

    def csf_share(case):  # CSF is the brightest tissue on T2
        t2 = arr(case.images["T2"])[brain]
        return float(np.mean(t2 > 2.0 * np.median(t2)))

    assert csf_share(old) > 1.3 * csf_share(plain)


def test_head_layers_surround_the_brain_and_the_plain_phantom_is_unchanged():
    plain = generate_case("meningioma", seed=4, spacing=SPACING, modalities=("T1", "CT"))
    again = generate_case("meningioma", seed=4, spacing=SPACING, modalities=("T1", "CT"), head_mm=0.0)
    assert arr(plain.images["T1"]).tobytes() == arr(again.images["T1"]).tobytes()
    head = generate_case("meningioma", seed=4, spacing=SPACING, modalities=("T1", "CT"), head_mm=20.0)
    brain = arr(head.masks["brain"]) > 0
    ct = arr(head.images["CT"])
    assert ct[~brain].max() > 1000.0          # skull
    assert (ct[~brain] < -50).mean() > 0.1    # fat and air
    t1 = arr(head.images["T1"])
    assert np.count_nonzero(t1[~brain] > np.median(t1[brain])) > 1000  # marrow and scalp fat are bright on T1
