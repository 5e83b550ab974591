"""The panel's lifecycle (BrainTumorAILib.panel_controller), on a real MRML scene with real
child processes: what raised or left the panel wrong in Slicer (issue 16, items 3, 4, 7, 11).

The widget is the controller's view; here a recording view stands in for its Qt controls,
and the parameter node is a plain object holding the defaults of the module's own
``@parameterNodeWrapper`` class (read from BrainTumorAI.py) plus a real scripted-module node.
"""

from __future__ import annotations

import ast
import contextlib
import time
import types

import pytest

from test_slicer_classification import checkpoint, phantom  # noqa: F401 (fixtures: a tiny model, a phantom)
from test_slicer_conformance import MODULE_SCRIPT, module_constants, parameters

slicer = pytest.importorskip("slicer")

from BrainTumorAILib import ClassifyOptions, Workflow, volume_node_from_sitk_image  # noqa: E402
from BrainTumorAILib.panel_controller import BUTTONS, PanelController  # noqa: E402

MODALITY_PARAMETERS = module_constants(ast.parse(MODULE_SCRIPT.read_text()))["MODALITY_PARAMETERS"]


class RecordingView:
    """What the widget draws, recorded."""

    def __init__(self):
        self.status, self.progress, self.buttons, self.errors = "", None, {}, []
        self.polling, self.classification, self.survival, self.busy_entered = False, "never shown", None, 0

    def set_status(self, text):
        self.status = text

    def set_progress(self, fraction):
        self.progress = fraction

    def set_buttons(self, states):
        assert set(states) == set(BUTTONS)
        self.buttons = dict(states)

    def show_error(self, text, details):
        self.errors.append(text)

    def start_polling(self):
        self.polling = True

    def stop_polling(self):
        self.polling = False

    @contextlib.contextmanager
    def busy(self):
        self.busy_entered += 1
        yield

    def show_classification(self, run):
        self.classification = run

    def show_survival(self, run):
        self.survival = run


def parameter_node(scene, **values):
    fields = parameters(MODULE_SCRIPT.read_text())
    p = types.SimpleNamespace(**{name: field["default"] for name, field in fields.items()})
    p.parameterNode = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
    p.__dict__.update(values)
    return p


@pytest.fixture
def scene():
    scene = slicer.vtkMRMLScene()
    for layout_name in ("Red", "Yellow", "Green"):
        scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode").SetLayoutName(layout_name)
    return scene


@pytest.fixture
def panel(scene, tmp_path, phantom):  # noqa: F811
    view = RecordingView()
    controller = PanelController(Workflow(scene, work_root=str(tmp_path / "work")), view, lambda action: True,
                                 MODALITY_PARAMETERS)
    t1c = volume_node_from_sitk_image(scene, phantom["T1C"], "t1c")
    controller.set_parameters(parameter_node(scene, t1cVolume=t1c, overlayOpacity=0.7))
    return controller, view


def classify(controller, model):
    p = controller.parameters
    return controller.run("classify", "Classification", lambda: controller.workflow.start_classification(
        controller.input_volume_nodes(), p.referenceModality, ClassifyOptions(model=model, device="cpu")))


def poll_until_idle(controller, view, timeout_s=180.0):
    deadline = time.monotonic() + timeout_s
    while view.polling and time.monotonic() < deadline:
        controller.poll()
        time.sleep(0.1)
    assert not view.polling, "the run did not end"


def foreground_opacities(scene):
    composites = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    return {round(composites.GetItemAsObject(i).GetForegroundOpacity(), 6) for i in range(composites.GetNumberOfItems())}


def test_a_second_run_is_refused_and_a_run_ending_after_the_module_was_left_shows_its_results(panel, checkpoint):  # noqa: F811
    controller, view = panel
    assert view.buttons["classify"] and not view.buttons["cancel"]
    assert classify(controller, checkpoint)
    task = controller.workflow.task
    assert view.polling and view.buttons["cancel"] and not view.buttons["classify"] and not view.buttons["autoAssign"]
    assert view.busy_entered == 1 and view.status == "Classification: starting..."

    # A second Classify (a double click, a script) while one runs: refused, the first one goes on.
    assert classify(controller, checkpoint) is False
    assert "is running; wait for it or press Cancel" in view.status and controller.workflow.task is task

    # The user switches modules: the widget disconnects its GUI but keeps the parameter node, as
    # Slicer's template does; the run ends meanwhile and its completion reads the overlay settings.
    poll_until_idle(controller, view)
    assert not view.errors, view.errors
    assert view.classification is controller.workflow.classification and view.classification is not None
    assert view.progress is None and not view.polling
    assert view.buttons["classify"] and not view.buttons["cancel"] and view.buttons["exportReport"]
    assert foreground_opacities(controller.workflow.scene) == {0.7}  # the parameter node's, not a default
    assert not task.work_dir.exists()

    # Settings that are not the overlay's leave the user's own view opacity alone.
    composite = controller.workflow.scene.GetFirstNodeByClass("vtkMRMLSliceCompositeNode")
    composite.SetForegroundOpacity(0.9)
    controller.parameters.useCPU = True
    controller.parameters_modified()
    assert composite.GetForegroundOpacity() == pytest.approx(0.9)
    controller.parameters.overlayOpacity = 0.5
    controller.parameters_modified()
    assert foreground_opacities(controller.workflow.scene) == {0.5}


def test_closing_the_scene_mid_run_stops_the_child_and_the_timer_and_the_next_poll_does_not_raise(panel, checkpoint):  # noqa: F811,E501
    controller, view = panel
    assert classify(controller, checkpoint)
    task = controller.workflow.task
    controller.scene_closing()
    assert not view.polling and view.classification is None and controller.parameters is None
    assert task.process.poll() is not None and not task.group_alive() and not task.work_dir.exists()
    controller.poll()  # a timer tick already queued: no KeyError, nothing shown
    assert not view.errors and not controller.busy
    assert not view.buttons["cancel"] and not view.buttons["classify"]  # no parameter node until the scene is back


def test_reload_mid_run_stops_the_run_and_a_new_panel_starts_clean(panel, checkpoint, scene, tmp_path):  # noqa: F811
    controller, view = panel
    assert classify(controller, checkpoint)
    task = controller.workflow.task
    controller.cleanup()  # Slicer calls the old widget's cleanup() on Reload
    assert not view.polling and not task.group_alive() and not task.work_dir.exists()

    new_view = RecordingView()
    fresh = PanelController(Workflow(scene, work_root=str(tmp_path / "work")), new_view, lambda action: True,
                            MODALITY_PARAMETERS)
    fresh.set_parameters(parameter_node(scene, t1cVolume=scene.GetFirstNodeByName("t1c")))
    assert new_view.buttons["classify"] and not new_view.buttons["cancel"] and not fresh.busy


def test_cancel_while_packages_install_keeps_the_run_from_starting(panel):
    controller, view = panel
    started, during = [], {}

    def ensure(action):  # pip runs; Slicer 5.10's pip_install processes events, so Cancel can be pressed
        during.update(view.buttons, status=view.status)
        controller.cancel()
        return True

    controller.ensure_requirements = ensure
    assert controller.run("classify", "Classification", lambda: started.append(1)) is False
    assert during["cancel"] and not during["classify"]  # Cancel is live during the install
    assert "checking the Python packages" in during["status"]  # said before the install starts
    assert started == [] and not controller.busy and not view.polling
    assert "cancelled before it started" in view.status
    assert view.buttons["classify"] and not view.buttons["cancel"]

    controller.ensure_requirements = lambda action: False  # declined
    assert controller.run("classify", "Classification", lambda: started.append(1)) is False
    assert started == [] and "not installed; nothing was run" in view.status

    def failing(action):
        raise RuntimeError("pip failed")

    controller.ensure_requirements = failing
    assert controller.run("classify", "Classification", lambda: started.append(1)) is False
    assert view.errors and not controller.busy and view.buttons["classify"]
