"""The bundled prognosis model: its registry entry and card, the classifier it names, its
measured table, and sensible curves on fresh phantom patients."""

import json

import pytest

from braintumorai.checkpoints import read_card, resolve_model, sha256_of
from braintumorai.prognosis import PrognosisVisit, Prognosticator
from braintumorai.study import Study
from braintumorai.synthetic.longitudinal import generate_patient


@pytest.fixture(scope="module")
def prognosticator():
    return Prognosticator.load(device="cpu")


def test_registry_card_and_the_classifier_it_names():
    card = read_card(resolve_model(None, task="prognosis"))
    classifier = read_card(resolve_model(None))
    assert card["architecture"] == "PrognosisGRU" and card["intended_use"] == "Research only. Not for clinical use."
    assert sha256_of(card["_path"].replace(".json", ".pt")) == card["sha256"]
    assert card["image_model"]["sha256"] == classifier["sha256"]  # retrained whenever the classifier changes
    assert "synthetic" in json.dumps(card["training_data"]) or card["training_data"]["source"] == "phantoms"
    rows = card["metrics"]["rows"]
    names = {row["model"].split(" (")[0].split(":")[0] for row in rows}
    assert {"GRU", "Cox", "Kaplan-Meier", "Oracle"} <= names
    assert card["band"]["offsets"] and card["band"]["nominal_coverage"] == 0.9


def _visits(patient, spacing=4.0):
    visits = []
    for visit in patient.visits:
        case = patient.case(visit.index, modalities=("T1", "T1C", "T2", "FLAIR"), spacing=spacing)
        visits.append(PrognosisVisit(day=visit.day, study=Study(dict(case.images)), segmentation=case.masks["seg"],
                                     treatments=visit.treatments))
    return visits


def test_a_glioblastoma_fares_worse_than_a_meningioma(prognosticator):
    curves = {}
    for label in ("glioblastoma", "meningioma"):
        patient = generate_patient(91_000_123, n_visits=3, label=label)
        clinical = {"age": patient.age, "sex": patient.sex, "kps": patient.kps}
        curves[label] = prognosticator.predict(_visits(patient), clinical)
    assert curves["glioblastoma"].survival_2y < curves["meningioma"].survival_2y - 0.2
    assert curves["glioblastoma"].risk > curves["meningioma"].risk
    for prediction in curves.values():
        assert prediction.lower[-1] <= prediction.survival[-1] <= prediction.upper[-1]
        assert prediction.model["sha256"] == read_card(resolve_model(None, task="prognosis"))["sha256"]
