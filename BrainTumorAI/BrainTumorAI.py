"""BrainTumorAI: tumour type, modality weights, saliency maps and survival in 3D Slicer 5.10+.

Widget wiring only: Module, Widget, a thin Logic and the SelfTest. What each click, poll and
lifecycle event does is ``BrainTumorAILib.panel_controller.PanelController`` (Qt-free, tested
outside Slicer); the work (inputs, child processes, output nodes, visits, report) is
``BrainTumorAILib.Workflow`` and the algorithms are the ``braintumorai`` core. Neither torch nor
monai is imported here: Slicer loads every module at startup, and inference runs in a child
process anyway. Needs Slicer 5.10 or later (Python 3.12; 5.8 ships Python 3.9).
"""

import os
from pathlib import Path
from typing import Annotated

import qt
import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from BrainTumorAIWidgetLib import PanelView

MODALITY_PARAMETERS = {"T1": "t1Volume", "T1C": "t1cVolume", "T2": "t2Volume", "FLAIR": "flairVolume",
                       "CT": "ctVolume", "PET": "petVolume"}
REFERENCE_CHOICES = ["Auto", "T1C", "T1", "FLAIR", "T2", "CT", "PET"]
# The labels BrainTumorAILib.panel_options maps to saliency methods.
SALIENCY_CHOICES = ["Fine (LayerCAM x Grad-CAM)", "Grad-CAM", "Grad-CAM++", "Occlusion (slow)", "None"]
# Button object name in the .ui -> slot.
BUTTON_SLOTS = {"autoAssignButton": "onAutoAssign", "classifyButton": "onClassify", "cancelButton": "onCancel",
                "predictSurvivalButton": "onPredictSurvival", "jumpToHotspotButton": "onJumpToHotspot",
                "refreshVisitsButton": "onRefreshVisits", "exportReportButton": "onExportReport"}
NOT_FOR_CLINICAL_USE = _(
    "BrainTumorAI is research software and is not for clinical use: it is not a medical device "
    "and must not be used for diagnosis or treatment decisions. The bundled model weights are "
    "trained on synthetic brain phantoms only, not on patient data."
)
# The SelfTest runs the full path (Classify, Predict survival) only where torch is installed or
# when this variable is 1; the build factories run the light one (no torch, nothing installed).
FULL_SELF_TEST_VARIABLE = "BRAINTUMORAI_FULL_SELFTEST"


class BrainTumorAI(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Brain Tumor AI")
        self.parent.categories = ["Neuroimaging"]
        self.parent.dependencies = []
        self.parent.contributors = ["BrainTumorAI contributors"]
        self.parent.helpText = (
            _("Classify a brain tumour from any subset of co-registered T1, T1C, T2, FLAIR, CT and PET volumes: "
              "calibrated probabilities with a conformal prediction set, the weight of each modality, and saliency "
              "maps over the slice views. Predict survival reads the patient's studies as visits and plots the "
              "survival curve with its band and the curve after each visit. Export report writes an HTML report. "
              "Sample Data (BrainTumorAI) has phantoms and a four-visit synthetic patient, generated on this "
              "computer. Needs Slicer 5.10 or later and the PyTorch extension.")
            + "<br><br><b>" + NOT_FOR_CLINICAL_USE + "</b>"
            + '<br><br><a href="https://github.com/braintumorai/SlicerBrainTumorAI">' + _("Documentation") + "</a>"
        )
        self.parent.acknowledgementText = _(
            "Built on 3D Slicer, MONAI, PyTorch, SimpleITK, matplotlib and nilearn (MNI152 templates of the "
            "synthetic phantoms).") + " " + NOT_FOR_CLINICAL_USE
        slicer.app.connect("startupCompleted()", registerSampleData)  # SampleData exists once started


def loadSample(name: str = "BrainTumorAI synthetic patient", spacing=None) -> list:
    """Generate a BrainTumorAI sample into the scene, as SampleData's button does (for scripts and
    tutorials: ``SampleData.downloadSample`` cannot run a generator)."""
    from BrainTumorAILib.sample_data import load_sample

    nodes = load_sample(slicer.mrmlScene, name, spacing)
    if slicer.app.layoutManager() is not None:
        slicer.util.resetSliceViews()
    return nodes


class SampleLoader:
    """SampleData ``customDownloader`` that generates the sample; its stable repr keeps a reload from adding it twice."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"SampleLoader({self.name!r})"

    def __call__(self, source=None) -> list:
        with slicer.util.tryWithErrorDisplay(_("Could not make the sample data."), waitCursor=True):
            return loadSample(self.name) if BrainTumorAILogic.ensureRequirements("sample") else []
        return []


def registerSampleData() -> None:
    import SampleData

    from BrainTumorAILib.sample_data import sample_sources

    icon = os.path.join(os.path.dirname(__file__), "Resources", "Icons", "BrainTumorAI.png")
    for source in sample_sources(icon):
        SampleData.SampleDataLogic.registerCustomSampleDataSource(**source,
                                                                  customDownloader=SampleLoader(source["sampleName"]))


@parameterNodeWrapper
class BrainTumorAIParameterNode:
    """What the module remembers in the scene: a volume per modality (any may be empty), the options,
    the overlay settings (0-1), the clinical covariates (-1, -10, 'unknown': not known). Every value
    bound to a slider or spin box has bounds: Slicer refuses an unbounded float on a ctkSliderWidget and
    resets an unbounded int spin box to +-2^31 (Testing/test_slicer_conformance.py holds these rules)."""

    t1Volume: vtkMRMLScalarVolumeNode
    t1cVolume: vtkMRMLScalarVolumeNode
    t2Volume: vtkMRMLScalarVolumeNode
    flairVolume: vtkMRMLScalarVolumeNode
    ctVolume: vtkMRMLScalarVolumeNode
    petVolume: vtkMRMLScalarVolumeNode
    referenceModality: Annotated[str, Choice(REFERENCE_CHOICES)] = "Auto"
    useCPU: bool = False
    registerIfNeeded: bool = False
    modelPath: Path  # Path("") reads as "."; BrainTumorAILib.panel_options takes both for "the bundled model"
    prognosisModelPath: Path
    saliencyMethod: Annotated[str, Choice(SALIENCY_CHOICES)] = "Fine (LayerCAM x Grad-CAM)"
    overlayOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.4
    overlayThreshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.2
    ageYears: Annotated[int, WithinRange(-1, 120)] = -1  # -1: the spin box's "unknown"
    patientSex: Annotated[str, Choice(["unknown", "F", "M"])] = "unknown"
    kps: Annotated[int, WithinRange(-10, 100)] = -10  # -10: the spin box's "unknown"


class BrainTumorAIWidget(ScriptedLoadableModuleWidget, VTKObservationMixin, PanelView):
    """The panel. Every event goes to ``self.controller`` (``BrainTumorAILib.panel_controller``); the
    widget is its view (``BrainTumorAIWidgetLib.PanelView``: it draws what the controller says)."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self.controller = self._parameterNode = self._parameterNodeGuiTag = None
        self._pollTimer = self._classesOf = None

    def setup(self) -> None:
        from BrainTumorAILib.panel_controller import PanelController

        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/BrainTumorAI.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = BrainTumorAILogic()
        self.controller = PanelController(self.logic.workflow, self, self.logic.ensureRequirements, MODALITY_PARAMETERS)
        self.ui.progressBar.hide()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        for button, slot in BUTTON_SLOTS.items():
            getattr(self.ui, button).connect("clicked(bool)", lambda checked, slot=getattr(self, slot): slot())
        self.ui.saliencyMapComboBox.connect("currentIndexChanged(int)", self.onSaliencyMapChanged)
        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(200)
        self._pollTimer.connect("timeout()", self.controller.poll)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Slicer closes or the module reloads: stop the timer and the run, let go of the GUI."""
        self.controller.cleanup()
        self._disconnectParameterNode()
        self._parameterNode = None
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        # As Slicer's template: stop reacting to the parameter node but keep it, so that a run
        # finishing while another module is shown still has its settings.
        self._disconnectParameterNode()

    def onSceneStartClose(self, caller, event) -> None:
        self.controller.scene_closing()
        self.setParameterNode(None)
        self._fillVisits([])

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not any(self.controller.input_volume_nodes().values()):
            self.onAutoAssign()  # save the user a few clicks

    def _disconnectParameterNode(self) -> None:
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParametersModified)
        self._parameterNodeGuiTag = None

    def setParameterNode(self, parameterNode) -> None:
        self._disconnectParameterNode()
        self._parameterNode = parameterNode
        self.controller.set_parameters(parameterNode)
        if parameterNode:
            self._parameterNodeGuiTag = parameterNode.connectGui(self.ui)
            self.addObserver(parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParametersModified)
        self._onParametersModified()

    def _onParametersModified(self, caller=None, event=None) -> None:
        from BrainTumorAILib.panel_options import model_classes, path_text

        self.controller.parameters_modified()
        p = self._parameterNode
        if p and self._classesOf != path_text(p.modelPath):  # the classes to explain come from the model card
            self._classesOf = path_text(p.modelPath)
            self.ui.explainClassComboBox.clear()
            self.ui.explainClassComboBox.addItem(_("Predicted class"), "")
            for name in model_classes(self._classesOf):
                self.ui.explainClassComboBox.addItem(name, name)

    # ------------------------------------------------------------------ buttons

    def _referenceNode(self):
        from BrainTumorAILib.panel_options import reference_node

        return reference_node(self.controller.input_volume_nodes(), self._parameterNode.referenceModality)

    def onAutoAssign(self) -> None:
        from BrainTumorAILib.panel_options import assign_by_name

        self.set_status(assign_by_name(slicer.mrmlScene, self._parameterNode, MODALITY_PARAMETERS).summary())

    def onClassify(self) -> None:
        from BrainTumorAILib.panel_options import classify_options, path_text

        p = self._parameterNode
        if path_text(p.modelPath):
            self.ui.modelPathLineEdit.addCurrentPathToHistory()  # its settingKey keeps only paths added here
        options = classify_options(p, self.ui.explainClassComboBox.currentData)
        self.controller.run("classify", _("Classification"), lambda: self.logic.workflow.start_classification(
            self.controller.input_volume_nodes(), p.referenceModality, options))

    def onPredictSurvival(self) -> None:
        from BrainTumorAILib.panel_options import DAY_COLUMN, apply_visit_cells, clinical, path_text, survival_options

        p, table = self._parameterNode, self.ui.visitsTable
        if path_text(p.prognosisModelPath):
            self.ui.prognosisModelPathLineEdit.addCurrentPathToHistory()

        def start():
            for row, visit in enumerate(self.controller.visits):
                items = [table.item(row, column) for column in range(table.columnCount)]
                ticks = [i.checkState() == qt.Qt.Checked for i in items if i.flags() & qt.Qt.ItemIsUserCheckable]
                apply_visit_cells(visit, ticks[0], items[DAY_COLUMN].text(), ticks[1:])
            self.logic.workflow.start_survival(self.controller.visits, clinical(p), survival_options(p),
                                               self._referenceNode())

        self.controller.run("survival", _("Survival prediction"), start)

    def onCancel(self) -> None:
        self.controller.cancel()

    def onSaliencyMapChanged(self, index: int) -> None:
        if index >= 0:
            with slicer.util.tryWithErrorDisplay(_("Could not show the saliency map."), waitCursor=False):
                self.logic.workflow.show_map(self.ui.saliencyMapComboBox.itemData(index), self.controller.overlay()[0])

    def onJumpToHotspot(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not jump to the hotspot."), waitCursor=False):
            point = self.logic.workflow.jump_to_hotspot(self.ui.saliencyMapComboBox.currentData or "fused")
            self.set_status(_("Slice views centred on the map's maximum (R {r:.1f}, A {a:.1f}, S {s:.1f} mm).").format(
                r=point[0], a=point[1], s=point[2]))

    def onRefreshVisits(self) -> None:
        node = self._referenceNode()
        if node is not None:
            self._fillVisits(self.controller.read_visits(node))

    def _fillVisits(self, visits) -> None:
        from BrainTumorAILib.panel_options import DAY_COLUMN, visit_cells

        self.controller.visits = visits
        self._fillTable(self.ui.visitsTable, [visit_cells(v) for v in visits], editableColumn=DAY_COLUMN)
        self.controller.update_buttons()

    def onExportReport(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder for the report"))
        if folder and self.logic.ensureRequirements("report"):
            with slicer.util.tryWithErrorDisplay(_("Could not write the report."), waitCursor=True):
                files = self.logic.workflow.export_report(folder)
                self.set_status(_("Report written: {report} and {count} PNG figures.").format(
                    report=files["report"], count=len(files) - 1))
                qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(files["report"])))

    def onReload(self) -> None:
        """Reload BrainTumorAILib too, in dependency order, so code changes take effect without restarting
        (Slicer calls ``cleanup()`` on this widget first, which stops a running computation)."""
        import importlib

        import BrainTumorAIWidgetLib
        from BrainTumorAILib.reloading import reload_package

        reload_package()
        importlib.reload(BrainTumorAIWidgetLib.panel_view)
        importlib.reload(BrainTumorAIWidgetLib)
        ScriptedLoadableModuleWidget.onReload(self)


class BrainTumorAILogic(ScriptedLoadableModuleLogic):
    """The parameter node, and ``workflow`` (``BrainTumorAILib.Workflow``) that does the work:

    >>> logic = slicer.util.getModuleLogic("BrainTumorAI"); p = logic.getParameterNode()
    >>> logic.workflow.start_classification({"T1C": p.t1cVolume}, "Auto", classify_options(p))
    >>> run = logic.workflow.wait().result        # ClassificationRun: run.output.data is result.json
    """

    def __init__(self) -> None:
        from BrainTumorAILib import Workflow

        ScriptedLoadableModuleLogic.__init__(self)
        # Work folders in Slicer's temporary folder (Application Settings), where users look for them. The
        # child's interpreter (sys.executable, PythonSlicer) is checked at each launch, so a bad one is
        # one sentence under the button, not a panel that does not open.
        self.workflow = Workflow(slicer.mrmlScene, work_root=os.path.join(slicer.app.temporaryPath, "BrainTumorAI"))

    def getParameterNode(self):
        return BrainTumorAIParameterNode(super().getParameterNode())

    @staticmethod
    def ensureRequirements(action: str, askConfirmation: bool = True) -> bool:
        """Install what ``action`` ('classify', 'survival', 'sample', 'report') still needs after one
        confirmation (``BrainTumorAILib.dependencies.ensure_in_slicer``); False when declined."""
        from BrainTumorAILib.dependencies import ensure_in_slicer

        if not askConfirmation:
            return ensure_in_slicer(action)
        return ensure_in_slicer(action, lambda text: slicer.util.confirmOkCancelDisplay(text, _("Install Python packages")),
                                BrainTumorAILogic.offerPyTorchExtension)

    @staticmethod
    def offerPyTorchExtension() -> bool:
        """Offer the missing PyTorch extension for install from the Extensions server (Slicer restarts)."""
        if not slicer.util.confirmOkCancelDisplay(_(
                "BrainTumorAI needs the PyTorch extension to install PyTorch. Install it from the Extensions server "
                "now? Slicer restarts afterwards; then press the button again."), _("Install the PyTorch extension")):
            return False
        if not slicer.app.extensionsManagerModel().installExtensionFromServer("PyTorch", True):
            raise RuntimeError(_("Could not install the PyTorch extension; install 'PyTorch' from the Extensions "
                                 "Manager and restart Slicer."))
        return True


class BrainTumorAITest(ScriptedLoadableModuleTest):
    """Reload and Test, and the CTest of the build factory. The light test needs no torch and installs
    nothing: it builds the panel, loads the sample when nilearn is there, draws the survival nodes of a
    saved ``survival.json`` and checks them (``BrainTumorAILib.self_test.draw_saved_survival``, which
    pytest runs too). The full path (classify, predict survival with the bundled models) runs only
    where torch is installed or when BRAINTUMORAI_FULL_SELFTEST=1 (it then installs what is missing;
    ``BrainTumorAILib.self_test.full_self_test_wanted``)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from BrainTumorAILib.self_test import FULL_SELF_TEST_VARIABLE, full_self_test_wanted

        self.setUp()
        self.test_PanelAndSavedSurvival()
        if not full_self_test_wanted():
            return self.delayDisplay(f"torch is not installed: the full path is skipped (set {FULL_SELF_TEST_VARIABLE}=1)")
        self.setUp()
        self.test_ClassifyAndPredictSurvival()

    def test_PanelAndSavedSurvival(self):
        from BrainTumorAILib.self_test import SAVED_SURVIVAL, draw_saved_survival

        widget = slicer.util.getModuleWidget("BrainTumorAI")  # setup() and connectGui() as in a user's Slicer
        slicer.util.selectModule("BrainTumorAI")
        self.assertFalse(widget.ui.classifyButton.enabled)  # nothing selected yet
        self.assertFalse(widget.ui.cancelButton.enabled)
        nodes = draw_saved_survival(widget.logic.workflow.scene, SAVED_SURVIVAL, log=self.delayDisplay)
        widget.showSurvivalInLayout(nodes)
        layoutNode = slicer.app.layoutManager().layoutLogic().GetLayoutNode()
        self.assertEqual(layoutNode.GetViewArrangement(), slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
        selection = slicer.app.applicationLogic().GetSelectionNode()
        self.assertEqual(selection.GetActivePlotChartID(), nodes["chart"].chart.GetID())
        slicer.util.selectModule("Data")  # exit() with the node kept, then enter() again
        slicer.util.selectModule("BrainTumorAI")

    def test_ClassifyAndPredictSurvival(self):
        from BrainTumorAILib.panel_options import classify_options, survival_options
        from BrainTumorAILib.self_test import classify_and_predict_survival, full_self_test_wanted

        # CTest runs every test_ method (unittest's loadTestsFromName), not runTest: the guard is here too.
        if not full_self_test_wanted():
            self.skipTest("torch is not installed and BRAINTUMORAI_FULL_SELFTEST is not 1")
        logic = BrainTumorAILogic()
        for action in ("sample", "classify", "survival"):
            self.assertTrue(logic.ensureRequirements(action, askConfirmation=False))
        parameters = logic.getParameterNode()
        classify_and_predict_survival(logic.workflow, classify_options(parameters), survival_options(parameters),
                                      log=self.delayDisplay, idle=slicer.app.processEvents)
