"""Longitudinal phantoms: visits, treatments that change growth, survival C-index bounds."""

import numpy as np
import pytest
import SimpleITK as sitk
from lifelines.utils import concordance_index

from braintumorai.errors import InputError
from braintumorai.synthetic import TUMOUR_CLASSES
from braintumorai.synthetic.longitudinal import cohort_concordance, generate_cohort, generate_patient, volume_at

sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)


@pytest.mark.parametrize("seed", [0, 1])
def test_cohort_c_index_within_bounds(seed):
    figures = cohort_concordance(n_patients=1500, seed=seed)
    assert 0.75 <= figures["oracle"] <= 0.92
    assert figures["first_visit"] <= figures["oracle"] - 0.05
    assert 0.2 < figures["event_rate"] < 0.9  # censoring present, events too


def test_concordance_matches_lifelines_on_a_cohort_with_images_params():
    patients = generate_cohort(300, seed=5)
    figures = cohort_concordance(patients)
    t = [p.survival_days for p in patients]
    e = [p.event for p in patients]
    assert figures["oracle"] == pytest.approx(concordance_index(t, [-p.true_risk for p in patients], e))
    assert figures["first_visit"] == pytest.approx(concordance_index(t, [-p.first_visit_risk for p in patients], e))
    assert 0.75 <= figures["oracle"] <= 0.92
    assert figures["first_visit"] <= figures["oracle"] - 0.05
    assert {p.label for p in patients} == set(TUMOUR_CLASSES)


def test_visits_irregular_increasing_before_the_end():
    patients = generate_cohort(200, seed=3, with_case_params=False)
    counts = set()
    gaps = []
    for p in patients:
        days = [v.day for v in p.visits]
        counts.add(len(days))
        assert 1 <= len(days) <= 8
        assert days[0] == 0 and all(b > a for a, b in zip(days, days[1:]))
        assert days[-1] < p.survival_days
        gaps += list(np.diff(days))
        assert [v.index for v in p.visits] == list(range(len(days)))
    assert counts == set(range(1, 9))
    assert np.std(gaps) > 10  # irregular intervals
    # Some covariates are missing, as in real cohorts.
    assert any(p.kps is None for p in patients) and any(p.age is None for p in patients)
    assert all(p.kps is None or 40 <= p.kps <= 100 for p in patients)
    for seed in range(20):  # asked-for visits all happen, before the outcome
        p = generate_patient(seed, n_visits=8, label="glioblastoma")
        assert len(p.visits) == 8 and p.visits[-1].day < p.survival_days
    with pytest.raises(InputError):
        generate_patient(7, n_visits=9)
    with pytest.raises(InputError):
        generate_patient(7, label="no_tumor")


def test_same_seed_same_patient():
    a, b = generate_patient(42), generate_patient(42)
    assert a.to_dict() == b.to_dict()
    assert generate_patient(43).to_dict() != a.to_dict()


def test_treatment_changes_growth():
    slower = 0
    treated = 0
    for seed in range(60):
        p = generate_patient(seed, n_visits=6, label="glioblastoma")
        if not p.treatment_events:
            continue
        treated += 1
        q = generate_patient(seed, n_visits=6, label="glioblastoma", treatments=False)
        assert [v.day for v in q.visits] == [v.day for v in p.visits]
        assert q.visits[0].tumour_volume_ml == pytest.approx(p.visits[0].tumour_volume_ml)
        slower += p.visits[-1].tumour_volume_ml < q.visits[-1].tumour_volume_ml
        for e in p.treatment_events:
            if e["name"] == "surgery":
                args = (p.params["v0_ml"], p.params["alpha_per_day"], p.params["capacity_ml"], p.treatment_events)
                before, after = volume_at([e["start"] - 1e-4, e["start"] + 1e-4], *args)
                assert after == pytest.approx(before * (1 - e["resected"]), rel=1e-3)
        assert all(set(v.treatments) <= {"surgery", "radiotherapy", "chemotherapy"} for v in p.visits)
    assert treated > 50 and slower >= 0.95 * treated
    # Untreated, the tumour only grows.
    q = generate_patient(3, n_visits=8, label="metastasis", treatments=False)
    vols = [v.tumour_volume_ml for v in q.visits]
    assert all(b > a for a, b in zip(vols, vols[1:]))


def test_visit_images_follow_the_volume():
    seed = 11
    while True:  # the first patient whose volume changes at least three-fold
        p = generate_patient(seed, n_visits=4, label="glioblastoma")
        vols = [v.tumour_volume_ml for v in p.visits]
        big, small = int(np.argmax(vols)), int(np.argmin(vols))
        if vols[big] > 3 * vols[small]:
            break
        seed += 1
    cores = []
    for k in (big, small):
        case = p.case(k, modalities=("T1C",), spacing=4.0)
        seg = sitk.GetArrayViewFromImage(case.masks["seg"])
        cores.append(int(((seg == 1) | (seg == 3)).sum()))
        assert case.label == "glioblastoma"
    assert cores[0] > cores[1]
    # Core volume in the image of the first visit is close to the reported volume.
    first = p.case(0, modalities=("T1C",), spacing=2.0)
    seg = sitk.GetArrayViewFromImage(first.masks["seg"])
    measured_ml = ((seg == 1) | (seg == 3)).sum() * 8.0 / 1000.0
    assert measured_ml == pytest.approx(p.visits[0].tumour_volume_ml, rel=0.35)


def test_visit_spacing_does_not_tell_the_survival_time():
    """The schedule is planned independently of the outcome: among patients alive at day
    200, the gaps between their visits before day 200 do not correlate with the time left."""
    from scipy.stats import spearmanr

    patients = generate_cohort(3000, seed=4, with_case_params=False)
    gaps, left = [], []
    for p in patients:
        days = [v.day for v in p.visits if v.day <= 200]
        if p.survival_days > 200 and p.event and len(days) >= 3:
            gaps.append(np.mean(np.diff(days)))
            left.append(p.survival_days - 200)
    assert len(gaps) > 300
    assert abs(spearmanr(gaps, left).correlation) < 0.08


def test_true_survival_is_the_generators_law():
    """Empirical survival of many copies of one risk matches ``survival_probability``."""
    from braintumorai.synthetic.longitudinal import survival_probability

    p = generate_patient(3, label="glioblastoma", with_case_params=False)
    assert p.true_survival([0, 29, 400]).tolist()[:2] == [1.0, 1.0]
    assert 0 < p.true_survival(400) < 1
    # Conditional on being alive at day 200, S(200) = 1 and S(t) = S(t) / S(200) after.
    assert p.true_survival(200, alive_at=200) == 1.0
    assert p.true_survival(500, alive_at=200) == pytest.approx(p.true_survival(500) / p.true_survival(200))
    risk, rng = 0.7, np.random.default_rng(0)
    times = 30.0 + 1500.0 * (-np.log(rng.random(20000)) * np.exp(-risk)) ** (1 / 1.2)
    for t in (100, 365, 730):
        assert (times > t).mean() == pytest.approx(float(survival_probability(t, risk)), abs=0.01)


def test_every_patient_has_the_diagnosis_visit():
    patients = generate_cohort(5000, seed=1, with_case_params=False)
    assert all(p.visits and p.visits[0].day == 0 and p.survival_days >= 1 for p in patients)


def test_follow_up_visits_show_what_treatment_left():
    import scipy.ndimage as ndi
    import SimpleITK as sitk

    from braintumorai.synthetic import generate_patient

    def arr(image):
        return sitk.GetArrayFromImage(image)

    patient = next(p for p in (generate_patient(s, n_visits=6, label="lower_grade_glioma") for s in range(20, 120))
                   if {e["name"] for e in p.treatment_events} >= {"surgery", "radiotherapy"})
    last = len(patient.visits) - 1
    assert patient.visits[last].day > [e for e in patient.treatment_events if e["name"] == "radiotherapy"][0]["start"]
    first, after = patient.case(0, spacing=3.0), patient.case(last, spacing=3.0)
    assert first.params.get("treatment") is None and not arr(first.masks["cavity"]).any()
    cavity = arr(after.masks["cavity"]) > 0
    tumour = arr(after.masks["seg"]) > 0
    assert cavity.sum() > 50 and not (cavity & tumour).any()
    brain = arr(after.masks["brain"]) > 0
    # The cavity holds fluid: dark on T1C, bright on T2.
    assert np.median(arr(after.images["T1C"])[cavity]) < 0.6 * np.median(arr(after.images["T1C"])[brain])
    assert np.median(arr(after.images["T2"])[cavity]) > 2.0 * np.median(arr(after.images["T2"])[brain])
    # Treatment-related change: the same visit rendered without the radiation field has
    # darker white matter on FLAIR around the treated tumour, and nothing else differs.
    from braintumorai.synthetic import generate_case
    from braintumorai.synthetic.treatment import visit_appearance

    visit = patient.visits[last]
    appearance = dict(visit_appearance(patient, visit), radiation=None)
    noise_seed = int(np.random.SeedSequence([patient.seed, 7919, last]).generate_state(1)[0])
    untreated = generate_case(patient.label, seed=patient.seed, modalities=("FLAIR",), spacing=3.0,
                              tumour_scale=visit.scale, noise_seed=noise_seed, params=patient.case_params,
                              treatment=appearance)
    flair, flair_without = arr(after.images["FLAIR"]), arr(untreated.images["FLAIR"])
    changed = np.abs(flair - flair_without) > 1e-3 * np.median(flair[brain])
    assert changed.sum() > 500 and not changed[~brain].any()
    ratio = flair[changed] / flair_without[changed]
    assert np.percentile(ratio, 90) > 1.2
