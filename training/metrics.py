"""Classification metrics with bootstrap intervals, and Markdown tables for the model card.

Definitions (stated again in every report dict, so a reader of the JSON needs no code):

- accuracy: share of cases whose argmax class is the true class.
- balanced accuracy: mean sensitivity (recall) over the classes present in the labels.
- sensitivity of class c: TP / (TP + FN); specificity: TN / (TN + FP), one-vs-rest.
- macro AUC: one-vs-rest ROC AUC of each class (``sklearn.metrics.roc_auc_score``),
  averaged over the classes present in the labels (a class with no case has no ROC).
- ECE: top-label expected calibration error, 15 equal-width bins on the maximum
  probability, sum over bins of (cases in bin / N) * |accuracy - mean confidence|.
- Brier: multiclass Brier score, mean over cases of sum over classes of
  (p - one-hot)^2; 0 is perfect, 2 the worst possible.
- 95 % intervals: percentile bootstrap (2.5th and 97.5th percentiles) resampling cases
  with replacement, seeded.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from braintumorai.errors import InputError

ECE_BINS = 15
BRIER_DEFINITION = "mean over cases of the sum over classes of (p - onehot)^2; 0 = perfect, 2 = worst"
ECE_DEFINITION = (
    "top-label ECE, 15 equal-width bins on the maximum probability: "
    "sum over bins of (n_bin / N) * |accuracy_bin - mean confidence_bin|"
)
BOOTSTRAP_METRICS = ("accuracy", "balanced_accuracy", "auc_macro_ovr", "ece", "brier")


# --------------------------------------------------------------------------- checks


def _check_inputs(labels, probabilities, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise InputError(f"probabilities have shape {p.shape}; pass an (N, K) array with N >= 1 and K >= 2.")
    if n_classes is not None and p.shape[1] != n_classes:
        raise InputError(f"probabilities have {p.shape[1]} columns but {n_classes} class names were given.")
    if not np.all(np.isfinite(p)) or np.any(p < -1e-6) or np.any(p > 1 + 1e-6):
        raise InputError("probabilities must be finite and in [0, 1]; pass softmax outputs, not logits.")
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != p.shape[0]:
        raise InputError(f"labels have shape {y.shape}; pass one integer class index per case ({p.shape[0]},).")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)):
            raise InputError("labels must be integer class indices (0..K-1), not names.")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise InputError(f"labels must lie in 0..{p.shape[1] - 1}, one per column of probabilities.")
    return y, np.clip(p, 0.0, 1.0)


# --------------------------------------------------------------------------- metrics


def confusion_matrix(labels, predicted, n_classes: int) -> np.ndarray:
    """(K, K) integer counts: rows = true class, columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def expected_calibration_error(labels, probabilities, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE with ``n_bins`` equal-width bins (lo, hi] on the maximum probability."""
    y, p = _check_inputs(labels, probabilities)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    return float(_ece(confidence, correct, _bin_index(confidence, n_bins), n_bins))


def brier_score(labels, probabilities) -> float:
    """Multiclass Brier score: mean over cases of sum over classes of (p - one-hot)^2."""
    y, p = _check_inputs(labels, probabilities)
    return float(np.mean(_per_case_brier(y, p)))


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    # Bin b holds confidences in (b/n, (b+1)/n]; a confidence of exactly 0 goes to bin 0.
    return np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def _ece(confidence, correct, bins, n_bins) -> float:
    n = len(confidence)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, correct, n_bins) - np.bincount(bins, confidence, n_bins))
    # sum_b (n_b / N) |acc_b - conf_b| = sum_b |sum correct - sum confidence| / N
    return float(gap[count > 0].sum() / n)


def _per_case_brier(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return ((p - onehot) ** 2).sum(axis=1)


def _rank_auc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC along the last axis (ties count one half), NaN without both classes.

    Identical to sklearn's ROC AUC; vectorised so the bootstrap stays fast.
    """
    ranks = rankdata(scores, axis=-1)
    n_pos = positive.sum(axis=-1).astype(np.float64)
    n_neg = positive.shape[-1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * positive).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _percentile_interval(values: np.ndarray) -> list[float] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def _bootstrap(y, p, present, n_bootstrap, seed, chunk: int = 100) -> dict[str, list[float] | None]:
    """Percentile 95 % intervals of the five headline metrics, resampling cases.

    Resamples are drawn ``chunk`` at a time from one seeded generator, so memory stays
    at (chunk, N) and the intervals depend only on the data, ``n_bootstrap`` and ``seed``.
    """
    n = p.shape[0]
    rng = np.random.default_rng(seed)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    confidence = p.max(axis=1)
    bins = _bin_index(confidence, ECE_BINS)
    brier = _per_case_brier(y, p)

    values = {name: [] for name in BOOTSTRAP_METRICS}
    for start in range(0, n_bootstrap, chunk):
        index = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))  # (B, N) case indices
        yb, cb = y[index], correct[index]
        values["accuracy"].append(cb.mean(axis=1))
        values["brier"].append(brier[index].mean(axis=1))
        values["ece"].append(np.array([_ece(confidence[i], correct[i], bins[i], ECE_BINS) for i in index]))
        recalls, aucs = [], []
        for c in present:
            is_c = yb == c
            n_c = is_c.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                recalls.append(np.where(n_c > 0, (cb * is_c).sum(axis=1) / n_c, np.nan))
            aucs.append(_rank_auc(p[index, c], is_c))
        with warnings.catch_warnings():
            # A resample may miss a class (NaN recall / AUC): average over the others.
            warnings.simplefilter("ignore", RuntimeWarning)
            values["balanced_accuracy"].append(np.nanmean(np.stack(recalls), axis=0))
            values["auc_macro_ovr"].append(
                np.nanmean(np.stack(aucs), axis=0) if len(present) >= 2 else np.full(len(index), np.nan)
            )
    return {name: _percentile_interval(np.concatenate(values[name])) for name in BOOTSTRAP_METRICS}


def classification_report(
    labels,
    probabilities,
    classes: Sequence[str],
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict:
    """Every classification number of the model card, as a JSON-ready dict.

    Args:
        labels: (N,) integer true classes in 0..K-1.
        probabilities: (N, K) predicted probabilities (calibrated ones for the card).
        classes: K class names, in column order.
        n_bootstrap: bootstrap resamples for the 95 % intervals (0 = no intervals).
        seed: seed of the bootstrap; the same seed gives the same intervals.

    Returns:
        A dict with keys ``n_cases``, ``classes``, ``accuracy``, ``balanced_accuracy``,
        ``auc_macro_ovr``, ``auc_classes`` (names the macro AUC averages over), ``ece``,
        ``brier``, ``per_class`` (name -> ``n``, ``sensitivity``, ``specificity``,
        ``auc``), ``confusion_matrix`` (nested lists, rows true, columns predicted),
        ``ci95`` (metric -> [low, high] or None), ``bootstrap`` (n, seed, method),
        ``definitions`` and ``notes`` (e.g. classes absent from the labels). Undefined
        values (a class without cases has no sensitivity or AUC) are None.
    """
    classes = [str(c) for c in classes]
    y, p = _check_inputs(labels, probabilities, n_classes=len(classes))
    n, k = p.shape
    if int(n_bootstrap) < 0:
        raise InputError(f"n_bootstrap is {n_bootstrap}; pass 0 (no intervals) or a positive count.")
    predicted = p.argmax(axis=1)
    matrix = confusion_matrix(y, predicted, k)
    counts = matrix.sum(axis=1)
    present = [c for c in range(k) if counts[c] > 0]
    absent = [classes[c] for c in range(k) if counts[c] == 0]
    notes = []

    per_class = {}
    for c, name in enumerate(classes):
        tp = matrix[c, c]
        fn = counts[c] - tp
        fp = matrix[:, c].sum() - tp
        tn = n - tp - fn - fp
        auc = None
        if counts[c] > 0 and counts[c] < n:
            auc = float(roc_auc_score(y == c, p[:, c]))
        per_class[name] = {
            "n": int(counts[c]),
            "sensitivity": float(tp / (tp + fn)) if tp + fn > 0 else None,
            "specificity": float(tn / (tn + fp)) if tn + fp > 0 else None,
            "auc": auc,
        }

    auc_classes = [classes[c] for c in present if per_class[classes[c]]["auc"] is not None]
    if len(present) >= 2:
        # Macro one-vs-rest AUC as sklearn's multi_class="ovr", average="macro", but over
        # the classes present (sklearn refuses labels that miss a class).
        auc_macro = float(np.mean([per_class[name]["auc"] for name in auc_classes]))
    else:
        auc_macro = None
        notes.append("macro AUC undefined: fewer than two classes among the labels")
    if absent:
        notes.append(
            "classes absent from the labels (no sensitivity or AUC; balanced accuracy and "
            f"macro AUC average over the {len(present)} classes present): " + ", ".join(absent)
        )

    if n_bootstrap > 0:
        ci95 = _bootstrap(y, p, present, int(n_bootstrap), seed)
    else:
        ci95 = {name: None for name in BOOTSTRAP_METRICS}

    confidence = p.max(axis=1)
    correct = (predicted == y).astype(np.float64)
    return {
        "n_cases": int(n),
        "classes": classes,
        "accuracy": float(correct.mean()),
        "balanced_accuracy": float(np.mean([per_class[classes[c]]["sensitivity"] for c in present])),
        "auc_macro_ovr": auc_macro,
        "auc_classes": auc_classes,
        "ece": _ece(confidence, correct, _bin_index(confidence, ECE_BINS), ECE_BINS),
        "brier": float(np.mean(_per_case_brier(y, p))),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "ci95": ci95,
        "bootstrap": {
            "n_bootstrap": int(n_bootstrap),
            "seed": seed,
            "method": "percentile 2.5-97.5, resampling cases with replacement",
        },
        "definitions": {
            "confusion_matrix": "rows = true class, columns = predicted class, in the order of 'classes'",
            "balanced_accuracy": "mean sensitivity over the classes present in the labels",
            "auc_macro_ovr": "mean one-vs-rest ROC AUC over the classes in 'auc_classes'",
            "ece": ECE_DEFINITION,
            "brier": BRIER_DEFINITION,
        },
        "notes": notes,
    }


# --------------------------------------------------------------------------- Markdown


def _cell(value, float_format: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "n/a" if not np.isfinite(value) else float_format.format(float(value))
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float, np.number)) for v in value
    ):
        return f"{_cell(value[0], float_format)}–{_cell(value[1], float_format)}"
    # A '|' would end the cell; a newline would end the row.
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict], columns, float_format: str = "{:.3f}") -> str:
    """A GitHub-flavoured Markdown table.

    Args:
        rows: one dict per row; a missing key or None prints as ``n/a``.
        columns: the keys to print, in order; each either a key (also the header) or a
            ``(key, header)`` pair.
        float_format: format of floats; a 2-element numeric list or tuple (an
            interval) prints as ``low–high``; booleans print as yes / no.

    Returns:
        The table as text, ending with a newline.
    """
    pairs = [(c, str(c)) if isinstance(c, str) else (c[0], str(c[1])) for c in columns]
    if not pairs:
        raise InputError("markdown_table needs at least one column.")
    lines = [
        "| " + " | ".join(_cell(header, float_format) for _, header in pairs) + " |",
        "|" + "|".join("---" for _ in pairs) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key), float_format) for key, _ in pairs) + " |")
    return "\n".join(lines) + "\n"


def format_report_markdown(report: dict, classes: Sequence[str] | None = None) -> str:
    """The Markdown of one ``classification_report``: headline metrics with their 95 %
    intervals, per-class table, confusion matrix and notes.

    Args:
        report: the dict from ``classification_report``.
        classes: class names to print, in the report's order (default: the report's own).
    """
    classes = [str(c) for c in (classes if classes is not None else report["classes"])]
    if len(classes) != len(report["classes"]):
        raise InputError("classes must name every class of the report, in its order.")
    names = {
        "accuracy": "Accuracy",
        "balanced_accuracy": "Balanced accuracy",
        "auc_macro_ovr": "Macro AUC (one-vs-rest)",
        "ece": "ECE (15 bins, top-label)",
        "brier": "Brier (multiclass)",
    }
    headline = [
        {"metric": label, "value": report[key], "ci": (report.get("ci95") or {}).get(key)}
        for key, label in names.items()
    ]
    parts = [
        f"Cases: {report['n_cases']}",
        "",
        markdown_table(headline, [("metric", "Metric"), ("value", "Value"), ("ci", "95 % CI")]),
    ]
    per_class = [{"class": shown, **report["per_class"][own]} for shown, own in zip(classes, report["classes"])]
    parts.append(
        markdown_table(
            per_class,
            [
                ("class", "Class"),
                ("n", "n"),
                ("sensitivity", "Sensitivity"),
                ("specificity", "Specificity"),
                ("auc", "AUC"),
            ],
        )
    )
    matrix_rows = [
        {"true": f"**{name}**", **{f"c{j}": count for j, count in enumerate(row)}}
        for name, row in zip(classes, report["confusion_matrix"])
    ]
    parts.append("Confusion matrix (rows: true class, columns: predicted class)")
    parts.append("")
    matrix_columns = [("true", "true \\ predicted")] + [(f"c{j}", name) for j, name in enumerate(classes)]
    parts.append(markdown_table(matrix_rows, matrix_columns))
    for note in report.get("notes", []):
        parts.append(f"Note: {note}")
    return "\n".join(parts).rstrip("\n") + "\n"
