#!/usr/bin/env python3
"""Render the README's demo pictures from the demo itself, with its default options.

    python Utilities/render_demo_figures.py          # -> Resources/Figures/demo-saliency-fused.png,
                                                      #    Resources/Screenshots/report.png

Runs ``braintumorai demo --out <temporary folder>`` (default type, seed, visits and spacing,
the bundled models, CPU), then copies the report's fused saliency figure
(``demo-output/report/saliency_fused.png`` of the README's own command) and takes a full-page
screenshot of ``report.html`` in headless Chromium (``Utilities/report_screenshot.py``; skipped
with a note when no chromium binary is installed). Both are stored with a reduced palette (and
the screenshot scaled down) so the repository stays small. No real image is used.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "BrainTumorAI"))
sys.path.insert(0, str(ROOT / "Utilities"))

FIGURE = ROOT / "Resources" / "Figures" / "demo-saliency-fused.png"
SCREENSHOT = ROOT / "Resources" / "Screenshots" / "report.png"
SCREENSHOT_WIDTH = 420


def main() -> int:
    from PIL import Image

    from report_screenshot import find_chromium, screenshot, shrink

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "demo-output"
        subprocess.run([sys.executable, "-m", "braintumorai", "demo", "--out", str(out), "--device", "cpu"],
                       check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "BrainTumorAI"), "PATH": "/usr/bin:/bin"})
        with Image.open(out / "report" / "saliency_fused.png") as figure:
            figure.convert("RGB").quantize(256).save(FIGURE, optimize=True)
        print(f"{FIGURE.relative_to(ROOT)}: the demo's report/saliency_fused.png")
        binary = find_chromium()
        if binary is None:
            print("No chromium binary: the report screenshot was not taken (apt-get install -y chromium).")
            return 0
        full = Path(folder) / "page.png"
        layout = screenshot(out / "report" / "report.html", full, binary)
        shrink(full, SCREENSHOT, SCREENSHOT_WIDTH)
        print(f"{SCREENSHOT.relative_to(ROOT)}: report.html in headless Chromium, {len(layout['images'])} figures, "
              f"page {layout['page_height']} px high at 1200 px wide, scaled to {SCREENSHOT_WIDTH} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
