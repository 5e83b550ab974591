"""What the panel writes: plain text from result.json and survival.json.

Everything reads the JSON dicts the command line writes, so a key another version adds
(``warnings``, ``ood_score``, ``ood_flag``) shows up when it is there and is simply
absent when it is not.
"""

from __future__ import annotations

from typing import Mapping, Optional

from braintumorai.errors import BrainTumorAIError

DAYS_PER_MONTH = 365.25 / 12
# What the panel calls each kind of run.
TITLES = {"classification": "Classification", "survival": "Survival prediction"}


def result_rows(data: Mapping) -> list[tuple[str, float, bool]]:
    """``(class, probability, in prediction set)`` per class, most probable first."""
    members = set(data.get("prediction_set") or [])
    rows = [(c, float(data["probabilities"][c]), c in members) for c in data["classes"]]
    return sorted(rows, key=lambda row: -row[1])


def result_table_rows(data: Mapping) -> list[tuple[str, str, bool]]:
    """:func:`result_rows` as the panel's table shows them: the class as the report spells it,
    the probability never rounded to certainty ("> 0.999")."""
    from braintumorai.report.wording import class_name, probability_text

    return [(class_name(c), probability_text(p), keep) for c, p, keep in result_rows(data)]


def modality_weights_text(data: Mapping) -> str:
    """'Modality weights: T1C 48 %, FLAIR 31 %, T2 21 %.' (largest first)."""
    weights = data.get("modality_weights") or {}
    if not weights:
        return ""
    ordered = sorted(weights.items(), key=lambda item: -item[1])
    return "Modality weights: " + ", ".join(f"{m} {100 * w:.0f} %" for m, w in ordered) + "."


def ood_text(data: Mapping) -> str:
    """The out-of-distribution line ("" when the result has no score)."""
    score = data.get("ood_score")
    if score is None:
        return ""
    if data.get("ood_flag"):
        from braintumorai.ood import OOD_ADVICE

        return f"Out of distribution (score {float(score):.2f}). {OOD_ADVICE}"
    return f"Out-of-distribution score {float(score):.2f}: within the range of the training data."


def warnings_text(data: Mapping) -> str:
    """The result's warnings, its out-of-distribution line and the model's caveat (a model
    trained on phantoms), one per line ("" when none)."""
    from braintumorai.report.wording import model_caveat

    lines = [f"Warning: {sentence}" for sentence in data.get("warnings") or []]
    ood = ood_text(data)
    if ood and data.get("ood_flag"):
        lines.insert(0, "Warning: " + ood)
    elif ood:
        lines.append(ood)
    if model_caveat(data.get("model")):
        lines.append("Note: " + model_caveat(data.get("model")))
    return "\n".join(lines)


def result_summary(data: Mapping, elapsed_s: Optional[float] = None) -> str:
    """One line for the status label: prediction, prediction set, uncertainty, time."""
    from braintumorai.report.wording import class_name, probability_text

    probability = float(data["probabilities"][data["predicted"]])
    text = f"Predicted {class_name(data['predicted'])} (probability {probability_text(probability, 2)})"
    if data.get("coverage") is not None:
        members = [class_name(c) for c, _, keep in result_rows(data) if keep]
        text += f"; {100 * float(data['coverage']):.0f} % prediction set: {', '.join(members)}"
    if data.get("uncertainty") is not None:
        text += f"; uncertainty {probability_text(data['uncertainty'], 2)}"
    if elapsed_s is not None:
        text += f"; {elapsed_s:.1f} s"
    count = len(data.get("warnings") or []) + (1 if data.get("ood_flag") else 0)
    if count:
        text += f"; {count} warning{'s' if count > 1 else ''} about the input, read below"
    return text + ". Research use only, not for clinical use."


def months_text(days: Optional[float]) -> str:
    return "not reached" if days is None else f"{days / DAYS_PER_MONTH:.1f} months"


def survival_text(data: Mapping) -> str:
    """Median and 1-/2-year survival for the panel."""
    def share(value):
        return "n/a" if value is None else f"{100 * float(value):.0f} %"

    return (f"Median survival: {months_text(data.get('median_days'))} since the first visit; "
            f"1-year survival {share(data.get('survival_1y'))}, 2-year survival {share(data.get('survival_2y'))} "
            f"(given alive at day {float(data['conditioned_on_day']):g}, the latest of {len(data.get('visits') or [])} "
            "visits). Research use only, not for clinical use.")


def error_message(title: str, error: BaseException) -> str:
    """What the user reads when a run fails: the core's one sentence as it is,
    anything unexpected named as such."""
    if isinstance(error, BrainTumorAIError):
        return str(error)
    if isinstance(error, MemoryError):
        return f"{title} ran out of memory; close other programs or use smaller volumes."
    return (
        f"{title} failed unexpectedly ({type(error).__name__}: {error}); "
        "see the Python console for details and report it."
    )


def finished_text(title: str, status) -> tuple[str, str]:
    """``(status line, error message or "")`` of a run that has ended (a ``TaskStatus``)."""
    if status.state == "cancelled":
        return f"{title} cancelled; nothing was added to the scene.", ""
    if status.state == "failed":
        message = error_message(title, status.error)
        return message, message
    if hasattr(status.result, "output"):
        return result_summary(status.result.output.data, status.result.elapsed_s), ""
    notes = " ".join(f"Note: {w}" for w in status.result.data.get("warnings") or [])
    return f"{title} done in {status.result.elapsed_s:.1f} s. {notes}".strip(), ""
