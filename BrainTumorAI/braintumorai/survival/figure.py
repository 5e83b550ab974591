"""The survival figure: the curve with its band and median, and the curve after each visit."""

from __future__ import annotations

import os
from typing import Mapping, Optional

DAYS_PER_MONTH = 365.25 / 12


def _months(days) -> list[float]:
    return [d / DAYS_PER_MONTH for d in days]


def draw_survival(data: Mapping, path: os.PathLike, title: Optional[str] = None) -> None:
    """Draw ``survival.json``'s content (:meth:`SurvivalPrediction.to_dict`) into a PNG.

    Left: S(t) after the latest visit as steps at the grid's edges, the band shaded and
    named by its level (``band_level``), the median marked (or "not reached"), 1- and 2-year
    survival written. Right: the curve after each visit (dynamic prediction), one colour per
    visit. Both panels number their probability axis.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    months = _months(data["times_days"])
    level = data.get("band_level")
    band = f"{100 * float(level):.0f} % band" if level is not None else "band: the ensemble's spread"
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, constrained_layout=True)
    left.fill_between(months, data["lower"], data["upper"], step="post", color="tab:blue", alpha=0.25,
                      linewidth=0, label=band)
    left.step(months, data["survival"], where="post", color="tab:blue", linewidth=2,
              label="predicted survival")
    left.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    left.axvline(data["conditioned_on_day"] / DAYS_PER_MONTH, color="black", linewidth=0.8, linestyle="--",
                 label="latest visit")
    median = data.get("median_days")
    if median is not None:
        left.axvline(median / DAYS_PER_MONTH, color="tab:red", linewidth=1.2, label="median")
    lines = [f"median: {median / DAYS_PER_MONTH:.1f} months" if median is not None else "median: not reached"]
    for key, label in (("survival_1y", "1-year"), ("survival_2y", "2-year")):
        if data.get(key) is not None:
            lines.append(f"{label} survival: {data[key]:.2f}")
    left.text(0.98, 0.97, "\n".join(lines), transform=left.transAxes, ha="right", va="top", fontsize=9,
              bbox={"facecolor": "white", "edgecolor": "lightgrey"})
    left.set_title(title or "Survival given alive at the latest visit")
    left.set_xlabel("months since the first visit")
    left.set_ylabel("probability of being alive")
    left.set_ylim(-0.02, 1.02)
    left.legend(loc="lower left", fontsize=8)

    colours = plt.get_cmap("viridis")
    count = max(len(data["per_visit"]), 1)
    for index, curve in enumerate(data["per_visit"]):
        right.step(months, curve["survival"], where="post", color=colours(index / max(count - 1, 1)),
                   label=f"after day {curve['day']:g}")
    right.set_title("Prediction after each visit")
    right.set_xlabel("months since the first visit")
    right.set_ylabel("probability of being alive")
    right.tick_params(labelleft=True)  # sharey hides them; each panel is read on its own
    right.legend(loc="lower left", fontsize=8)
    model = data.get("model") or {}
    figure.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))  # room for the footer
    figure.text(0.995, 0.01, f"{model.get('name', '')} {model.get('version', '') or ''} - research only, "
                "not for clinical use", ha="right", va="bottom", fontsize=7, color="grey")
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)
