"""The visit vector the prognosis model reads, entry by entry."""

import math

import numpy as np
import pytest

from braintumorai.errors import InputError
from braintumorai.survival.visit_features import FeatureSpec, VisitData, visit_matrix


def test_every_entry_by_hand():
    spec = FeatureSpec(image_dim=3, image_mean=[1.0, 0.0, 0.0], image_std=[2.0, 1.0, 1.0],
                       image_components=[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], class_names=["a", "b"],
                       compartments=True)
    visits = [VisitData(day=0, embedding=np.array([3.0, 1.0, 2.0]), probabilities={"a": 0.8, "b": 0.2},
                        compartments={"core_ml": 10.0, "oedema_ml": 0.0, "enhancing_ml": 4.0}),
              VisitData(day=91, treatments=("surgery", "chemotherapy"))]
    x = visit_matrix(spec, visits, {"age": 65, "sex": "F", "kps": None})
    assert x.shape == (2, spec.size) and spec.size == len(spec.names)
    row = dict(zip(spec.names, x[0]))
    assert row["image_0"] == pytest.approx(1.0) and row["image_1"] == pytest.approx(3.0)  # (3-1)/2 ; 1+2
    assert row["image_log_p_a"] == pytest.approx(math.log(0.8)) and row["image_present"] == 1
    assert row["log1p_core_ml"] == pytest.approx(math.log(11)) and row["segmentation_present"] == 1
    assert row["years_since_first_visit"] == 0 and row["log_gap_days"] == 0
    assert row["age"] == pytest.approx(1.0) and row["age_missing"] == 0
    assert row["sex=F"] == 1 and row["sex=M"] == 0 and row["sex_missing"] == 0
    assert row["kps"] == 0 and row["kps_missing"] == 1
    later = dict(zip(spec.names, x[1]))
    assert all(later[n] == 0 for n in spec.names if n.startswith("image_") or n.startswith("log1p_"))
    assert later["image_present"] == 0 and later["segmentation_present"] == 0
    assert later["years_since_first_visit"] == pytest.approx(91 / 365.25)
    assert later["log_gap_days"] == pytest.approx(math.log1p(91) / math.log(365))
    assert later["treatment_surgery"] == 1 and later["treatment_radiotherapy"] == 0
    assert later["treatment_chemotherapy"] == 1
    # Covariates are the same at every visit.
    assert later["age"] == row["age"] and later["sex=F"] == 1
    # Hiding a part puts exactly its columns to the "absent" encoding.
    assert [spec.names[i] for i in spec.columns("image")][-1] == "image_present"
    assert [spec.names[i] for i in spec.columns("sex")] == ["sex=F", "sex=M", "sex_missing"]


def test_a_spec_survives_its_card_and_refuses_what_it_cannot_read():
    spec = FeatureSpec(image_dim=2, image_mean=[0, 0], image_std=[1, 1], compartments=True)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="does not fit this model"):
        visit_matrix(spec, [VisitData(day=0, embedding=np.zeros(5))])
    with pytest.raises(InputError, match="knows F, M"):
        visit_matrix(spec, [VisitData(day=0)], {"sex": "X"})
    with pytest.raises(InputError, match="must be a number"):
        visit_matrix(spec, [VisitData(day=0)], {"age": "old"})
    with pytest.raises(InputError, match="no covariate"):
        spec.columns("weight")
