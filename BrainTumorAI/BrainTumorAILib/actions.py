"""Background work behind the Classify and Predict survival buttons.

Work functions take a ``TaskContext`` first so they run in ``BackgroundTask``;
they touch no MRML (inputs are collected as SimpleITK images beforehand) and
return plain data that the GUI thread turns into nodes.

Classify runs ``classification_task.run_classification``. Until the survival
model arrives, Predict survival runs ``check_inputs``: the core's
co-registration check and resampling onto the reference, so the user learns
early whether the study can be used at all.
"""

from __future__ import annotations

import dataclasses

from .background import TaskContext
from .inputs import CollectedInputs


@dataclasses.dataclass
class InputCheck:
    """Outcome of ``check_inputs``.

    Attributes:
        reference: reference modality.
        status: modality -> 'yes' (same grid) | 'resampled' | 'registered'.
        overlap: modality -> share of its content overlapping the reference (0-1).
        names: modality -> node name.
    """

    reference: str
    status: dict[str, str]
    overlap: dict[str, float]
    names: dict[str, str]

    def summary(self) -> str:
        """One line for the status label."""
        parts = []
        for modality, status in self.status.items():
            label = "reference" if modality == self.reference else {
                "yes": "same grid", "resampled": "resampled onto the reference",
                "registered": "registered to the reference",
            }.get(status, status)
            parts.append(f"{modality} ({self.names.get(modality, modality)}): {label}")
        return "; ".join(parts) + "."


def check_inputs(context: TaskContext, collected: CollectedInputs, register: bool = False) -> InputCheck:
    """Check that the collected volumes share physical space and bring them onto
    the reference grid (DESIGN.md imaging contract 1-2).

    Raises the core's InputError / GeometryError, whose message the GUI shows.
    """
    from braintumorai.study import align  # core import kept out of module load

    context.report(0.05, "Checking the input volumes")
    study = collected.to_study()
    context.report(0.3, "Checking co-registration with the reference")
    aligned = align(study, collected.reference, register=register)
    context.report(1.0, "Inputs ready")
    return InputCheck(
        reference=aligned.reference,
        status=dict(aligned.status),
        overlap={m: float(v) for m, v in aligned.overlap.items()},
        names=dict(collected.names),
    )
