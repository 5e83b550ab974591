"""The report as a browser shows it: opened in headless Chromium, every figure loads (no broken
image), none is empty on the screen, and a full-page screenshot holds the whole page.
Skipped where no Chromium or Chrome binary is installed (Debian: apt-get install -y chromium)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Utilities"))

from report_screenshot import find_chromium, screenshot  # noqa: E402

from braintumorai.report import write_report  # noqa: E402

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium)")


def test_the_report_opens_in_a_browser_with_every_figure_loaded_and_drawn(tmp_path):
    from PIL import Image

    from test_report import classification_data, head_and_map, survival_data

    image, heat, lesion = head_and_map()
    survival = dict(survival_data(), band_level=0.9)
    files = write_report(tmp_path / "report", classification=classification_data(),
                         saliency={"fused": heat, "T1C": heat}, reference=image, lesion=lesion, survival=survival,
                         identifiers={"Patient": "P-17"})
    figures = [name for name in files if name != "report"]
    layout = screenshot(files["report"], tmp_path / "page.png", CHROMIUM, width=1200)

    images = layout["images"]
    assert len(images) == len(figures)
    broken = [img["alt"] for img in images if not (img["complete"] and img["width"] > 0 and img["height"] > 0)]
    assert not broken, broken
    with Image.open(tmp_path / "page.png") as shot:
        page = np.asarray(shot.convert("RGB")).astype(int)
    assert page.shape[0] == layout["page_height"] and page.shape[0] > 2000  # the whole page, not one screen
    for img in images:
        assert img["shown_width"] > 200 and img["shown_height"] > 100, img["alt"]
        top, left = int(img["y"]), int(img["x"])
        crop = page[top:top + int(img["shown_height"]), left:left + int(img["shown_width"])]
        assert crop.size, img["alt"]
        # something drawn: many distinct colours and not one flat area (an empty figure is white)
        colours = np.unique(crop.reshape(-1, 3), axis=0)
        assert len(colours) > 20 and crop.std() > 20, img["alt"]
    # the page ends with the intended-use line: nothing was cut off below the last figure
    assert "not for clinical use" in files["report"].read_text().rsplit("<p class=small>", 1)[1].lower()
