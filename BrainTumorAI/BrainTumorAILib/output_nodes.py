"""Output nodes: saliency overlay volumes, result tables and the survival chart.

Each builder takes plain data (SimpleITK images, sequences, numpy arrays), adds
new nodes to an explicit scene and returns them; nothing the user loaded is
changed. Display settings are applied to whatever view nodes the scene has: a
bare scene (pytest, a web viewer before its views exist) simply has none.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional, Sequence

import numpy as np
import SimpleITK as sitk
import vtk

import slicer

from braintumorai.errors import InputError

from .volume_conversion import volume_node_from_sitk_image

SALIENCY_COLOR_NODE_NAME = "BrainTumorAI Saliency"
TIME_UNITS_IN_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0, "years": 365.25}


# --------------------------------------------------------------------------- colours

def heat_rgba(fraction: float) -> tuple[float, float, float, float]:
    """Colour of a saliency level in [0, 1]: black-red-yellow-white ramp whose
    opacity rises over the lowest fifth, so weak saliency does not hide anatomy."""
    x = min(max(float(fraction), 0.0), 1.0)
    red = min(1.0, 3.0 * x)
    green = min(1.0, max(0.0, 3.0 * x - 1.0))
    blue = min(1.0, max(0.0, 3.0 * x - 2.0))
    alpha = min(1.0, 5.0 * x)
    return red, green, blue, alpha


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

def show_as_foreground(scene, volume_node, background_node=None, opacity: float = 0.5) -> int:
    """Show ``volume_node`` as the foreground layer of every slice view.

    The background layer is set to ``background_node`` only where a view shows
    nothing yet, so the user's choice of background is kept. Returns the number of
    slice views changed (0 in a scene without views).
    """
    composites = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    count = 0
    for index in range(composites.GetNumberOfItems()):
        composite = composites.GetItemAsObject(index)
        if background_node is not None and not composite.GetBackgroundVolumeID():
            composite.SetBackgroundVolumeID(background_node.GetID())
        composite.SetForegroundVolumeID(volume_node.GetID())
        composite.SetForegroundOpacity(float(opacity))
        count += 1
    return count


def saliency_overlay_node(
    scene,
    image: sitk.Image,
    name: str,
    reference_node=None,
    opacity: float = 0.5,
    hide_below: float = 0.1,
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
    node.SetAttribute("BrainTumorAI.Output", "saliency")
    if show:
        show_as_foreground(scene, node, reference_node, opacity)
    return node


# --------------------------------------------------------------------------- tables

def _table_node(scene, name: str, columns: Sequence[tuple[str, Sequence]]):
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
    node.SetUseColumnNameAsColumnHeader(True)
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
    node = _table_node(scene, name, columns)
    node.SetAttribute("BrainTumorAI.Output", "probabilities")
    return node


def modality_weights_table_node(scene, weights: Mapping[str, float], name: str = "Modality weights"):
    """A table node with columns ``modality`` and ``weight`` (weights as given,
    usually summing to 1 over the present modalities)."""
    if not weights:
        raise InputError("No modality weights were given; run the classifier first.")
    node = _table_node(
        scene, name, [("modality", list(weights)), ("weight", [float(w) for w in weights.values()])]
    )
    node.SetAttribute("BrainTumorAI.Output", "modality_weights")
    return node


def show_table(scene, table_node) -> int:
    """Show ``table_node`` in every table view of the scene; returns the count."""
    views = scene.GetNodesByClass("vtkMRMLTableViewNode")
    for index in range(views.GetNumberOfItems()):
        views.GetItemAsObject(index).SetTableNodeID(table_node.GetID())
    return views.GetNumberOfItems()


# --------------------------------------------------------------------------- survival chart

def step_curve(
    times: Sequence[float],
    values: Sequence[float],
    start_time: Optional[float] = 0.0,
    start_value: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of a right-continuous step function for a line plot.

    ``values[i]`` holds from ``times[i]`` until ``times[i + 1]``; before
    ``times[0]`` the curve is ``start_value`` from ``start_time`` (skipped when
    ``start_time`` is None). Slicer plots only straight segments, so every jump is
    drawn as two points at the same time: for times ``t1, t2`` and values ``s1, s2``
    the points are ``(0, 1), (t1, 1), (t1, s1), (t2, s1), (t2, s2)``.

    Returns ``(x, y)``, arrays of equal length.
    """
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if times.ndim != 1 or times.shape != values.shape or times.size == 0:
        raise InputError("A step curve needs one value per time point; check the time grid.")
    if np.any(np.diff(times) <= 0):
        raise InputError("Time points of a step curve must increase strictly; sort the time grid.")
    if start_time is not None:
        if start_time > times[0]:
            raise InputError("The start time of a step curve must not be after its first time point.")
        if start_time < times[0]:
            times = np.concatenate([[start_time], times])
            values = np.concatenate([[start_value], values])
    x = np.repeat(times, 2)[1:]
    y = np.repeat(values, 2)[:-1]
    return x, y


@dataclasses.dataclass
class SurvivalChart:
    """The nodes that make up a survival plot."""

    chart: object
    table: object
    series: list

    def nodes(self) -> list:
        return [self.chart, self.table, *self.series]


def survival_chart_nodes(
    scene,
    times_days: Sequence[float],
    survival: Sequence[float],
    lower: Optional[Sequence[float]] = None,
    upper: Optional[Sequence[float]] = None,
    name: str = "Survival",
    time_unit: str = "months",
) -> SurvivalChart:
    """A plot chart of S(t) as a step curve, with its lower/upper band as two
    dashed step curves.

    ``times_days``: the end of each interval of the model's grid in days since the
    baseline visit; ``survival[i]`` = S(times_days[i]). The curve starts at S(0) = 1.
    All drawn points live in one table node (columns ``time (<unit>)``,
    ``survival`` and, when given, ``lower``, ``upper``).
    """
    if time_unit not in TIME_UNITS_IN_DAYS:
        raise InputError(f"Unknown time unit '{time_unit}'; use one of {', '.join(TIME_UNITS_IN_DAYS)}.")
    times = np.asarray(times_days, dtype=float)
    curves = {"survival": np.asarray(survival, dtype=float)}
    if (lower is None) != (upper is None):
        raise InputError("Give both the lower and the upper band of the survival curve, or neither.")
    if lower is not None:
        curves["lower"] = np.asarray(lower, dtype=float)
        curves["upper"] = np.asarray(upper, dtype=float)
    for label, values in curves.items():
        if values.shape != times.shape:
            raise InputError(f"The {label} curve has {values.size} values for {times.size} time points; match them.")
        if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            raise InputError(f"The {label} curve must hold probabilities in [0, 1]; check the model output.")
    if times.size == 0 or times[0] < 0:
        raise InputError("Survival time points must be non-negative days since baseline.")

    time_title = f"time ({time_unit})"
    scaled = times / TIME_UNITS_IN_DAYS[time_unit]
    columns = []
    for label, values in curves.items():
        x, y = step_curve(scaled, values)
        if not columns:
            columns.append((time_title, x))
        columns.append((label, y))
    table = _table_node(scene, f"{name} table", columns)

    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(name))
    chart.SetTitle("Predicted survival")
    chart.SetXAxisTitle(time_title)
    chart.SetYAxisTitle("survival probability")
    chart.SetYAxisRangeAuto(False)
    chart.SetYAxisRange(0.0, 1.02)
    chart.SetLegendVisibility(True)

    styles = {
        "survival": ((0.8, 0.1, 0.1), slicer.vtkMRMLPlotSeriesNode.LineStyleSolid, 3.0),
        "lower": ((0.4, 0.4, 0.4), slicer.vtkMRMLPlotSeriesNode.LineStyleDash, 1.5),
        "upper": ((0.4, 0.4, 0.4), slicer.vtkMRMLPlotSeriesNode.LineStyleDash, 1.5),
    }
    series_nodes = []
    for label in curves:
        color, line_style, width = styles[label]
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(f"{name} {label}"))
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName(time_title)
        series.SetYColumnName(label)
        series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
        series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
        series.SetLineStyle(line_style)
        series.SetLineWidth(width)
        series.SetColor(*color)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
        series_nodes.append(series)
    for node in (chart, table, *series_nodes):
        node.SetAttribute("BrainTumorAI.Output", "survival")
    return SurvivalChart(chart=chart, table=table, series=series_nodes)


def show_chart(scene, chart_node) -> int:
    """Show ``chart_node`` in every plot view of the scene; returns the count."""
    views = scene.GetNodesByClass("vtkMRMLPlotViewNode")
    for index in range(views.GetNumberOfItems()):
        views.GetItemAsObject(index).SetPlotChartNodeID(chart_node.GetID())
    return views.GetNumberOfItems()
