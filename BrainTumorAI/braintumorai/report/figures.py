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
from .wording import by_probability, class_name, probability_text

OVERLAY_OPACITY = 0.4  # as the slice views show the map: the anatomy stays readable under it
OVERLAY_FLOOR = 0.2  # map values below this share of the map's peak are not drawn
# A map whose peak is below this (on the fused map's scale: about five of the 255 steps the
# maps are stored in) holds nothing to draw; scaled to its own peak it would show noise.
MIN_DRAWN_PEAK = 0.02
OUTLINE_COLOUR = "cyan"
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


def _draw_slice(axis, background: Slice, heat: Optional[Slice], window, lesion: Optional[Slice], title: str) -> None:
    rows, columns = background.pixels.shape
    # extent in pixel units scaled by the aspect, so millimetres look square
    axis.imshow(background.pixels, cmap="gray", vmin=window[0], vmax=window[1], aspect=background.aspect,
                interpolation="nearest")
    if heat is not None:
        axis.imshow(np.ma.masked_less(heat.pixels, OVERLAY_FLOOR), cmap=_heat_colormap(), vmin=0.0, vmax=1.0,
                    alpha=OVERLAY_OPACITY, aspect=background.aspect, interpolation="nearest")
    if lesion is not None and np.any(lesion.pixels > 0) and np.any(lesion.pixels == 0):
        axis.contour(lesion.pixels > 0, levels=[0.5], colors=OUTLINE_COLOUR, linewidths=0.8)
    row, column = background.point
    axis.plot([column], [row], marker="+", color=OUTLINE_COLOUR, markersize=10, markeredgewidth=1.2)
    _edge_labels(axis, background.labels)
    axis.set_title(title, fontsize=9)
    axis.set_xlim(-0.5, columns - 0.5)
    axis.set_ylim(rows - 0.5, -0.5)
    axis.axis("off")


BAR_BACKGROUND = 0.5  # grey under the colour bar, as mid-grey anatomy lies under the overlay


def _draw_colour_bar(axis, label: str) -> None:
    """The colour bar as the overlay is drawn: nothing below ``OVERLAY_FLOOR`` (the grey shows
    through, marked "not drawn"), the ramp above it at ``OVERLAY_OPACITY`` over grey."""
    levels = np.linspace(0.0, 1.0, 256)[:, None]
    axis.imshow(np.full((256, 1), BAR_BACKGROUND), cmap="gray", vmin=0.0, vmax=1.0, origin="lower",
                extent=(0, 1, 0, 1), aspect="auto", interpolation="nearest")
    axis.imshow(np.ma.masked_less(levels, OVERLAY_FLOOR), cmap=_heat_colormap(), vmin=0.0, vmax=1.0,
                alpha=OVERLAY_OPACITY, origin="lower", extent=(0, 1, 0, 1), aspect="auto", interpolation="nearest")
    axis.axhline(OVERLAY_FLOOR, color="black", linewidth=0.8)
    axis.text(0.5, OVERLAY_FLOOR / 2, "not\ndrawn", ha="center", va="center", fontsize=7, rotation=90)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xticks([])
    axis.yaxis.tick_right()
    axis.yaxis.set_label_position("right")
    axis.set_yticks([0.0, OVERLAY_FLOOR, 0.4, 0.6, 0.8, 1.0])
    axis.tick_params(labelsize=8)
    axis.set_ylabel(label, fontsize=8)


def _legend(figure, outline: bool, rows: Sequence[str]) -> None:
    from matplotlib.lines import Line2D

    cross = ("cyan cross: the point each row's slices go through (" + "; ".join(
        f"row {index + 1}: the {name}" for index, name in enumerate(rows)) + ")") if len(rows) > 1 else \
        f"cyan cross: the {rows[0]}"
    handles = [Line2D([], [], color=OUTLINE_COLOUR, marker="+", linestyle="none", markersize=9, label=cross)]
    if outline:
        handles.insert(0, Line2D([], [], color=OUTLINE_COLOUR, linewidth=1.2,
                                 label="cyan outline: the whole lesion mask (every label, oedema included)"))
    figure.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.01, 0.0), ncol=len(handles), fontsize=8,
                  frameon=False)


def saliency_figure(background, heat, spacing, title: str, lesion=None, window: Optional[tuple] = None,
                    window_text: str = "", scale_text: str = "") -> bytes:
    """:func:`draw_saliency`'s figure as PNG bytes."""
    return png_bytes(draw_saliency(background, heat, spacing, title, lesion, window, window_text, scale_text))


def draw_saliency(background, heat, spacing, title: str, lesion=None, window: Optional[tuple] = None,
                  window_text: str = "", scale_text: str = ""):
    """Axial, coronal and sagittal slices through the map's peak, the map in red-yellow at 40 %
    opacity over the background, with a colour bar drawn as the overlay is, a legend and the
    anatomical direction on every edge.

    The map is drawn on its own scale: divided by its peak, so a modality's map that holds a
    small share of the fused one still shows where it lies (``scale_text`` says so). A map
    whose peak is below ``MIN_DRAWN_PEAK`` is not drawn, and the figure says so in words.

    Args:
        background, heat: LPS arrays ``[k, j, i]`` of one grid (see ``slices.lps_volume``); the
            map in [0, 1] (fused map's scale).
        spacing: (i, j, k) voxel size in mm.
        title: what the figure shows (modality, method, class).
        lesion: optional LPS mask on the same grid; its outline is drawn in cyan and a second
            row of slices goes through its centre.
        window: (low, high) grey window of the background (default: its 0.5-99.5 percentiles
            inside the non-zero voxels); ``window_text`` names it in the figure.
        scale_text: how the map's scale relates to the fused map's (e.g. "peak 0.055 of the
            fused map's scale"), written under the colour bar's label.

    Returns:
        The matplotlib ``Figure`` (Agg canvas): axes 0-2 are the first row's axial, coronal
        and sagittal slices, the colour bar's axes is labelled "colour bar".
    """
    if background.shape != heat.shape or (lesion is not None and lesion.shape != heat.shape):
        raise ValueError("background, map and lesion must lie on one grid")
    peak = float(np.max(heat)) if heat.size else 0.0
    drawn = peak >= MIN_DRAWN_PEAK
    shown = heat / peak if drawn else None
    rows = [("map's peak", peak_point(heat))]
    centre = centre_point(lesion) if lesion is not None else None
    if centre is not None:
        rows.append(("lesion's centre", centre))
    window = window or display_range(background)
    figure = _figure(10.5, 3.6 * len(rows) + 0.8)
    bottom = 0.4 / (3.6 * len(rows) + 0.8) + 0.03
    grid = figure.add_gridspec(len(rows), 4, width_ratios=[1, 1, 1, 0.06], wspace=0.08, hspace=0.18,
                               left=0.01, right=0.9, top=0.9 - 0.02 * (len(rows) - 1), bottom=bottom)
    for row, (name, point) in enumerate(rows):
        lesion_slices = slices_through(lesion, spacing, point) if lesion is not None else [None] * 3
        heat_slices = slices_through(shown, spacing, point) if drawn else [None] * 3
        for column, (back, hot, mask) in enumerate(zip(slices_through(background, spacing, point),
                                                       heat_slices, lesion_slices)):
            axis = figure.add_subplot(grid[row, column])
            _draw_slice(axis, back, hot, window, mask, f"{back.orientation} through the {name}")
    bar = figure.add_subplot(grid[:, 3], label="colour bar")
    label = (f"saliency / the map's peak; drawn above {OVERLAY_FLOOR:g} at {OVERLAY_OPACITY:.0%} opacity"
             + (f"\n{scale_text}" if scale_text else ""))
    _draw_colour_bar(bar, label)
    if not drawn:
        figure.text(0.46, 0.5 + bottom / 2,
                    f"Nothing drawn: this map stays below {MIN_DRAWN_PEAK:g} of the fused map's scale everywhere\n"
                    f"(its peak is {peak:.3f}); the model drew on other modalities here.",
                    ha="center", va="center", fontsize=11, color="black",
                    bbox={"facecolor": "white", "edgecolor": "#c0392b", "alpha": 0.9})
    _legend(figure, lesion is not None and np.any(lesion > 0), [name for name, _ in rows])
    figure.suptitle(title + (f"; {window_text}" if window_text else "") + " - research only, not for clinical use",
                    fontsize=10)
    return figure


def probabilities_figure(classes: Sequence[str], probabilities: Mapping[str, float],
                         prediction_set: Sequence[str], coverage: Optional[float]) -> bytes:
    """Horizontal bars of the class probabilities, most probable at the top, with their values
    written (never rounded to certainty) and the classes named as in the report's table;
    classes of the prediction set in red."""
    order = by_probability(classes, probabilities)
    figure = _figure(6.4, 0.45 * len(order) + 1.0)
    axis = figure.add_axes([0.46, 0.12, 0.47, 0.74])
    values = [float(probabilities[c]) for c in order]
    colours = [SET_COLOUR if c in prediction_set else OTHER_COLOUR for c in order]
    axis.barh(range(len(order)), values, color=colours)
    for index, value in enumerate(values):
        axis.text(min(value + 0.02, 0.8), index, probability_text(value), va="center", fontsize=8)
    axis.set_yticks(range(len(order)), [class_name(c) for c in order], fontsize=8)
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
