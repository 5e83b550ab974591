"""The panel's logic without Qt: what happens on each click, poll and lifecycle event.

The module's widget owns the Qt controls and the timer; it hands every event to a
``PanelController`` and draws what the controller tells its *view* (the widget itself):

    view.set_status(text)                 the status line
    view.set_progress(fraction or None)   0-1, None hides the bar
    view.set_buttons(states)              {"classify": bool, "cancel": bool, ...}
    view.show_classification(run or None) results table, weights, warnings, map list
    view.show_survival(run)               the survival line; chart and table in the layout
    view.show_error(text, details)        an error dialog
    view.start_polling() / stop_polling() the timer that calls ``poll()``
    view.busy()                           a context manager: wait cursor

So the paths that raised in Slicer are plain Python, tested on the slicer-core scene with
real child processes: a run that ends after the user switched modules (the parameter node is
kept on exit, as Slicer's module template does), the scene closed mid-run (the timer stops,
the run is stopped), a reload mid-run (``cleanup()`` stops it), Cancel pressed while packages
install, and a second run while one is running.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable, Mapping, Optional

from .panel_text import TITLES, error_message, finished_text
from .workflow import Workflow

BUTTONS = ("autoAssign", "classify", "cancel", "predictSurvival", "jumpToHotspot", "refreshVisits", "exportReport")
# Overlay settings when no parameter node is at hand (the parameter class's defaults).
DEFAULT_OVERLAY = (0.4, 0.2)


class PanelController:
    """Args:
        workflow: the ``Workflow`` on the module's scene.
        view: the widget (see the module docstring for what it must have).
        ensure_requirements: ``action -> bool``, installs what an action needs after one
            question (the module logic's ``ensureRequirements``); False when declined.
        modality_parameters: modality -> parameter name of its volume ("T1C": "t1cVolume").
    """

    def __init__(self, workflow: Workflow, view, ensure_requirements: Callable[[str], bool],
                 modality_parameters: Mapping[str, str]) -> None:
        self.workflow = workflow
        self.view = view
        self.ensure_requirements = ensure_requirements
        self.modality_parameters = dict(modality_parameters)
        self.parameters = None  # the module's parameter node; kept while the module is not shown
        self.visits: list = []
        self.installing: Optional[str] = None  # the title of the run whose packages install now
        self._cancel_requested = False
        self._overlay_applied: Optional[tuple] = None

    # ------------------------------------------------------------------ state

    def input_volume_nodes(self) -> dict:
        """Modality -> selected volume node (None where empty), in channel order."""
        p = self.parameters
        return {m: (getattr(p, name) if p is not None else None) for m, name in self.modality_parameters.items()}

    @property
    def busy(self) -> bool:
        return self.workflow.busy or self.installing is not None

    def button_states(self) -> dict:
        workflow, busy = self.workflow, self.busy
        has_input = any(self.input_volume_nodes().values())
        return {
            "autoAssign": not busy and self.parameters is not None,
            "classify": has_input and not busy,
            "refreshVisits": has_input and not busy,
            "predictSurvival": bool(self.visits) and not busy,
            "cancel": busy,
            "exportReport": not busy and bool(workflow.classification or workflow.survival),
            "jumpToHotspot": bool(workflow.saliency_nodes()),
        }

    def update_buttons(self) -> None:
        self.view.set_buttons(self.button_states())

    def set_parameters(self, parameters) -> None:
        """The parameter node the panel shows (None: none, the scene is closing)."""
        self.parameters = parameters
        self.update_buttons()

    def overlay(self) -> tuple:
        p = self.parameters
        return (p.overlayOpacity, p.overlayThreshold) if p is not None else DEFAULT_OVERLAY

    def parameters_modified(self) -> None:
        """Buttons follow the inputs; the slice views' overlay changes only when the overlay
        settings did (other parameters leave the user's view opacity alone)."""
        self.update_buttons()
        if self.parameters is not None and self.workflow.saliency_nodes() and self.overlay() != self._overlay_applied:
            self._apply_overlay()

    def _apply_overlay(self) -> None:
        self._overlay_applied = self.overlay()
        self.workflow.set_overlay(*self._overlay_applied)

    def read_visits(self, reference_node) -> list:
        """The visits of ``reference_node``'s patient; age and sex from the patient where the panel
        says 'unknown'."""
        from .panel_options import prefill_clinical
        from .visits import clinical_from_patient

        patient, visits = self.workflow.patient_visits(reference_node, self.input_volume_nodes())
        first = next((v.date for v in visits if v.date), None)
        prefill_clinical(self.parameters, clinical_from_patient(self.workflow.scene, patient, first))
        self.view.set_status(f"{len(visits)} visit(s) of this patient: check days and treatments, then Predict survival.")
        return visits

    # ------------------------------------------------------------------ runs

    def run(self, action: str, title: str, start: Callable[[], object]) -> bool:
        """Install what ``action`` needs, then ``start()`` the run and poll it; False when
        nothing was started (declined, cancelled, failed, or a run is already going)."""
        if self.busy:
            self.view.set_status(f"{self.installing or TITLES.get(self.workflow.kind, 'A computation')} is running; "
                                 "wait for it or press Cancel.")
            return False
        self._cancel_requested = False
        self.installing = title
        self.update_buttons()
        # The first install runs for minutes on Slicer 5.10: say so before it starts.
        self.view.set_status(f"{title}: checking the Python packages it needs (the first time, installing them "
                             "can take a few minutes)...")
        try:
            with self.view.busy():
                ready = self.ensure_requirements(action)
                if ready and not self._cancel_requested:
                    start()
        except Exception as error:
            logging.exception(title)
            self.installing = None
            self.view.set_status(error_message(title, error))
            self.update_buttons()
            self.view.show_error(error_message(title, error), "")
            return False
        self.installing = None
        if self._cancel_requested and self.workflow.busy:
            self.workflow.cancel()  # Cancel came while the run started: stop it, poll sees it end
        elif self._cancel_requested or not ready:
            self.view.set_status(f"{title} was cancelled before it started; packages installed so far stay installed."
                                 if self._cancel_requested else
                                 f"{title} needs Python packages that were not installed; nothing was run.")
            self.update_buttons()
            return False
        self.view.set_progress(0.0)
        self.view.set_status(f"{title}: starting...")
        self.update_buttons()
        self.view.start_polling()
        return True

    def cancel(self) -> None:
        """Stop the run, or, while its packages install, keep it from starting."""
        if self.installing is not None:
            self._cancel_requested = True
            self.view.set_status(f"Cancelling: {self.installing} will not start once the install step ends...")
            return
        if self.workflow.busy:
            self.workflow.cancel()
            self.view.set_status("Cancelling...")

    def poll(self) -> None:
        """From the timer: progress while running; the results (or the error) once ended."""
        kind = self.workflow.kind
        if not self.workflow.busy or kind is None:  # nothing to follow (the scene was closed, a reload)
            self.view.stop_polling()
            self.view.set_progress(None)
            self.update_buttons()
            return
        status = self.workflow.poll()
        if status.state == "running":
            self.view.set_progress(status.fraction)
            self.view.set_status(status.message)
            return
        self.view.stop_polling()
        self.view.set_progress(None)
        text, error = finished_text(TITLES[kind], status)
        self.view.set_status(text)
        if error:
            logging.error(status.details)
            self.view.show_error(error, status.details)
        elif status.state == "done" and kind == "classification":
            self.view.show_classification(status.result)
            self._apply_overlay()
        elif status.state == "done":
            self.view.show_survival(status.result)
        self.update_buttons()

    # ------------------------------------------------------------------ lifecycle

    def scene_closing(self) -> None:
        """The scene is about to close: stop the run (its nodes would land in a closed scene),
        stop the timer, forget the parameter node, the results and the visits."""
        self.view.stop_polling()
        self._cancel_requested = self.installing is not None
        self.workflow.close()
        self.parameters = None
        self.visits = []
        self._overlay_applied = None
        self.view.set_progress(None)
        self.view.show_classification(None)
        self.update_buttons()

    def cleanup(self) -> None:
        """The widget goes away (Slicer closes, Reload): stop the timer and the run, whose work
        folder is deleted once its processes are gone."""
        self.view.stop_polling()
        self._cancel_requested = self.installing is not None
        self.workflow.close()
        self.parameters = None


@contextlib.contextmanager
def no_cursor():
    """``view.busy()`` where there is no cursor to change (scripts, tests)."""
    yield
