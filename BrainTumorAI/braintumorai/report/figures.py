"""The report's figures as PNG bytes: saliency slices, class probabilities, modality weights.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no GUI backend), so the
same code runs in a terminal, a batch job and inside 3D Slicer without touching the
application's windows.
"""

from __future__ import annotations

import io
from typing import Mapping, Optional, Sequence

import numpy as np

from .slices import Slice, centre_point, display_range, peak_point, slices_through

OVERLAY_OPACITY = 0.4  # as the slice views show the map: the anatomy stays readable under it
OVERLAY_FLOOR = 0.2  # map values below this are not drawn
SET_COLOUR = "#c0392b"  # classes in the prediction set
OTHER_COLOUR = "#95a5a6"


def heat_rgb(fraction: float) -> tuple[float, float, float]:
    """Colour of a saliency level in [0, 1]: dark red, red, then yellow at the top. It neither
    starts at black (weak saliency would darken the anatomy) nor ends at white (the strongest
    would vanish over bright anatomy at 40 % opacity); the Slicer module's colour table uses
    the same ramp."""
    x = min(max(float(fraction), 0.0), 1.0)
    return min(1.0, 0.5 + x), min(1.0, max(0.0, 2.0 * x - 1.0)), 0.0


def _heat_colormap():
    from matplotlib.colors import ListedColormap

    return ListedColormap([heat_rgb(i / 255) for i in range(256)], name="braintumorai-heat")


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _edge_labels(axis, labels: Sequence[str]) -> None:
    left, right, top, bottom = labels
    style = {"transform": axis.transAxes, "color": "yellow", "fontsize": 9, "fontweight": "bold"}
    axis.text(0.02, 0.5, left, ha="left", va="center", **style)
    axis.text(0.98, 0.5, right, ha="right", va="center", **style)
    axis.text(0.5, 0.98, top, ha="center", va="top", **style)
    axis.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)


def _draw_slice(axis, background: Slice, heat: Slice, window, lesion: Optional[Slice], title: str):
    rows, columns = background.pixels.shape
    # extent in pixel units scaled by the aspect, so millimetres look square
    axis.imshow(background.pixels, cmap="gray", vmin=window[0], vmax=window[1], aspect=background.aspect,
                interpolation="nearest")
    image = axis.imshow(np.ma.masked_less(heat.pixels, OVERLAY_FLOOR), cmap=_heat_colormap(), vmin=0.0, vmax=1.0,
                        alpha=OVERLAY_OPACITY, aspect=background.aspect, interpolation="nearest")
    if lesion is not None and np.any(lesion.pixels > 0) and np.any(lesion.pixels == 0):
        axis.contour(lesion.pixels > 0, levels=[0.5], colors="cyan", linewidths=0.8)
    row, column = background.point
    axis.plot([column], [row], marker="+", color="cyan", markersize=10, markeredgewidth=1.2)
    _edge_labels(axis, background.labels)
    axis.set_title(title, fontsize=9)
    axis.set_xlim(-0.5, columns - 0.5)
    axis.set_ylim(rows - 0.5, -0.5)
    axis.axis("off")
    return image


def saliency_figure(background, heat, spacing, title: str, lesion=None) -> bytes:
    """Axial, coronal and sagittal slices through the map's peak, the map in red-yellow at 40 %
    opacity over the background, with a colour bar and the anatomical direction on every edge.

    Args:
        background, heat: LPS arrays ``[k, j, i]`` of one grid (see ``slices.lps_volume``); the
            map in [0, 1].
        spacing: (i, j, k) voxel size in mm.
        title: what the figure shows (modality, method, class).
        lesion: optional LPS mask on the same grid; its outline is drawn in cyan and a second
            row of slices goes through its centre.

    Returns:
        PNG bytes.
    """
    if background.shape != heat.shape or (lesion is not None and lesion.shape != heat.shape):
        raise ValueError("background, map and lesion must lie on one grid")
    rows = [("map peak", peak_point(heat))]
    centre = centre_point(lesion) if lesion is not None else None
    if centre is not None:
        rows.append(("lesion centre", centre))
    window = display_range(background)
    figure = _figure(10.5, 3.6 * len(rows) + 0.4)
    grid = figure.add_gridspec(len(rows), 4, width_ratios=[1, 1, 1, 0.06], wspace=0.08, hspace=0.18,
                               left=0.01, right=0.93, top=0.9 - 0.02 * (len(rows) - 1), bottom=0.03)
    image = None
    for row, (name, point) in enumerate(rows):
        lesion_slices = slices_through(lesion, spacing, point) if lesion is not None else [None] * 3
        for column, (back, hot, mask) in enumerate(zip(slices_through(background, spacing, point),
                                                       slices_through(heat, spacing, point), lesion_slices)):
            axis = figure.add_subplot(grid[row, column])
            image = _draw_slice(axis, back, hot, window, mask, f"{back.orientation} through the {name}")
    bar = figure.add_subplot(grid[:, 3])
    colourbar = figure.colorbar(image, cax=bar)
    colourbar.solids.set_alpha(1.0)
    colourbar.set_label(f"saliency (drawn above {OVERLAY_FLOOR:g})", fontsize=8)
    figure.suptitle(title + " - research only, not for clinical use", fontsize=10)
    return png_bytes(figure)


def probabilities_figure(classes: Sequence[str], probabilities: Mapping[str, float],
                         prediction_set: Sequence[str], coverage: Optional[float]) -> bytes:
    """Horizontal bars of the class probabilities with their values written; classes of the
    prediction set in red."""
    figure = _figure(5.2, 0.45 * len(classes) + 1.0)
    axis = figure.add_axes([0.34, 0.12, 0.58, 0.74])
    values = [float(probabilities[c]) for c in classes]
    colours = [SET_COLOUR if c in prediction_set else OTHER_COLOUR for c in classes]
    axis.barh(range(len(classes)), values, color=colours)
    for index, value in enumerate(values):
        axis.text(min(value + 0.02, 0.86), index, f"{value:.3f}", va="center", fontsize=8)
    axis.set_yticks(range(len(classes)), [c.replace("_", " ") for c in classes], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel("calibrated probability", fontsize=8)
    set_text = f"red: {100 * coverage:.0f} % prediction set" if coverage is not None else "red: prediction set"
    axis.set_title(f"Tumour type ({set_text})", fontsize=9)
    return png_bytes(figure)


def weights_figure(weights: Mapping[str, float]) -> bytes:
    """Horizontal bars of the modality weights (shares of the fused map) with their values."""
    figure = _figure(4.2, 0.4 * max(len(weights), 1) + 1.0)
    axis = figure.add_axes([0.2, 0.14, 0.72, 0.7])
    names, values = list(weights), [float(w) for w in weights.values()]
    axis.barh(range(len(names)), values, color="#2e86c1")
    for index, value in enumerate(values):
        axis.text(min(value + 0.02, 0.86), index, f"{value:.2f}", va="center", fontsize=8)
    axis.set_yticks(range(len(names)), names, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_title("Modality weights", fontsize=9)
    return png_bytes(figure)
