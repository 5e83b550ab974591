"""The report as one self-contained HTML page: every figure inlined as a base64 PNG,
styles inline, no script, nothing fetched, so it opens the same anywhere and can be
archived or mailed as one file."""

from __future__ import annotations

import base64
import datetime as _dt
from html import escape
from typing import Mapping, Optional, Sequence

from .figures import MIN_DRAWN_PEAK, OVERLAY_FLOOR, OVERLAY_OPACITY
from .wording import by_probability, class_name, probability_text

NOT_FOR_CLINICAL_USE = (
    "Research software, not for clinical use: BrainTumorAI is not a medical device and must not be used for "
    "diagnosis or treatment decisions. The bundled model weights are trained on synthetic phantoms only."
)
DAYS_PER_MONTH = 365.25 / 12

_STYLE = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;max-width:1100px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f3f3f3}.warning{background:#fff4e0;border-left:4px solid #e67e22;padding:6px 10px;margin:6px 0}
.banner{background:#fdecea;border:2px solid #c0392b;color:#922;padding:8px 12px;font-weight:bold;margin:10px 0}
.in-set{font-weight:bold;color:#c0392b}img{max-width:100%;margin:6px 0}.small{font-size:12px;color:#666}
code{font-size:12px}
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then the caller escaped them)."""
    cell = (lambda v: str(v)) if raw else (lambda v: escape(str(v)))
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="{data_uri(png)}">'


def _warnings(sentences: Sequence[str]) -> str:
    return "".join(f'<div class="warning">Warning: {escape(str(s))}</div>' for s in sentences or ())


def _months(days: Optional[float]) -> str:
    if days is None:
        return "not reached"
    return f"{days / DAYS_PER_MONTH:.1f} months ({days:.0f} days)"


def _number(value: Optional[float], digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def classification_section(data: Mapping, figures: Mapping[str, bytes]) -> str:
    """Tumour type: probabilities as numbers, prediction set, uncertainty, modality weights,
    warnings, the out-of-distribution line (when result.json has one) and the saliency figures."""
    members = set(data.get("prediction_set") or [])
    probabilities = data["probabilities"]
    order = by_probability(list(data["classes"]), probabilities)
    rows = [[f'<span class="in-set">{escape(class_name(c))}</span>' if c in members else escape(class_name(c)),
             escape(probability_text(probabilities[c])), "yes" if c in members else ""] for c in order]
    coverage = data.get("coverage")
    uncertainty = data.get("uncertainty")
    in_set = [class_name(c) for c in order if c in members]
    parts = [
        "<h2>Tumour type</h2>",
        f"<p>Predicted: <b>{escape(class_name(str(data['predicted'])))}</b>"
        f" (probability {escape(probability_text(probabilities[data['predicted']]))}); uncertainty "
        f"{'n/a' if uncertainty is None else escape(probability_text(uncertainty, 2))} "
        "(normalised entropy, 0 = certain, 1 = uniform).</p>",
        f"<p>Prediction set{f' at {100 * coverage:.0f} % coverage' if coverage is not None else ''}: "
        f"<b>{escape(', '.join(in_set) or 'empty')}</b></p>",
        _table(["class", "probability", "in prediction set"], rows, raw=True),
    ]
    if "probabilities" in figures:
        parts.append(_image(figures["probabilities"], "class probabilities"))
    weights = data.get("modality_weights") or {}
    if weights:
        parts.append("<h3>Modality weights</h3>")
        parts.append(_table(["modality", "weight"], [[m, f"{float(w):.3f}"] for m, w in weights.items()]))
        if "modality_weights" in figures:
            parts.append(_image(figures["modality_weights"], "modality weights"))
    parts.append(_warnings(data.get("warnings") or []))
    if data.get("ood_score") is not None:
        flag = data.get("ood_flag")
        verdict = ("above the flag threshold, unusual for the model: read the answer with doubt (see the warning)"
                   if flag else "within the training data's range")
        parts.append(f"<p>Out-of-distribution score: {_number(data['ood_score'], 3)} ({verdict}).</p>")
        if flag:
            from ..ood import OOD_ADVICE

            parts.append(f"<p><b>{escape(OOD_ADVICE)}</b></p>")
    from .wording import model_caveat

    if model_caveat(data.get("model")):
        parts.append(f"<p><b>{escape(model_caveat(data.get('model')))}</b></p>")
    maps = [name for name in figures if name.startswith("saliency_")]
    if maps:
        method, target = data.get("saliency_method"), data.get("saliency_class")
        parts.append(f"<h3>Saliency ({escape(str(method))}, class {escape(str(target))})</h3>")
        parts.append(f"<p class=small>Reference volume: {escape(str(data.get('reference')))}. Each figure: axial, "
                     "coronal and sagittal slices through the map's peak (top row) and, when a lesion mask was "
                     "given, through the lesion's centre (bottom row); the cyan cross marks that point, the cyan "
                     "outline the whole lesion mask (every label, oedema included). Each map is drawn on its own "
                     f"scale (divided by its peak, stated beside its colour bar) in red to yellow at "
                     f"{OVERLAY_OPACITY:.0%} opacity where it exceeds {OVERLAY_FLOOR:g} of its peak; a map whose "
                     f"peak stays below {MIN_DRAWN_PEAK:g} of the fused map's scale is not drawn, and its figure "
                     "says so. CT is shown in a brain window (W80/L40 HU), the other volumes between their 0.5 "
                     "and 99.5 percentiles.</p>")
        parts += [_image(figures[name], name.replace("_", " ")) for name in maps]
    return "\n".join(parts)


def survival_section(data: Mapping, figure: Optional[bytes]) -> str:
    """Survival: median, 1- and 2-year survival, the band named, the curve after each visit, the figure."""
    level = data.get("band_level")
    band = (f"the shaded band is a {100 * float(level):.0f} % band" if level is not None
            else "the shaded band is the ensemble's spread")
    parts = [
        "<h2>Survival</h2>",
        f"<p>Given alive at day {float(data['conditioned_on_day']):g} (the latest of "
        f"{len(data.get('visits') or [])} visits): median survival <b>{_months(data.get('median_days'))}</b> "
        f"since the first visit; 1-year survival <b>{_number(data.get('survival_1y'))}</b>, 2-year survival "
        f"<b>{_number(data.get('survival_2y'))}</b>.</p>",
        f"<p class=small>In the figure {band} (fitted to hold the true probability of being alive a year after a "
        "visit for about that share of held-out phantoms); the solid line is the predicted probability of being "
        "alive.</p>",
    ]
    rows = []
    for visit, curve in zip(data.get("visits") or [], data.get("per_visit") or []):
        rows.append([visit.get("name", ""), f"{float(visit['day']):g}", ", ".join(visit.get("modalities") or []) or "none",
                     ", ".join(visit.get("treatments") or []) or "none", _months(curve.get("median_days")),
                     _number(curve.get("survival_1y")), _number(curve.get("survival_2y"))])
    if rows:
        parts.append(_table(["visit", "day", "images used", "treatments received", "median after this visit",
                             "1-year", "2-year"], rows))
    if figure is not None:
        parts.append(_image(figure, "survival curve with band and median; curve after each visit"))
    parts.append(_warnings(data.get("warnings") or []))
    return "\n".join(parts)


def models_section(models: Sequence[tuple[str, Optional[Mapping]]]) -> str:
    rows = [[role, str(m.get("name")), str(m.get("version") or ""), f"<code>{escape(str(m.get('sha256')))}</code>"]
            for role, m in models if m]
    rows = [[escape(r[0]), escape(r[1]), escape(r[2]), r[3]] for r in rows]
    return "<h2>Models</h2>" + _table(["role", "name", "version", "sha256 of the weights"], rows, raw=True)


def page(title: str, identifiers: Mapping[str, str], sections: Sequence[str], version: str) -> str:
    """The whole HTML document."""
    created = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    ids = _table(["identifier", "as loaded"], [[k, v] for k, v in identifiers.items()]) if identifiers else ""
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n<div class=banner>{escape(NOT_FOR_CLINICAL_USE)}</div>\n{ids}\n"
        + "\n".join(sections)
        + f"\n<p class=small>Written {escape(created)} by BrainTumorAI {escape(version)}. "
        f"{escape(NOT_FOR_CLINICAL_USE)}</p>\n</body></html>\n"
    )
