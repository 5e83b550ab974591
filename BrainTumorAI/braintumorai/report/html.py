"""The report as one self-contained HTML page: every figure inlined as a base64 PNG,
styles inline, no script, nothing fetched, so it opens the same anywhere and can be
archived or mailed as one file."""

from __future__ import annotations

import base64
import datetime as _dt
from html import escape
from typing import Mapping, Optional, Sequence

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
    classes = list(data["classes"])
    order = sorted(classes, key=lambda c: -float(data["probabilities"][c]))
    rows = [[f'<span class="in-set">{escape(c)}</span>' if c in members else escape(c),
             f"{float(data['probabilities'][c]):.3f}", "yes" if c in members else ""] for c in order]
    coverage = data.get("coverage")
    parts = [
        "<h2>Tumour type</h2>",
        f"<p>Predicted: <b>{escape(str(data['predicted']))}</b>"
        f" (probability {float(data['probabilities'][data['predicted']]):.3f}); uncertainty "
        f"{_number(data.get('uncertainty'))} (normalised entropy, 0 = certain, 1 = uniform).</p>",
        f"<p>Prediction set{f' at {100 * coverage:.0f} % coverage' if coverage is not None else ''}: "
        f"<b>{escape(', '.join(data.get('prediction_set') or []) or 'empty')}</b></p>",
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
        verdict = "far from the training data: read the answer with doubt" if flag else "within the training data's range"
        parts.append(f"<p>Out-of-distribution score: {_number(data['ood_score'], 3)} ({verdict}).</p>")
        if flag:
            from ..ood import OOD_ADVICE

            parts.append(f"<p><b>{escape(OOD_ADVICE)}</b></p>")
    maps = [name for name in figures if name.startswith("saliency_")]
    if maps:
        method, target = data.get("saliency_method"), data.get("saliency_class")
        parts.append(f"<h3>Saliency ({escape(str(method))}, class {escape(str(target))})</h3>")
        parts.append(f"<p class=small>Reference volume: {escape(str(data.get('reference')))}. Slices through each "
                     "map's peak (cyan cross); the map in red to yellow at 40 % opacity where it exceeds 0.2.</p>")
        parts += [_image(figures[name], name.replace("_", " ")) for name in maps]
    return "\n".join(parts)


def survival_section(data: Mapping, figure: Optional[bytes]) -> str:
    """Survival: median, 1- and 2-year survival, risk, the curve after each visit, the figure."""
    parts = [
        "<h2>Survival</h2>",
        f"<p>Given alive at day {float(data['conditioned_on_day']):g} (the latest of "
        f"{len(data.get('visits') or [])} visits): median survival <b>{_months(data.get('median_days'))}</b> "
        f"since the first visit; 1-year survival <b>{_number(data.get('survival_1y'))}</b>, 2-year survival "
        f"<b>{_number(data.get('survival_2y'))}</b>; risk score {_number(data.get('risk'), 3)}.</p>",
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
