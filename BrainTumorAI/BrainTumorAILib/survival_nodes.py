"""A survival prediction (``survival.json``) as nodes: the curve's table and two plot charts.

- ``<name> curve``: a table with one row per time of the model's grid and the columns
  ``time (days)``, ``survival``, ``lower``, ``upper``: exactly the figures of survival.json.
- ``<name>``: a plot chart of S(t) drawn as steps (Slicer plots straight segments only, so
  every jump is two points at the same time), the band as two dashed series, and the median
  as a dotted read-off line from 0.5 on the y axis to the curve and down to the time axis.
- ``<name> after each visit``: one step curve per visit (dynamic prediction).

All nodes carry this module's output attribute and the key of the patient they are about,
so a second prediction for the same patient replaces them instead of piling up.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Sequence

import numpy as np

import slicer

from braintumorai.errors import InputError

from .output_nodes import show_in_views, table_node
from .study_hierarchy import OUTPUT_ATTRIBUTE, place_in_patient, remove_outputs

DAYS_PER_MONTH = 365.25 / 12.0
TIME_TITLE = "time (months)"
SURVIVAL_ROLES = ("survival_curve", "survival_plot", "survival_visits_plot")
# Node attribute: the subject hierarchy item of the patient a survival output is about.
PATIENT_ATTRIBUTE = "BrainTumorAI.PatientItem"
# Colours of the per-visit curves, earliest first (repeated beyond eight visits).
VISIT_COLOURS = ((0.27, 0.0, 0.33), (0.23, 0.32, 0.55), (0.13, 0.57, 0.55), (0.37, 0.79, 0.38),
                 (0.99, 0.91, 0.14), (0.85, 0.37, 0.01), (0.6, 0.6, 0.6), (0.0, 0.0, 0.0))


def step_curve(times: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Points of a right-continuous step function for a line plot.

    ``values[i]`` holds from ``times[i]`` until ``times[i + 1]`` (the last value to the last
    time); every jump is drawn as two points at the same time: for times ``t0, t1, t2`` and
    values ``s0, s1, s2`` the points are ``(t0, s0), (t1, s0), (t1, s1), (t2, s1), (t2, s2)``.

    Returns ``(x, y)``, arrays of length ``2 * len(times) - 1``.
    """
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if times.ndim != 1 or times.shape != values.shape or times.size == 0:
        raise InputError("A step curve needs one value per time point; check the time grid.")
    if np.any(np.diff(times) <= 0):
        raise InputError("Time points of a step curve must increase strictly; sort the time grid.")
    return np.repeat(times, 2)[1:], np.repeat(values, 2)[:-1]


def check_prediction(data: Mapping) -> None:
    """Refuse a survival.json whose curves do not fit its time grid."""
    times = np.asarray(data.get("times_days") or [], dtype=float)
    if times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise InputError("The survival prediction has no increasing time grid from day 0; predict survival again.")
    curves = [("survival", data.get("survival")), ("lower", data.get("lower")), ("upper", data.get("upper"))]
    curves += [(f"curve after day {c.get('day')}", c.get("survival")) for c in data.get("per_visit") or []]
    for label, values in curves:
        values = np.asarray(values if values is not None else [], dtype=float)
        if values.shape != times.shape or not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            raise InputError(f"The {label} of the survival prediction is not one probability per time point; "
                             "predict survival again.")


@dataclasses.dataclass
class SurvivalChart:
    """A plot chart, the tables its series read and its series."""

    chart: object
    tables: list
    series: list

    def nodes(self) -> list:
        return [self.chart, *self.tables, *self.series]


def _series(scene, chart, table, name: str, y_column: str, colour, style: str, width: float,
            x_column: str = TIME_TITLE):
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(name))
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(x_column)
    series.SetYColumnName(y_column)
    series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
    series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
    series.SetLineStyle(getattr(slicer.vtkMRMLPlotSeriesNode, f"LineStyle{style}"))
    series.SetLineWidth(width)
    series.SetColor(*colour)
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return series


def _chart(scene, name: str, title: str):
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(name))
    chart.SetTitle(title)
    chart.SetXAxisTitle("months since the first visit")
    chart.SetYAxisTitle("probability of being alive")
    chart.SetYAxisRangeAuto(False)
    chart.SetYAxisRange(0.0, 1.02)
    chart.SetLegendVisibility(True)
    return chart


def curve_table_node(scene, data: Mapping, name: str = "Survival curve"):
    """The curve as survival.json holds it: one row per grid time (days), S, lower, upper."""
    node = table_node(scene, name, [("time (days)", data["times_days"]), ("survival", data["survival"]),
                                     ("lower", data["lower"]), ("upper", data["upper"])])
    node.SetAttribute(OUTPUT_ATTRIBUTE, "survival_curve")
    return node


def survival_plot_nodes(scene, data: Mapping, name: str = "Survival") -> SurvivalChart:
    """S(t) after the latest visit as steps, its band as two dashed step curves, the median
    as a dotted read-off line (when reached)."""
    months = np.asarray(data["times_days"], dtype=float) / DAYS_PER_MONTH
    columns = []
    for label in ("survival", "lower", "upper"):
        x, y = step_curve(months, data[label])
        columns += [] if columns else [(TIME_TITLE, x)]
        columns.append((label, y))
    table = table_node(scene, f"{name} plot points", columns)
    median = data.get("median_days")
    title = "Predicted survival, median " + ("not reached" if median is None else f"{median / DAYS_PER_MONTH:.1f} months")
    chart = _chart(scene, name, title)
    series = [
        _series(scene, chart, table, f"{name} survival", "survival", (0.8, 0.1, 0.1), "Solid", 3.0),
        _series(scene, chart, table, f"{name} lower band", "lower", (0.4, 0.4, 0.4), "Dash", 1.5),
        _series(scene, chart, table, f"{name} upper band", "upper", (0.4, 0.4, 0.4), "Dash", 1.5),
    ]
    tables = [table]
    if median is not None:
        m = median / DAYS_PER_MONTH
        read_off = table_node(scene, f"{name} median", [(TIME_TITLE, [0.0, m, m]), ("median", [0.5, 0.5, 0.0])])
        series.append(_series(scene, chart, read_off, f"{name} median", "median", (0.1, 0.1, 0.1), "Dot", 1.5))
        tables.append(read_off)
    plot = SurvivalChart(chart, tables, series)
    for node in plot.nodes():
        node.SetAttribute(OUTPUT_ATTRIBUTE, "survival_plot")
    return plot


def visits_plot_nodes(scene, data: Mapping, name: str = "Survival after each visit") -> SurvivalChart:
    """One step curve per visit: the prediction as it stood after that visit."""
    months = np.asarray(data["times_days"], dtype=float) / DAYS_PER_MONTH
    columns, labels = [], []
    for index, curve in enumerate(data["per_visit"]):
        x, y = step_curve(months, curve["survival"])
        columns += [] if columns else [(TIME_TITLE, x)]
        label = f"after visit {index + 1} (day {float(curve['day']):g})"
        columns.append((label, y))
        labels.append(label)
    table = table_node(scene, f"{name} points", columns)
    chart = _chart(scene, name, "Predicted survival after each visit")
    series = [_series(scene, chart, table, f"{name}: {label}", label, VISIT_COLOURS[i % len(VISIT_COLOURS)], "Solid", 2.0)
              for i, label in enumerate(labels)]
    plot = SurvivalChart(chart, [table], series)
    for node in plot.nodes():
        node.SetAttribute(OUTPUT_ATTRIBUTE, "survival_visits_plot")
    return plot


def survival_result_nodes(scene, data: Mapping, node_of_patient, patient_key: Optional[str] = None) -> dict:
    """The nodes of one survival prediction, in the patient's results folder.

    Removes the survival nodes an earlier prediction made for the same patient
    (``patient_key``, default: the patient item above ``node_of_patient``), then adds the
    curve table and both charts and shows the curve's chart in the plot views.

    Returns ``{"curve": table, "chart": SurvivalChart, "visits_chart": SurvivalChart, "folder": item}``.
    """
    from .study_hierarchy import find_patient_item, item_of_node

    check_prediction(data)
    key = patient_key or str(find_patient_item(scene, item_of_node(scene, node_of_patient)) or node_of_patient.GetID())
    remove_outputs(scene, SURVIVAL_ROLES, PATIENT_ATTRIBUTE, key)
    curve = curve_table_node(scene, data)
    chart = survival_plot_nodes(scene, data)
    visits = visits_plot_nodes(scene, data)
    for node in (curve, *chart.nodes(), *visits.nodes()):
        node.SetAttribute(PATIENT_ATTRIBUTE, key)
    folder = place_in_patient(scene, [curve, *chart.nodes(), *visits.nodes()], node_of_patient)
    show_in_views(scene, chart.chart)
    return {"curve": curve, "chart": chart, "visits_chart": visits, "folder": folder}
