"""BrainTumorAILib: the Qt-free MRML adapter of the BrainTumorAI module.

Converts volume nodes to SimpleITK images and back with exact geometry, runs Classify and
Predict survival as the ``braintumorai`` command line in a child process (progress and
Cancel, no thread), turns their results into nodes (saliency overlays, tables, survival
plots) in the patient's subject hierarchy, reads the patient's visits from it, renders
slice views as Slicer composes them, exports the report and generates the sample data.
``Workflow`` ties it together for the panel. Everything works on an explicit
``vtkMRMLScene``, so it runs inside Slicer, in a web viewer and under pytest on the
``slicer-core`` wheel alike. Imports no qt, ctk or torch.
"""

from .classification_task import (
    ClassificationOutput,
    ClassifyOptions,
    adopt_reference_geometry,
    classification_result_nodes,
    start_classification,
)
from .dependencies import InstallPlan, install_packages, install_plan, missing_requirements, read_requirements
from .inputs import CollectedInputs, auto_assign, collect_inputs
from .panel_text import (
    error_message,
    modality_weights_text,
    ood_text,
    result_rows,
    result_table_rows,
    result_summary,
    survival_text,
    warnings_text,
)
from .process_task import CommandTask, TaskStatus
from .sample_data import load_phantom_study, load_synthetic_patient
from .slice_rendering import SliceRenderer
from .slice_views import jump_to_hotspot, show_as_background, show_as_foreground
from .study_hierarchy import find_patient_item, find_study_item
from .survival_nodes import survival_result_nodes
from .survival_task import SurvivalOptions, start_survival
from .visits import StudyVisit, clinical_from_patient, patient_visits, planned_visits
from .volume_conversion import sitk_image_from_volume_node, volume_node_from_sitk_image
from .workflow import ClassificationRun, SurvivalRun, Workflow

__all__ = [
    "ClassificationOutput", "ClassificationRun", "ClassifyOptions", "CollectedInputs", "CommandTask", "InstallPlan",
    "SliceRenderer", "StudyVisit", "SurvivalOptions", "SurvivalRun", "TaskStatus", "Workflow",
    "adopt_reference_geometry", "auto_assign", "classification_result_nodes", "clinical_from_patient",
    "collect_inputs", "error_message", "find_patient_item", "find_study_item", "install_packages", "install_plan",
    "jump_to_hotspot", "load_phantom_study", "load_synthetic_patient", "missing_requirements",
    "modality_weights_text", "ood_text", "patient_visits", "planned_visits", "read_requirements", "result_rows",
    "result_table_rows", "result_summary", "show_as_background", "show_as_foreground", "sitk_image_from_volume_node",
    "start_classification", "start_survival", "survival_result_nodes", "survival_text",
    "volume_node_from_sitk_image", "warnings_text",
]
