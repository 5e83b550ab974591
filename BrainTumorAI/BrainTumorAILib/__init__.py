"""BrainTumorAILib: the Qt-free MRML adapter of the BrainTumorAI module.

Converts volume nodes to SimpleITK images and back with exact geometry, builds
the output nodes (saliency overlays, tables, survival chart), places them in the
reference volume's study, runs work off the GUI thread (``run_classification``)
and generates the SampleData phantom studies (``load_phantom_study``). Everything works on
an explicit ``vtkMRMLScene``, so it runs inside Slicer, in a web viewer and under
pytest on the ``slicer-core`` wheel alike. Imports no qt, ctk or torch.
"""

from .actions import InputCheck, check_inputs
from .background import BackgroundTask, TaskCancelled, TaskContext, TaskStatus
from .classification_task import (
    SALIENCY_MAP_ATTRIBUTE,
    adopt_reference_geometry,
    classification_result_nodes,
    clear_classifier_cache,
    error_message,
    load_classifier,
    modality_weights_text,
    reference_node_of,
    result_rows,
    result_summary,
    result_warnings_text,
    run_classification,
    show_saliency_map,
)
from .dependencies import (
    MINIMUM_TORCH_VERSION,
    PROTECTED_PACKAGES,
    is_satisfied,
    missing_requirements,
    protected_constraints,
    read_requirements,
)
from .inputs import AutoAssignment, CollectedInputs, auto_assign, collect_inputs, selected_volume_nodes
from .output_nodes import (
    SurvivalChart,
    modality_weights_table_node,
    probability_table_node,
    saliency_color_node,
    saliency_overlay_node,
    show_as_foreground,
    show_chart,
    show_table,
    step_curve,
    survival_chart_nodes,
)
from .result_nodes import classification_output_nodes, survival_output_nodes
from .sample_data import load_phantom_study, phantom_node_name, show_as_background
from .study_hierarchy import find_study_item, item_of_node, place_in_study, study_item_for
from .volume_conversion import (
    ijk_to_ras_matrix,
    ijk_to_world_matrix,
    image_ijk_to_ras,
    ras_of_ijk,
    sitk_image_from_volume_node,
    volume_node_from_sitk_image,
)
