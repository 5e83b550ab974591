"""The report's figures, read as pixels: what a radiologist sees is what the map and the
volume hold (the map drawn exactly where it is above its threshold, on its own scale; CT in
a brain window with its anatomy; the colour bar as the overlay is drawn), and the numbers
and names a person reads are never rounded to certainty or spelled two ways."""

from __future__ import annotations

import io

import numpy as np
import pytest
import SimpleITK as sitk

from braintumorai.report import figures, write_report
from braintumorai.report.slices import background_window, peak_point, slices_through
from braintumorai.report.wording import by_probability, class_name, probability_text


def _pixels(figure) -> np.ndarray:
    """(rows, columns, 3) uint8 RGB of the figure as drawn."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _pixel_at(figure, axis, x: float, y: float, pixels=None) -> np.ndarray:
    """RGB of the pixel under data point (x, y) of ``axis`` (x = column, y = row for an image)."""
    pixels = _pixels(figure) if pixels is None else pixels
    column, row_from_bottom = axis.transData.transform((x, y))
    return pixels[pixels.shape[0] - 1 - int(round(row_from_bottom)), int(round(column))].astype(int)


def _coloured(rgb) -> bool:
    """The heat overlay is red to yellow: red clearly above blue. Grey anatomy has r = g = b."""
    return int(rgb[0]) - int(rgb[2]) > 25


def _volume_and_map(peak: float):
    """A uniform grey volume (k, j, i) = (24, 32, 28) and a Gaussian map of height ``peak``."""
    zz, yy, xx = np.mgrid[:24, :32, :28]
    background = np.full(zz.shape, 100.0, np.float32)
    background[0] = 0.0  # the percentile window needs more than one value
    heat = (peak * np.exp(-((zz - 12) ** 2 + (yy - 14) ** 2 + (xx - 16) ** 2) / 30.0)).astype(np.float32)
    return background, heat


def test_a_modality_map_far_below_the_fused_scale_is_drawn_on_its_own_scale_exactly_where_it_passes_the_threshold():
    background, heat = _volume_and_map(peak=0.06)  # like the demo's FLAIR map: never reaches 0.2 of the fused scale
    figure = figures.draw_saliency(background, heat, (1.0, 1.0, 1.0), "FLAIR map", scale_text="peak 0.06")
    axial = figure.axes[0]
    shown = slices_through(heat / heat.max(), (1.0, 1.0, 1.0), peak_point(heat))[0]
    cross = shown.point
    pixels = _pixels(figure)
    checked = {True: 0, False: 0}
    for row in range(2, shown.pixels.shape[0] - 2):
        for column in range(3, shown.pixels.shape[1] - 3):
            level = shown.pixels[row, column]
            if abs(level - figures.OVERLAY_FLOOR) < 0.06 or max(abs(row - cross[0]), abs(column - cross[1])) < 2:
                continue  # the threshold's edge (interpolation) and the cross
            drawn = _coloured(_pixel_at(figure, axial, column, row, pixels))
            assert drawn == (level >= figures.OVERLAY_FLOOR), (row, column, level)
            checked[drawn] += 1
    assert checked[True] > 20 and checked[False] > 200
    assert not any("Nothing drawn" in text.get_text() for text in figure.texts)


def test_a_map_below_the_drawing_level_everywhere_says_so_in_words_and_draws_nothing():
    background, heat = _volume_and_map(peak=0.008)  # like the demo's T1 map: two of the 255 storage steps
    figure = figures.draw_saliency(background, heat, (1.0, 1.0, 1.0), "T1 map")
    notes = [text.get_text() for text in figure.texts if "Nothing drawn" in text.get_text()]
    assert notes and "0.008" in notes[0]
    panels = [axis for axis in figure.axes if axis.get_label() != "colour bar"]
    assert len(panels) == 3 and all(len(axis.images) == 1 for axis in panels)  # the anatomy, no overlay


def test_the_colour_bar_is_drawn_as_the_overlay_is_nothing_below_the_threshold_and_forty_percent_above():
    background, heat = _volume_and_map(peak=1.0)
    figure = figures.draw_saliency(background, heat, (1.0, 1.0, 1.0), "Fused map")
    bar = next(axis for axis in figure.axes if axis.get_label() == "colour bar")
    grey = round(255 * figures.BAR_BACKGROUND)
    pixels = _pixels(figure)
    for level in (0.02, figures.OVERLAY_FLOOR - 0.02):  # (the words "not drawn" lie between)
        rgb = _pixel_at(figure, bar, 0.85, level, pixels)
        assert np.abs(rgb - grey).max() <= 3, (level, rgb)  # only the grey under it: not drawn
    assert _coloured(_pixel_at(figure, bar, 0.85, figures.OVERLAY_FLOOR + 0.03, pixels))
    top = _pixel_at(figure, bar, 0.85, 0.99, pixels)
    # yellow (1, 1, 0) at 40 % over mid-grey, as the overlay lies over the anatomy
    expected = 255 * (figures.OVERLAY_OPACITY * np.array(figures.heat_rgb(1.0))
                      + (1 - figures.OVERLAY_OPACITY) * figures.BAR_BACKGROUND)
    assert np.abs(top - expected).max() <= 6, (top, expected)


def _ct_head():
    """A CT in HU: air, a skull at 1000 HU, and brain tissue from 10 to 70 HU (a gradient, as
    grey and white matter and CSF differ by tens of HU)."""
    zz, yy, xx = np.mgrid[:30, :40, :36]
    radius = np.sqrt(((zz - 15) / 13.0) ** 2 + ((yy - 20) / 17.0) ** 2 + ((xx - 18) / 15.0) ** 2)
    ct = np.full(zz.shape, -1000.0, np.float32)
    ct[radius <= 1.0] = 1000.0
    brain = radius <= 0.85
    ct[brain] = (10.0 + 60.0 * xx / 35.0)[brain]
    image = sitk.GetImageFromArray(ct)
    image.SetSpacing((2.0, 2.0, 2.0))
    blob = np.exp(-((zz - 15) ** 2 + (yy - 20) ** 2 + (xx - 18) ** 2) / 20.0)
    heat = sitk.GetImageFromArray(blob.astype(np.float32))
    heat.CopyInformation(image)
    return image, heat, brain


def test_the_ct_figure_shows_the_brain_in_a_brain_window_with_its_grey_levels_apart(tmp_path):
    ct, heat, _ = _ct_head()
    zero = sitk.Image(heat)
    zero *= 0.0
    files = write_report(tmp_path, classification=_classification(), saliency={"fused": heat, "CT": zero},
                         reference=ct, images={"CT": ct})
    from matplotlib.image import imread

    pixels = (imread(io.BytesIO(files["saliency_CT"].read_bytes()))[..., :3] * 255).round().astype(int)
    grey = (pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2])
    levels = pixels[..., 0][grey & (pixels[..., 0] > 8) & (pixels[..., 0] < 247)]
    counts = np.bincount(levels, minlength=256)
    tissue = np.flatnonzero(counts >= 30)  # grey levels many pixels share: anatomy, not text edges
    # 10-70 HU through W80/L40 spans three quarters of the grey scale; the 0.5-99.5 percentile window
    # (-1000..1000 HU) would squeeze the whole brain into a few levels around the middle.
    assert tissue.size > 40 and tissue.max() - tissue.min() > 150
    assert background_window(np.zeros(3), "CT") == ((0.0, 80.0), "CT in a brain window, W80/L40 HU")


def _classification() -> dict:
    return {"classes": ["glioblastoma", "lower_grade_glioma", "no_tumor"],
            "probabilities": {"glioblastoma": 0.000012, "lower_grade_glioma": 0.999574, "no_tumor": 0.000414},
            "predicted": "lower_grade_glioma", "uncertainty": 0.002157, "prediction_set": ["lower_grade_glioma"],
            "coverage": 0.9, "modality_weights": {"CT": 1.0}, "saliency": {}, "saliency_method": "layercam",
            "saliency_class": "lower_grade_glioma", "reference": "CT",
            "model": {"name": "m", "version": "1", "sha256": "0" * 64}, "warnings": [], "ood_score": None}


def test_probabilities_are_never_rounded_to_certainty():
    assert probability_text(0.99957) == "> 0.999"
    assert probability_text(0.00004) == "< 0.001"
    assert probability_text(0.5) == "0.500" and probability_text(1.0) == "1" and probability_text(0.0) == "0"
    assert probability_text(0.002157, 2) == "< 0.01"


def test_the_table_the_chart_and_the_text_list_the_classes_one_way_by_probability(tmp_path):
    data = _classification()
    files = write_report(tmp_path, classification=data)
    html = files["report"].read_text()
    order = by_probability(data["classes"], data["probabilities"])
    assert order == ["lower_grade_glioma", "no_tumor", "glioblastoma"]
    names = [class_name(c) for c in order]
    assert names[0] == "lower-grade glioma (lower_grade_glioma)" and class_name("glioblastoma") == "glioblastoma"
    table = html[html.index("<table><tr><th>class"):]
    positions = [table.index(f">{name}<") for name in names]
    assert positions == sorted(positions)
    tumour_type = html[html.index("<h2>Tumour type"):html.index("<h3>Modality weights")]
    assert "> 0.999" in tumour_type.replace("&gt;", ">") and "1.000" not in tumour_type
    assert "uncertainty < 0.01" in tumour_type.replace("&lt;", "<") and "uncertainty 0.00" not in tumour_type
    # the chart: the same order and spelling on its y axis, values as in the table
    figure_labels = _chart_labels(data)
    assert figure_labels == names


def _chart_labels(data) -> list[str]:
    captured = {}
    real = figures.png_bytes

    def keep(figure):
        captured["figure"] = figure
        return real(figure)

    figures.png_bytes, previous = keep, figures.png_bytes
    try:
        figures.probabilities_figure(data["classes"], data["probabilities"], data["prediction_set"], data["coverage"])
    finally:
        figures.png_bytes = previous
    axis = captured["figure"].axes[0]
    texts = [t.get_text() for t in axis.texts]
    assert texts[0] == "> 0.999"
    return [label.get_text() for label in axis.get_yticklabels()]


@pytest.mark.parametrize("level, words", [(0.9, "90 % band"), (None, "the ensemble's spread")])
def test_the_survival_figure_names_its_band_and_numbers_both_y_axes(tmp_path, level, words):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from braintumorai.survival.figure import draw_survival

    times = [float(t) for t in np.linspace(0, 1826.25, 31)]
    survival = [float(v) for v in np.exp(-np.array(times) / 900.0)]
    data = {"times_days": times, "survival": survival, "lower": [v * 0.9 for v in survival],
            "upper": [min(1.0, v * 1.1) for v in survival], "median_days": 600.0, "survival_1y": 0.67,
            "survival_2y": 0.44, "conditioned_on_day": 0.0, "band_level": level,
            "per_visit": [{"day": 0.0, "survival": survival}], "model": {"name": "m"}}
    shown = {}
    real_close = plt.close
    plt.close = lambda figure: shown.setdefault("figure", figure)
    try:
        draw_survival(data, tmp_path / "s.png")
    finally:
        plt.close = real_close
    left, right = shown["figure"].axes[:2]
    assert any(words in text.get_text() for text in left.get_legend().get_texts())
    for axis in (left, right):
        assert any(label.get_visible() and label.get_text() for label in axis.get_yticklabels())
        assert axis.get_ylabel() == "probability of being alive"
    real_close(shown["figure"])


def _cross_at(axis) -> tuple:
    """(row, column) of the cyan '+' drawn on a slice."""
    marks = [line for line in axis.lines if line.get_marker() == "+"]
    assert len(marks) == 1
    return float(marks[0].get_ydata()[0]), float(marks[0].get_xdata()[0])


def test_the_legend_names_the_outline_and_each_rows_cross_and_the_crosses_mark_those_points():
    """The cyan outline is the whole lesion mask (oedema included) and the cross marks the
    map's peak in the first row, the lesion's centre in the second: the legend says so, and
    each cross lies on the point its row's slices go through."""
    from braintumorai.report.slices import centre_point

    background, heat = _volume_and_map(peak=0.9)
    lesion = np.zeros(heat.shape, np.uint8)
    lesion[4:10, 20:28, 4:12] = 2  # away from the map's peak: the two rows differ
    figure = figures.draw_saliency(background, heat, (1.0, 1.0, 1.0), "fused map", lesion=lesion)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[0] == "cyan outline: the whole lesion mask (every label, oedema included)"
    assert "row 1: the map's peak" in legend[1] and "row 2: the lesion's centre" in legend[1]
    panels = [axis for axis in figure.axes if axis.get_label() != "colour bar"]
    assert len(panels) == 6
    for row, point in enumerate((peak_point(heat), centre_point(lesion))):
        for column, shown in enumerate(slices_through(background, (1.0, 1.0, 1.0), point)):
            assert _cross_at(panels[3 * row + column]) == tuple(float(v) for v in shown.point)
    assert "map's peak" in panels[0].get_title() and "lesion's centre" in panels[3].get_title()
    alone = figures.draw_saliency(background, heat, (1.0, 1.0, 1.0), "fused map")
    assert [text.get_text() for text in alone.legends[0].get_texts()] == ["cyan cross: the map's peak"]
