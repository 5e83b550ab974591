"""What the module's panel does, without Qt: the radiologist's path as one object.

    workflow = Workflow(scene)
    workflow.start_classification({"T1C": t1c, "FLAIR": flair}, "Auto", ClassifyOptions())
    status = workflow.poll()                  # from a QTimer; when done: nodes are in the scene
    workflow.jump_to_hotspot()                # slice views centred on the saliency peak
    patient, visits = workflow.patient_visits(t1c)
    workflow.start_survival(visits, {"age": 61, "sex": "F", "kps": None}, SurvivalOptions(), t1c)
    status = workflow.wait()                  # scripts and tests: block until the run ends
    workflow.export_report("report/")

The widget maps its controls onto these calls; the SelfTest and the pytest suite drive the
same object on a real MRML scene. One run at a time; each runs the command line in a
child process (``process_task``) and its work folder is removed once the results are read.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Callable, Mapping, Optional

from braintumorai.errors import InputError

from .classification_task import (
    ClassificationOutput,
    ClassifyOptions,
    classification_result_nodes,
    show_saliency_map,
    start_classification,
)
from .inputs import CollectedInputs, collect_inputs
from .process_task import CommandTask, TaskStatus, python_executable
from .report_export import export_report
from .slice_views import jump_to_hotspot, set_foreground_opacity, set_saliency_threshold
from .study_hierarchy import find_study_item
from .survival_nodes import survival_result_nodes
from .survival_task import SurvivalOptions, start_survival
from .visits import StudyVisit, patient_visits, planned_visits, visit_of_study


@dataclasses.dataclass
class ClassificationRun:
    """The last finished Classify: what the command wrote, its inputs and its nodes."""

    output: ClassificationOutput
    inputs: CollectedInputs
    nodes: dict
    elapsed_s: float


@dataclasses.dataclass
class SurvivalRun:
    """The last finished Predict survival: survival.json's dict, the visits used, the nodes."""

    data: dict
    visits: list
    nodes: dict
    node_of_patient: object
    elapsed_s: float


class Workflow:
    """Classify, Predict survival, the overlay controls and the report on one scene.

    Args:
        scene: the MRML scene.
        work_root: where the runs' work folders go (default <temp>/BrainTumorAI; the module passes
            Slicer's temporary folder).
        python: the interpreter of the child processes (default: this one; Slicer's
            ``PythonSlicer`` inside Slicer).
    """

    def __init__(self, scene, work_root: Optional[str] = None, python: Optional[str] = None) -> None:
        self.scene = scene
        self.work_root = work_root
        self.python = python
        self.task: Optional[CommandTask] = None
        self.kind: Optional[str] = None
        self.classification: Optional[ClassificationRun] = None
        self.survival: Optional[SurvivalRun] = None

    @property
    def busy(self) -> bool:
        return self.task is not None

    def _check_idle(self) -> None:
        if self.task is not None:
            raise InputError("A computation is running; wait for it or press Cancel.")

    # ------------------------------------------------------------------ runs

    def start_classification(self, volume_nodes: Mapping[str, object], reference: Optional[str],
                             options: ClassifyOptions) -> CommandTask:
        """Copy the selected volumes and start Classify (see ``start_classification``)."""
        self._check_idle()
        python = python_executable(self.python)  # checked before any file is written
        collected = collect_inputs(volume_nodes, reference)
        self.task = start_classification(collected, options, self.work_root, python)
        self.kind = "classification"
        return self.task

    def patient_visits(self, node, selected: Optional[Mapping[str, object]] = None) -> tuple[int, list[StudyVisit]]:
        """``(patient item, visits table rows)`` of the patient ``node`` belongs to."""
        return patient_visits(self.scene, node, selected)

    def start_survival(self, visits: list[StudyVisit], clinical: Mapping, options: SurvivalOptions,
                       node_of_patient=None) -> CommandTask:
        """Start Predict survival on the ticked ``visits`` (rows of the visits table); the
        outputs go into the results folder of ``node_of_patient``'s patient (default: that of
        the first visit's first volume)."""
        self._check_idle()
        planned = planned_visits(visits)
        node_of_patient = node_of_patient or next((n for v in planned for n in v.volumes.values()), None)
        if node_of_patient is None:
            raise InputError("None of the ticked visits has a volume to place the results by; select the patient's "
                             "reference volume and read the visits again.")
        self.task = start_survival(planned, clinical, options, self.work_root, python_executable(self.python))
        self.task.node_of_patient = node_of_patient
        self.kind = "survival"
        return self.task

    def poll(self) -> TaskStatus:
        """The running task's state; when it has just ended well its nodes are made here
        (the GUI thread) and ``status.result`` is the new ``ClassificationRun`` / ``SurvivalRun``."""
        if self.task is None:
            return TaskStatus("done", 1.0, "Nothing is running")
        status = self.task.poll()
        if status.state == "running":
            return status
        task, kind = self.task, self.kind
        self.task = self.kind = None
        try:
            if status.state == "done":
                status.result = self._finish(kind, task, status.result)
        except Exception as error:  # the nodes could not be made: a failure like any other
            status = TaskStatus("failed", 1.0, str(error), error=error, details=traceback.format_exc())
        finally:
            task.remove_work_dir()
        return status

    def _finish(self, kind: str, task: CommandTask, output):
        if kind == "classification":
            nodes = classification_result_nodes(self.scene, output, task.inputs)
            self.classification = ClassificationRun(output, task.inputs, nodes, task.elapsed_s)
            return self.classification
        nodes = survival_result_nodes(self.scene, output.data, task.node_of_patient)
        self.survival = SurvivalRun(output.data, task.visits, nodes, task.node_of_patient, task.elapsed_s)
        return self.survival

    def wait(self, timeout: Optional[float] = None, idle: Optional[Callable[[], None]] = None) -> TaskStatus:
        """Poll until the run ends (scripts, tests, the SelfTest); ``idle`` runs between polls
        (``slicer.app.processEvents`` keeps Slicer's window alive)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.poll()
            if status.state != "running":
                return status
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
            if idle is not None:
                idle()
            time.sleep(0.1)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def close(self) -> None:
        """Stop a running task and forget the results (scene closed, module cleaned up)."""
        if self.task is not None:
            self.task.cancel()
            self.task.remove_work_dir()
        self.task = self.kind = self.classification = self.survival = None

    # ------------------------------------------------------------------ overlay

    def saliency_nodes(self) -> dict:
        """Map name -> overlay node of the last Classify (those still in the scene)."""
        if self.classification is None:
            return {}
        return {name: node for name, node in self.classification.nodes["saliency"].items()
                if self.scene.IsNodePresent(node)}

    def show_map(self, name: str, opacity: float):
        """Make one map of the last Classify the slice views' foreground."""
        node = self.saliency_nodes().get(name)
        if node is None:
            raise InputError(f"There is no saliency map '{name}' in the scene; press Classify again.")
        reference = self.classification.nodes["reference"]
        show_saliency_map(self.scene, node, reference if self.scene.IsNodePresent(reference) else None, opacity)
        return node

    def jump_to_hotspot(self, name: str = "fused"):
        """Centre the slice views on the map's maximum; returns the RAS point (mm)."""
        node = self.saliency_nodes().get(name)
        if node is None:
            raise InputError("There is no saliency map to jump to; press Classify first.")
        return jump_to_hotspot(self.scene, node)

    def set_overlay(self, opacity: float, threshold: float) -> None:
        """Foreground opacity (0-1) of the slice views and the maps' threshold (0-1 of their range)."""
        set_foreground_opacity(self.scene, opacity)
        for node in self.saliency_nodes().values():
            set_saliency_threshold(node, threshold)

    # ------------------------------------------------------------------ report

    def export_report(self, out_dir) -> dict:
        """Write the report of the last Classify and Predict survival into ``out_dir``."""
        run = self.classification
        reference = run.nodes["reference"] if run is not None else (self.survival.node_of_patient if self.survival else None)
        lesion = None
        if run is not None and find_study_item(self.scene, reference):
            lesion = visit_of_study(self.scene, find_study_item(self.scene, reference), {}).segmentation
        return export_report(self.scene, out_dir, classification=run.output if run else None,
                             collected=run.inputs if run else None,
                             survival=self.survival.data if self.survival else None,
                             reference_node=reference, lesion_node=lesion)
