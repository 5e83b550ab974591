#!/usr/bin/env python3
"""Open a report in headless Chromium: what each figure rendered as, and a full-page screenshot.

    python Utilities/report_screenshot.py demo-output/report/report.html --out report.png [--width 600]

``inspect_report`` loads a copy of the page with a small probe script added (the report
itself has no script and is not changed) and returns, per ``<img>``: whether it loaded, its
natural size and where it lies on the page, and the page's full height. ``screenshot`` then
draws the whole page at that height, so nothing below the first screen is cut off.
``Testing/test_report_browser.py`` uses both; they need a ``chromium`` (or Chrome) binary
(Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")
_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
          "--no-first-run", "--disable-extensions", "--mute-audio")
_PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    var box = img.getBoundingClientRect();
    return {alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
            x: box.left + window.scrollX, y: box.top + window.scrollY, shown_width: box.width,
            shown_height: box.height};
  });
  var probe = document.createElement("pre");
  probe.id = "report-probe";
  probe.textContent = JSON.stringify({images: images, page_width: document.documentElement.scrollWidth,
                                      page_height: document.documentElement.scrollHeight});
  document.body.appendChild(probe);
});
</script>"""


def find_chromium() -> Optional[str]:
    """The path of a Chromium or Chrome binary on PATH, or None."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(binary: str, arguments: list, timeout: float) -> str:
    done = subprocess.run([binary, *_FLAGS, *arguments], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(binary).name} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout


def inspect_report(report: Path, binary: str, width: int = 1200, timeout: float = 120) -> dict:
    """``{"images": [{alt, complete, width, height, x, y, shown_width, shown_height}], "page_width",
    "page_height"}`` of the report as Chromium lays it out at ``width`` CSS pixels."""
    text = Path(report).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        probed = Path(folder) / "probed.html"
        probed.write_text(text.replace("</body>", _PROBE + "</body>", 1), encoding="utf-8")
        dom = _run(binary, [f"--window-size={width},1000", "--virtual-time-budget=15000", "--dump-dom",
                            probed.as_uri()], timeout)
    found = re.search(r'<pre id="report-probe">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError("the page's load event never came: the report did not finish loading")
    return json.loads(html.unescape(found.group(1)))


def screenshot(report: Path, out: Path, binary: str, width: int = 1200, timeout: float = 120) -> dict:
    """A screenshot of the whole page (``width`` x its full height) into ``out``; returns
    :func:`inspect_report`'s layout."""
    layout = inspect_report(report, binary, width, timeout)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(binary, [f"--window-size={width},{int(layout['page_height'])}", "--virtual-time-budget=15000",
                  f"--screenshot={out}", Path(report).resolve().as_uri()], timeout)
    return layout


def shrink(png: Path, out: Path, width: int) -> None:
    """``png`` scaled to ``width`` pixels wide with a 64-colour palette: small enough to commit."""
    from PIL import Image

    with Image.open(png) as image:
        image = image.convert("RGB")
        height = round(image.height * width / image.width)
        image.resize((width, height), Image.LANCZOS).quantize(64).save(out, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--width", type=int, default=0, help="scale the screenshot to this width (0: as drawn)")
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        parser.exit(2, "No chromium binary found; install one (Debian: apt-get install -y chromium).\n")
    with tempfile.TemporaryDirectory() as folder:
        full = Path(folder) / "full.png"
        layout = screenshot(args.report, full, binary)
        if args.width:
            shrink(full, args.out, args.width)
        else:
            shutil.copyfile(full, args.out)
    broken = [image["alt"] for image in layout["images"] if not (image["complete"] and image["width"])]
    print(f"{args.out}: {len(layout['images'])} images, page {layout['page_height']} px high"
          + (f"; broken: {', '.join(broken)}" if broken else ""))
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
