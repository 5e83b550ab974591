"""Output nodes: saliency overlay volumes and result tables (the survival plots are in
``survival_nodes``).

Each builder takes plain data (SimpleITK images, sequences, numpy arrays), adds
new nodes to an explicit scene and returns them; nothing the user loaded is
changed. Display settings are applied to whatever view nodes the scene has: a
bare scene (pytest, a web viewer before its views exist) simply has none.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np
import SimpleITK as sitk
import vtk

from braintumorai.errors import InputError

from .slice_views import show_as_foreground
from .study_hierarchy import OUTPUT_ATTRIBUTE
from .volume_conversion import volume_node_from_sitk_image

SALIENCY_COLOR_NODE_NAME = "BrainTumorAI Saliency"
# Colour tables the default display nodes of scalar volumes and label maps refer to; a bare
# scene lacks them until a colour logic has added them.
DEFAULT_COLOR_NODE_IDS = ("vtkMRMLColorTableNodeGrey", "vtkMRMLColorTableNodeLabels")


# --------------------------------------------------------------------------- colours

def heat_rgba(fraction: float) -> tuple[float, float, float, float]:
    """Colour of a saliency level in [0, 1]: the report's red-to-yellow ramp
    (``braintumorai.report.figures.heat_rgb``), whose opacity rises over the lowest two fifths
    so the map fades in at its edge instead of ending in a hard line."""
    from braintumorai.report.figures import heat_rgb

    x = min(max(float(fraction), 0.0), 1.0)
    return (*heat_rgb(x), min(1.0, 2.5 * x))


def ensure_default_colors(scene) -> None:
    """Add Slicer's default colour tables when the scene lacks them (a bare pytest or web
    viewer scene; inside Slicer they are always there and nothing happens)."""
    if all(scene.GetNodeByID(i) is not None for i in DEFAULT_COLOR_NODE_IDS):
        return
    import slicer

    logic = slicer.vtkMRMLColorLogic()
    logic.SetMRMLScene(scene)
    logic.SetMRMLScene(None)  # the tables stay; the logic need not observe the scene


def saliency_color_node(scene, number_of_colors: int = 256):
    """The heat-map colour table used for saliency overlays (made once per scene)."""
    existing = scene.GetFirstNodeByName(SALIENCY_COLOR_NODE_NAME)
    if existing is not None and existing.IsA("vtkMRMLColorTableNode"):
        return existing
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", SALIENCY_COLOR_NODE_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(number_of_colors)
    for index in range(number_of_colors):
        fraction = index / (number_of_colors - 1)
        node.SetColor(index, f"{fraction:.3f}", *heat_rgba(fraction))
    node.SetAttribute("Category", "BrainTumorAI")
    return node


# --------------------------------------------------------------------------- overlays

def saliency_overlay_node(
    scene,
    image: sitk.Image,
    name: str,
    reference_node=None,
    opacity: float = 0.4,
    hide_below: float = 0.2,
    show: bool = True,
):
    """A new volume node holding a saliency map, coloured as a heat map.

    ``image``: the map in the reference volume's geometry (any range; shown from
    its minimum to its maximum). Voxels below ``hide_below`` of that range are not
    drawn. With ``show`` the node becomes the slice views' foreground at
    ``opacity`` over ``reference_node``. Returns the node.
    """
    node = volume_node_from_sitk_image(scene, sitk.Cast(image, sitk.sitkFloat32), name)
    voxels = sitk.GetArrayViewFromImage(image)
    low, high = float(np.min(voxels)), float(np.max(voxels))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"Saliency map '{name}' has NaN or infinite values; recompute it.")
    if high <= low:
        high = low + 1.0  # a constant map is still shown, as the lowest colour
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(saliency_color_node(scene).GetID())
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(low, high)
    display.SetThreshold(low + hide_below * (high - low), high)
    display.ApplyThresholdOn()
    display.AutoThresholdOff()
    node.SetAttribute(OUTPUT_ATTRIBUTE, "saliency")
    if show:
        show_as_foreground(scene, node, reference_node, opacity)
    return node


# --------------------------------------------------------------------------- tables

def table_node(scene, name: str, columns: Sequence[tuple[str, Sequence]]):
    """A table node with one typed column per ``(title, values)``: strings for
    str values, doubles otherwise."""
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table = node.GetTable()
    for title, values in columns:
        values = list(values)
        if values and all(isinstance(v, str) for v in values):
            array = vtk.vtkStringArray()
            for v in values:
                array.InsertNextValue(v)
        else:
            array = vtk.vtkDoubleArray()
            for v in values:
                array.InsertNextValue(float(v))
        array.SetName(title)
        table.AddColumn(array)
    node.SetUseColumnTitleAsColumnHeader(True)
    node.Modified()
    return node


def probability_table_node(
    scene,
    classes: Sequence[str],
    probabilities: Sequence[float],
    name: str = "Tumour type probabilities",
    prediction_set: Optional[Sequence[str]] = None,
):
    """A table node with columns ``class`` and ``probability`` (and ``in prediction
    set`` when a conformal set is given), one row per class in the model's order.

    The probabilities must be finite, in [0, 1] and sum to 1 (within 1e-3).
    """
    classes = [str(c) for c in classes]
    probabilities = np.asarray(probabilities, dtype=float)
    if len(classes) == 0 or probabilities.shape != (len(classes),):
        raise InputError(
            f"Got {len(classes)} classes and {probabilities.size} probabilities; give one probability per class."
        )
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0 or probabilities.max() > 1:
        raise InputError("Class probabilities must be finite numbers in [0, 1]; check the model output.")
    if abs(probabilities.sum() - 1.0) > 1e-3:
        raise InputError(
            f"Class probabilities sum to {probabilities.sum():.4f}, not 1; pass softmax outputs."
        )
    columns = [("class", classes), ("probability", probabilities.tolist())]
    if prediction_set is not None:
        members = {str(c) for c in prediction_set}
        unknown = members - set(classes)
        if unknown:
            raise InputError(f"Prediction set names unknown classes {sorted(unknown)}; use the model's classes.")
        columns.append(("in prediction set", ["yes" if c in members else "no" for c in classes]))
    node = table_node(scene, name, columns)
    node.SetAttribute(OUTPUT_ATTRIBUTE, "probabilities")
    return node


def modality_weights_table_node(scene, weights: Mapping[str, float], name: str = "Modality weights"):
    """A table node with columns ``modality`` and ``weight`` (weights as given,
    usually summing to 1 over the present modalities)."""
    if not weights:
        raise InputError("No modality weights were given; run the classifier first.")
    node = table_node(
        scene, name, [("modality", list(weights)), ("weight", [float(w) for w in weights.values()])]
    )
    node.SetAttribute(OUTPUT_ATTRIBUTE, "modality_weights")
    return node


def show_in_views(scene, node) -> int:
    """Show a table node in every table view, a plot chart node in every plot view of the
    scene; returns the number of views (0 in a scene without them)."""
    view_class, setter = (("vtkMRMLPlotViewNode", "SetPlotChartNodeID") if node.IsA("vtkMRMLPlotChartNode")
                          else ("vtkMRMLTableViewNode", "SetTableNodeID"))
    views = scene.GetNodesByClass(view_class)
    for index in range(views.GetNumberOfItems()):
        getattr(views.GetItemAsObject(index), setter)(node.GetID())
    return views.GetNumberOfItems()
