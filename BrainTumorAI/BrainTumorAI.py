"""BrainTumorAI: tumour type, modality weights, saliency maps and survival in 3D Slicer.

Widget wiring only: Module, Widget, a thin Logic and the SelfTest. The work (inputs, child
processes, output nodes, visits, report) is ``BrainTumorAILib.Workflow`` and the algorithms
are the ``braintumorai`` core, both tested outside Slicer. Neither torch nor monai is imported
here: Slicer loads every module at startup, and inference runs in a child process anyway.
"""

import logging
import os
from pathlib import Path
from typing import Annotated

import qt
import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

MODALITY_PARAMETERS = {"T1": "t1Volume", "T1C": "t1cVolume", "T2": "t2Volume", "FLAIR": "flairVolume",
                       "CT": "ctVolume", "PET": "petVolume"}
REFERENCE_CHOICES = ["Auto", "T1C", "T1", "FLAIR", "T2", "CT", "PET"]
# The labels BrainTumorAILib.panel_options maps to saliency methods.
SALIENCY_CHOICES = ["Fine (LayerCAM x Grad-CAM)", "Grad-CAM", "Grad-CAM++", "Occlusion (slow)", "None"]
NOT_FOR_CLINICAL_USE = (
    "BrainTumorAI is research software and is not for clinical use: it is not a medical device "
    "and must not be used for diagnosis or treatment decisions. The bundled model weights are "
    "trained on synthetic brain phantoms only, not on patient data."
)


class BrainTumorAI(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Brain Tumor AI"
        self.parent.categories = ["Neuroimaging"]
        self.parent.dependencies = []
        self.parent.contributors = ["BrainTumorAI contributors"]
        self.parent.helpText = (
            "Classify a brain tumour from any subset of co-registered T1, T1C, T2, FLAIR, CT and PET volumes: "
            "calibrated probabilities with a conformal prediction set, the weight of each modality, and saliency "
            "maps over the slice views. Predict survival reads the patient's studies as visits and plots the "
            "survival curve with its band and the curve after each visit. Export report writes an HTML report. "
            "Sample Data (BrainTumorAI) has phantoms and a four-visit synthetic patient, generated on this computer."
            "<br><br><b>" + NOT_FOR_CLINICAL_USE + "</b>"
            '<br><br>See the <a href="https://github.com/braintumorai/SlicerBrainTumorAI">documentation</a>.'
        )
        self.parent.acknowledgementText = (
            "Built on 3D Slicer, MONAI, PyTorch, SimpleITK, matplotlib and nilearn (MNI152 templates of the "
            "synthetic phantoms). " + NOT_FOR_CLINICAL_USE
        )
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
        with slicer.util.tryWithErrorDisplay("Could not make the sample data.", waitCursor=True):
            return loadSample(self.name) if BrainTumorAILogic.ensureRequirements("sample") else []
        return []


def registerSampleData() -> None:
    import SampleData

    from BrainTumorAILib.sample_data import sample_names

    icon = os.path.join(os.path.dirname(__file__), "Resources", "Icons", "BrainTumorAI.png")
    for name in sample_names():
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category="BrainTumorAI", sampleName=name, uris=f"braintumorai-generated:{name}", fileNames=f"{name}.nrrd",
            nodeNames=name, thumbnailFileName=icon, loadFileTypes="VolumeFile", customDownloader=SampleLoader(name))


@parameterNodeWrapper
class BrainTumorAIParameterNode:
    """What the module remembers in the scene: a volume per modality (any may be empty), the options,
    the overlay settings, the clinical covariates (-1, -10, 'unknown': not known)."""

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
    overlayOpacity: float = 0.4
    overlayThreshold: float = 0.2
    ageYears: int = -1
    patientSex: Annotated[str, Choice(["unknown", "F", "M"])] = "unknown"
    kps: int = -10


class BrainTumorAIWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self._parameterNode = self._parameterNodeGuiTag = self._pollTimer = self._classesOf = None
        self._visits = []

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/BrainTumorAI.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = BrainTumorAILogic()
        self.ui.progressBar.hide()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        for name in ("autoAssign", "classify", "cancel", "predictSurvival", "jumpToHotspot", "refreshVisits", "exportReport"):
            slot = getattr(self, "on" + name[0].upper() + name[1:])
            getattr(self.ui, f"{name}Button").connect("clicked(bool)", lambda checked, slot=slot: slot())
        self.ui.saliencyMapComboBox.connect("currentIndexChanged(int)", self.onSaliencyMapChanged)
        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(200)
        self._pollTimer.connect("timeout()", self.onPoll)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.logic.workflow.close()
        self._pollTimer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.logic.workflow.close()
        self.setParameterNode(None)
        self._showClassification(None)
        self._fillVisits([])

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not any(self.logic.inputVolumeNodes(self._parameterNode).values()):
            self.onAutoAssign()  # save the user a few clicks

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParametersModified)
        self._parameterNode = parameterNode
        if parameterNode:
            self._parameterNodeGuiTag = parameterNode.connectGui(self.ui)
            self.addObserver(parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParametersModified)
        self._onParametersModified()

    def _onParametersModified(self, caller=None, event=None) -> None:
        from BrainTumorAILib.panel_options import model_classes, path_text

        self._updateButtons()
        p = self._parameterNode
        if p and self.logic.workflow.saliency_nodes():
            self.logic.workflow.set_overlay(p.overlayOpacity, p.overlayThreshold)
        if p and self._classesOf != path_text(p.modelPath):  # the classes to explain come from the model card
            self._classesOf = path_text(p.modelPath)
            self.ui.explainClassComboBox.clear()
            for name in ["Predicted class"] + model_classes(self._classesOf):
                self.ui.explainClassComboBox.addItem(name, "" if name == "Predicted class" else name)

    def _updateButtons(self) -> None:
        workflow, ui = self.logic.workflow, self.ui
        hasInput = bool(self._parameterNode) and any(self.logic.inputVolumeNodes(self._parameterNode).values())
        ui.classifyButton.enabled = ui.refreshVisitsButton.enabled = hasInput and not workflow.busy
        ui.predictSurvivalButton.enabled = bool(self._visits) and not workflow.busy
        ui.autoAssignButton.enabled = not workflow.busy
        ui.cancelButton.enabled = workflow.busy
        ui.exportReportButton.enabled = not workflow.busy and bool(workflow.classification or workflow.survival)
        ui.jumpToHotspotButton.enabled = bool(workflow.saliency_nodes())

    def _referenceNode(self):
        from BrainTumorAILib.panel_options import reference_node

        return reference_node(self.logic.inputVolumeNodes(self._parameterNode), self._parameterNode.referenceModality)

    def _run(self, action: str, title: str, start) -> None:
        """Install what ``action`` needs, start the run, and poll it from the timer."""
        from BrainTumorAILib import error_message

        try:
            if not self.logic.ensureRequirements(action):
                self.ui.statusLabel.text = f"{title} needs Python packages that were not installed; nothing was run."
                return
            with slicer.util.WaitCursor():
                start()
        except Exception as error:
            logging.exception(title)
            self.ui.statusLabel.text = error_message(title, error)
            return slicer.util.errorDisplay(self.ui.statusLabel.text)
        self.ui.progressBar.value = 0
        self.ui.progressBar.show()
        self.ui.statusLabel.text = f"{title}: starting..."
        self._updateButtons()
        self._pollTimer.start()

    def onAutoAssign(self) -> None:
        from BrainTumorAILib.panel_options import assign_by_name

        self.ui.statusLabel.text = assign_by_name(slicer.mrmlScene, self._parameterNode, MODALITY_PARAMETERS).summary()

    def onClassify(self) -> None:
        from BrainTumorAILib.panel_options import classify_options, path_text

        p = self._parameterNode
        if path_text(p.modelPath):
            self.ui.modelPathLineEdit.addCurrentPathToHistory()  # its settingKey keeps only paths added here
        options = classify_options(p, self.ui.explainClassComboBox.currentData)
        self._run("classify", "Classification", lambda: self.logic.workflow.start_classification(
            self.logic.inputVolumeNodes(p), p.referenceModality, options))

    def onPredictSurvival(self) -> None:
        from BrainTumorAILib.panel_options import DAY_COLUMN, apply_visit_cells, clinical, path_text, survival_options

        p, table = self._parameterNode, self.ui.visitsTable
        if path_text(p.prognosisModelPath):
            self.ui.prognosisModelPathLineEdit.addCurrentPathToHistory()

        def start():
            for row, visit in enumerate(self._visits):
                items = [table.item(row, column) for column in range(table.columnCount)]
                ticks = [i.checkState() == qt.Qt.Checked for i in items if i.flags() & qt.Qt.ItemIsUserCheckable]
                apply_visit_cells(visit, ticks[0], items[DAY_COLUMN].text(), ticks[1:])
            self.logic.workflow.start_survival(self._visits, clinical(p), survival_options(p), self._referenceNode())

        self._run("survival", "Survival prediction", start)

    def onCancel(self) -> None:
        self.logic.workflow.cancel()
        self.ui.statusLabel.text = "Cancelling..."

    def onPoll(self) -> None:
        from BrainTumorAILib.panel_text import TITLES, finished_text, survival_text

        kind = self.logic.workflow.kind
        status = self.logic.workflow.poll()
        self.ui.progressBar.value = int(round(100 * status.fraction))
        if status.state == "running":
            self.ui.statusLabel.text = status.message
            return
        self._pollTimer.stop()
        self.ui.progressBar.hide()
        self.ui.statusLabel.text, error = finished_text(TITLES[kind], status)
        if error:
            logging.error(status.details)
            slicer.util.errorDisplay(error, detailedText=status.details)
        elif status.state == "done" and kind == "classification":
            self._showClassification(status.result)
        elif status.state == "done":
            self.ui.survivalLabel.text = survival_text(status.result.data)
        self._updateButtons()

    @staticmethod
    def _fillTable(table, rows, editableColumn=-1, bold=()) -> None:
        """Rows of ``(text, checked or None)`` cells; checked cells are check boxes."""
        table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, (text, checked) in enumerate(cells):
                item = qt.QTableWidgetItem(text)
                item.setFlags(qt.Qt.ItemIsEnabled | (qt.Qt.ItemIsEditable if column == editableColumn else 0)
                              | (qt.Qt.ItemIsUserCheckable if checked is not None else 0))
                if checked is not None:
                    item.setCheckState(qt.Qt.Checked if checked else qt.Qt.Unchecked)
                if row in bold:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()

    def _showClassification(self, run) -> None:
        from BrainTumorAILib import modality_weights_text, result_table_rows, warnings_text

        data = run.output.data if run else {}
        rows = result_table_rows(data) if run else []
        self._fillTable(self.ui.resultsTable, [[(n, None), (p, None), ("\u2713" if s else "", None)]
                                               for n, p, s in rows], bold={i for i, row in enumerate(rows) if row[2]})
        self.ui.modalityWeightsLabel.text = modality_weights_text(data) if run else ""
        self.ui.warningsLabel.text = warnings_text(data) if run else ""
        combo = self.ui.saliencyMapComboBox
        combo.blockSignals(True)
        combo.clear()
        for name in self.logic.workflow.saliency_nodes():
            combo.addItem("Fused (all modalities)" if name == "fused" else name, name)
        combo.blockSignals(False)
        combo.enabled = combo.count > 0
        if run:
            self.logic.workflow.set_overlay(self._parameterNode.overlayOpacity, self._parameterNode.overlayThreshold)
            if not self._visits:
                self.onRefreshVisits()

    def onSaliencyMapChanged(self, index: int) -> None:
        if index >= 0:
            with slicer.util.tryWithErrorDisplay("Could not show the saliency map.", waitCursor=False):
                self.logic.workflow.show_map(self.ui.saliencyMapComboBox.itemData(index), self._parameterNode.overlayOpacity)

    def onJumpToHotspot(self) -> None:
        with slicer.util.tryWithErrorDisplay("Could not jump to the hotspot.", waitCursor=False):
            point = self.logic.workflow.jump_to_hotspot(self.ui.saliencyMapComboBox.currentData or "fused")
            self.ui.statusLabel.text = "Slice views centred on the map's maximum (R {:.1f}, A {:.1f}, S {:.1f} mm).".format(*point)

    def onRefreshVisits(self) -> None:
        from BrainTumorAILib import clinical_from_patient
        from BrainTumorAILib.panel_options import prefill_clinical

        node = self._referenceNode()
        if node is not None:
            patient, visits = self.logic.workflow.patient_visits(node, self.logic.inputVolumeNodes(self._parameterNode))
            self._fillVisits(visits)
            first = next((v.date for v in visits if v.date), None)
            prefill_clinical(self._parameterNode, clinical_from_patient(slicer.mrmlScene, patient, first))
            self.ui.statusLabel.text = f"{len(visits)} visit(s) of this patient: check days and treatments, then Predict survival."

    def _fillVisits(self, visits) -> None:
        from BrainTumorAILib.panel_options import DAY_COLUMN, visit_cells

        self._visits = visits
        self._fillTable(self.ui.visitsTable, [visit_cells(v) for v in visits], editableColumn=DAY_COLUMN)
        self._updateButtons()

    def onExportReport(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), "Folder for the report")
        if folder and self.logic.ensureRequirements("report"):
            with slicer.util.tryWithErrorDisplay("Could not write the report.", waitCursor=True):
                files = self.logic.workflow.export_report(folder)
                self.ui.statusLabel.text = f"Report written: {files['report']} and {len(files) - 1} PNG figures."
                qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(files["report"])))

    def onReload(self) -> None:
        """Reload BrainTumorAILib too, in dependency order, so code changes take effect without restarting."""
        from BrainTumorAILib.reloading import reload_package

        reload_package()
        ScriptedLoadableModuleWidget.onReload(self)


class BrainTumorAILogic(ScriptedLoadableModuleLogic):
    """The parameter node, and ``workflow`` (``BrainTumorAILib.Workflow``) that does the work:

    >>> logic = slicer.util.getModuleLogic("BrainTumorAI"); p = logic.getParameterNode()
    >>> logic.workflow.start_classification(logic.inputVolumeNodes(p), "Auto", classify_options(p))
    >>> run = logic.workflow.wait().result        # ClassificationRun: run.output.data is result.json
    """

    def __init__(self) -> None:
        from BrainTumorAILib import Workflow

        ScriptedLoadableModuleLogic.__init__(self)
        self.workflow = Workflow(slicer.mrmlScene)

    def getParameterNode(self):
        return BrainTumorAIParameterNode(super().getParameterNode())

    @staticmethod
    def inputVolumeNodes(parameterNode) -> dict:
        """Modality -> selected volume node (None where empty), in channel order."""
        return {m: getattr(parameterNode, name) for m, name in MODALITY_PARAMETERS.items()}

    @staticmethod
    def ensureRequirements(action: str, askConfirmation: bool = True) -> bool:
        """Install what ``action`` ('classify', 'survival', 'sample', 'report') still needs after one
        confirmation (``BrainTumorAILib.dependencies.ensure_requirements``); False when declined."""
        import importlib

        from BrainTumorAILib.dependencies import TORCH_ACTIONS, ensure_requirements

        def optional(module, attribute):
            try:
                return getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError):
                return None

        # No PyTorch extension: ensure_requirements says to install it. pip_ensure: Slicer 5.12+.
        torchLogic = optional("PyTorchUtils", "PyTorchUtilsLogic") if action in TORCH_ACTIONS else None
        confirm = (lambda text: slicer.util.confirmOkCancelDisplay(text, "Install Python packages")) if askConfirmation else None
        return ensure_requirements(os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt"), action,
                                   torchLogic() if torchLogic else None, confirm,
                                   pip_ensure=optional("slicer.packaging", "pip_ensure"), pip_install=slicer.util.pip_install)


class BrainTumorAITest(ScriptedLoadableModuleTest):
    """Runs inside Slicer (Reload and Test) with the bundled models: load the synthetic patient, classify,
    check the outputs, predict survival, check the plot's series (``BrainTumorAILib.self_test``, which
    pytest runs with small models)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_ClassifyAndPredictSurvival()

    def test_ClassifyAndPredictSurvival(self):
        from BrainTumorAILib.panel_options import classify_options, survival_options
        from BrainTumorAILib.self_test import classify_and_predict_survival

        logic = BrainTumorAILogic()
        for action in ("sample", "classify", "survival"):
            self.assertTrue(logic.ensureRequirements(action, askConfirmation=False))
        parameters = logic.getParameterNode()
        classify_and_predict_survival(logic.workflow, classify_options(parameters), survival_options(parameters),
                                      log=self.delayDisplay, idle=slicer.app.processEvents)
