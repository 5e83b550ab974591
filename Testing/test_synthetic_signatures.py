"""Over 50 seeded phantoms per type, each DESIGN-table signature holds in its direction,
measured on the images and masks (4 mm, to stay fast), and atypical cases come at
their documented shares."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk

from braintumorai.synthetic import ATYPICAL_SHARES, CLASSES, generate_case, sample_case_params
from braintumorai.synthetic.tumours import CALCIFIED_P, METASTASIS_COUNT_P

sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
N = 50
SPACING = 4.0


def measure(case) -> dict:
    """Per-case figures taken from the images and masks only."""
    g = {k: sitk.GetArrayViewFromImage(v) for k, v in case.masks.items()}
    img = {k: sitk.GetArrayViewFromImage(v).astype(np.float64) for k, v in case.images.items()}
    brain = g["brain"] > 0
    enh, nec, nen, oed = (g[k] > 0 for k in ("enhancing", "necrosis", "non_enhancing", "oedema"))
    core = enh | nec | nen
    normal = brain & ~(core | oed)
    rel = {m: img[m] / np.median(img[m][normal]) for m in ("T1", "T1C", "T2")}
    out = {"core_vox": int(core.sum()), "enh_vox": int(enh.sum()), "nec_vox": int(nec.sum()),
           "oed_vox": int(oed.sum()), "atypical": case.atypical, "params": case.params}
    if core.any():
        out["enhancement"] = float(np.mean(rel["T1C"][core] - rel["T1"][core]))
        out["pet_core"] = float(np.mean(img["PET"][core]))
        out["pet_gm_ratio"] = out["pet_core"] / float(np.percentile(img["PET"][normal], 90))
        out["ct_core"] = float(np.median(img["CT"][core]))
        out["ct_max"] = float(img["CT"][ndi.binary_dilation(core)].max())
        out["t2_core"] = float(np.median(rel["T2"][core & ~nec]))
        out["components"] = int(ndi.label(core, structure=np.ones((3, 3, 3)))[1])
        # Touches the brain surface: a core voxel next to the outside of the brain.
        out["surface"] = bool((ndi.binary_dilation(core) & ~brain).any())
    return out


@pytest.fixture(scope="module")
def figures():
    return {label: [measure(generate_case(label, seed=1000 + i, spacing=SPACING, modalities=("T1", "T1C", "T2",
                                                                                             "CT", "PET")))
                    for i in range(N)] for label in CLASSES}


def typical(rows):
    return [r for r in rows if r["atypical"] is None]


def test_atypical_shares_match_documentation(figures):
    for label, (variant, share) in ATYPICAL_SHARES.items():
        seen = [r["atypical"] for r in figures[label]]
        assert set(seen) <= {None, variant}
        assert abs(np.mean([s == variant for s in seen]) - share) <= 0.12, label
        # Tighter on 1000 parameter draws (no images needed).
        draws = [sample_case_params(label, 50_000 + i)["atypical"] == variant for i in range(1000)]
        assert abs(np.mean(draws) - share) < 0.035, label


def test_glioblastoma_ring_with_necrosis_and_wide_oedema(figures):
    gbm = typical(figures["glioblastoma"])
    assert np.mean([r["nec_vox"] > 0 for r in gbm]) > 0.9
    assert all(r["enhancement"] > 0.3 for r in gbm)
    solid = [r for r in figures["glioblastoma"] if r["atypical"] == "no_necrosis"]
    assert solid and all(r["nec_vox"] == 0 for r in solid)
    lgg = typical(figures["lower_grade_glioma"])
    ratio = lambda rows: np.median([r["oed_vox"] / max(r["core_vox"], 1) for r in rows])  # noqa: E731
    assert ratio(gbm) > 2 * ratio(lgg)


def test_lower_grade_glioma_little_enhancement_low_pet(figures):
    lgg = typical(figures["lower_grade_glioma"])
    assert all(r["enh_vox"] == 0 for r in lgg)
    assert max(r["enhancement"] for r in lgg) < 0.15
    gbm = typical(figures["glioblastoma"])
    assert np.median([r["enhancement"] for r in lgg]) < 0.25 * np.median([r["enhancement"] for r in gbm])
    assert np.median([r["pet_gm_ratio"] for r in lgg]) < np.median([r["pet_gm_ratio"] for r in gbm])
    enhancing = [r for r in figures["lower_grade_glioma"] if r["atypical"] == "enhancing"]
    assert enhancing and all(r["enh_vox"] > 0 for r in enhancing)


def test_metastases_count_one_to_four_with_large_oedema(figures):
    mets = typical(figures["metastasis"])
    counts = [len(r["params"]["tumour"]["lesions"]) for r in mets]
    assert set(counts) <= set(METASTASIS_COUNT_P) and len(set(counts)) >= 3
    # The images show as many separate lesions as were drawn.
    assert np.mean([r["components"] == n for r, n in zip(mets, counts)]) >= 0.9
    assert all(1 <= r["components"] <= 4 for r in mets)
    lgg = typical(figures["lower_grade_glioma"])
    ratio = lambda rows: np.median([r["oed_vox"] / max(r["core_vox"], 1) for r in rows])  # noqa: E731
    assert ratio(mets) > 3 * ratio(lgg)


def test_meningioma_on_the_surface_hyperdense_avid(figures):
    men = figures["meningioma"]
    assert np.mean([r["surface"] for r in men]) >= 0.9
    assert np.mean([r["surface"] for r in figures["lymphoma"]]) < 0.5
    assert np.median([r["ct_core"] for r in typical(men)]) > np.median(
        [r["ct_core"] for r in typical(figures["glioblastoma"])]) + 5
    assert np.median([r["enhancement"] for r in men]) > 0.8


def test_calcification_on_ct_where_drawn(figures):
    rows = figures["meningioma"] + figures["lower_grade_glioma"]
    drawn = [bool(any(les["calcifications"] for les in r["params"]["tumour"]["lesions"])) for r in rows]
    assert 0 < sum(drawn) < len(rows)
    for r, calcified in zip(rows, drawn):
        if r["core_vox"] == 0:
            continue
        assert (r["ct_max"] > 110) == calcified, (r["params"]["label"], r["ct_max"])
    men = typical(figures["meningioma"])
    share = np.mean([any(les["calcifications"] for les in r["params"]["tumour"]["lesions"]) for r in men])
    assert abs(share - CALCIFIED_P["meningioma"]) < 0.2
    assert not any(les["calcifications"] for r in figures["meningioma"] if r["atypical"]
                   for les in r["params"]["tumour"]["lesions"])


def test_lymphoma_pet_above_glioblastoma_and_t2_dark(figures):
    lym, gbm = figures["lymphoma"], figures["glioblastoma"]
    assert np.median([r["pet_core"] for r in lym]) > 1.5 * np.median([r["pet_core"] for r in gbm])
    assert np.median([r["t2_core"] for r in lym]) < np.median([r["t2_core"] for r in gbm])
    assert np.median([r["ct_core"] for r in lym]) > np.median([r["ct_core"] for r in gbm]) + 3


def test_no_single_feature_decides(figures):
    # Ring enhancement with necrosis: present in glioblastoma, but also in metastases and lymphoma.
    with_necrosis = {label: np.mean([r["nec_vox"] > 0 for r in figures[label]]) for label in CLASSES}
    assert with_necrosis["metastasis"] > 0.1 and with_necrosis["lymphoma"] > 0.05
    assert with_necrosis["glioblastoma"] < 1.0
    # Enhancement appears in some lower-grade gliomas; FLAIR-bright spots in some healthy brains.
    assert any(r["enh_vox"] > 0 for r in figures["lower_grade_glioma"])
    assert any(r["params"]["tumour"]["wmh"] for r in figures["no_tumor"])
    assert all(r["core_vox"] == 0 for r in figures["no_tumor"])
