"""A whole classification -> its nodes in the reference volume's study.

Plain-data arguments only (the fields of ``braintumorai.results``' dataclasses),
so this adapter does not depend on how the core builds its results:

    nodes = classification_output_nodes(scene, reference_node, result.classes,
                                        result.probabilities, result.saliency,
                                        result.modality_weights, result.prediction_set)
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import SimpleITK as sitk

from .output_nodes import (
    modality_weights_table_node,
    probability_table_node,
    saliency_overlay_node,
    show_in_views,
)
from .study_hierarchy import place_in_study


def classification_output_nodes(
    scene,
    reference_node,
    classes: Sequence[str],
    probabilities: Sequence[float],
    saliency: Optional[Mapping[str, sitk.Image]] = None,
    modality_weights: Optional[Mapping[str, float]] = None,
    prediction_set: Optional[Sequence[str]] = None,
    shown_map: str = "fused",
    opacity: float = 0.4,
    folder_name: str = "BrainTumorAI classification",
) -> dict:
    """Add the nodes of one classification and place them in the reference's study.

    ``saliency``: map name ('fused', 'T1C', ...) -> map in the reference geometry;
    the ``shown_map`` one becomes the slice views' foreground. Returns
    ``{"probabilities": table, "modality_weights": table or None,
    "saliency": {name: volume node}, "folder": subject hierarchy item}``.
    """
    table = probability_table_node(scene, classes, probabilities, prediction_set=prediction_set)
    weights = modality_weights_table_node(scene, modality_weights) if modality_weights else None
    overlays = {}
    for name, image in (saliency or {}).items():
        overlays[name] = saliency_overlay_node(
            scene, image, f"{reference_node.GetName()} saliency {name}", reference_node=reference_node,
            opacity=opacity, show=(name == shown_map),
        )
    show_in_views(scene, table)
    folder = place_in_study(scene, [table, weights, *overlays.values()], reference_node, folder_name)
    return {"probabilities": table, "modality_weights": weights, "saliency": overlays, "folder": folder}
