"""Synthetic multimodal brain-tumour phantoms and longitudinal cohorts (the embedded default data).

``generate_case`` draws one case (T1, T1C, T2, FLAIR, CT, PET with masks and label);
``generate_patient`` / ``generate_cohort`` draw longitudinal patients with treatments
and survival; ``cohort_concordance`` reports the oracle and first-visit C-index.
``CLASSES`` is the phantom's label list; models read their classes from their model
card, never from here.
"""

from .case import CT_BACKGROUND_HU, SEG_LABELS, SyntheticCase, generate_case, sample_case_params  # noqa: F401
from .tumours import ATYPICAL_SHARES, CLASSES, TUMOUR_CLASSES  # noqa: F401
from .longitudinal import (  # noqa: F401
    TREATMENTS,
    SyntheticPatient,
    Visit,
    cohort_concordance,
    generate_cohort,
    generate_patient,
    volume_at,
)

__all__ = [
    "ATYPICAL_SHARES", "CLASSES", "CT_BACKGROUND_HU", "SEG_LABELS", "TREATMENTS", "TUMOUR_CLASSES",
    "SyntheticCase", "SyntheticPatient", "Visit", "cohort_concordance", "generate_case", "generate_cohort",
    "generate_patient", "sample_case_params", "volume_at",
]
