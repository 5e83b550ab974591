"""BrainTumorAI: tumour type, modality weights, saliency maps and survival in 3D Slicer.

This file is the GUI shell only: Module, Widget, a thin Logic and the SelfTest.
Geometry, output nodes and background work live in ``BrainTumorAILib`` (Qt-free);
the algorithms live in the ``braintumorai`` core. Neither torch nor monai nor
lifelines is imported here at load time: Slicer loads every module at startup,
and those packages may not be installed yet.
"""

import logging
import os
import sys
from typing import Annotated

import qt
import vtk

import slicer
from slicer import vtkMRMLPlotChartNode, vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

# Modality -> parameter name of its volume, in channel order.
MODALITY_PARAMETERS = {
    "T1": "t1Volume",
    "T1C": "t1cVolume",
    "T2": "t2Volume",
    "FLAIR": "flairVolume",
    "CT": "ctVolume",
    "PET": "petVolume",
}
REFERENCE_CHOICES = ["Auto", "T1C", "T1", "FLAIR", "T2", "CT", "PET"]
# Label shown in the GUI -> method name of braintumorai.saliency.
SALIENCY_METHODS = {
    "Fine (LayerCAM x Grad-CAM)": "layercam",
    "Grad-CAM": "gradcam",
    "Grad-CAM++": "gradcam++",
    "Occlusion (slow)": "occlusion",
    "None": None,
}
MINIMUM_TORCH_VERSION = "2.2"
# SampleData entries: (name shown, phantom tumour type, seed). Generated locally, never downloaded.
SAMPLE_DATA_CATEGORY = "BrainTumorAI"
PHANTOM_SAMPLES = (
    ("BrainTumorAI glioblastoma phantom", "glioblastoma", 9_000_001),
    ("BrainTumorAI meningioma phantom", "meningioma", 9_000_002),
    ("BrainTumorAI metastasis phantom", "metastasis", 9_000_003),
    ("BrainTumorAI lower grade glioma phantom", "lower_grade_glioma", 9_000_004),
)
PHANTOM_SPACING_MM = 1.0

NOT_FOR_CLINICAL_USE = (
    "BrainTumorAI is research software and is not for clinical use: it is not a medical device "
    "and must not be used for diagnosis or treatment decisions. The bundled model weights are "
    "trained on synthetic brain phantoms only, not on patient data."
)


#
# BrainTumorAI
#


class BrainTumorAI(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Brain Tumor AI"
        self.parent.categories = ["Neuroimaging"]
        self.parent.dependencies = []
        self.parent.contributors = ["BrainTumorAI contributors"]
        self.parent.helpText = (
            "Classify a brain tumour from any subset of co-registered T1, T1C, T2, FLAIR, CT and PET "
            "volumes: calibrated class probabilities, the weight each modality had and saliency maps "
            "overlaid on the slice views. Predict survival draws a survival curve from the patient's "
            "studies. Select the volumes (or press Auto-assign), then press Classify. No data at hand? "
            "Sample Data has synthetic phantom studies (category BrainTumorAI), generated on this computer."
            "<br><br><b>" + NOT_FOR_CLINICAL_USE + "</b>"
            '<br><br>See the <a href="https://github.com/braintumorai/SlicerBrainTumorAI">documentation</a>.'
        )
        self.parent.acknowledgementText = (
            "Built on 3D Slicer, MONAI, PyTorch, SimpleITK, nilearn (MNI152 templates of the synthetic "
            "phantoms) and lifelines. " + NOT_FOR_CLINICAL_USE
        )
        # SampleData exists once the application has started.
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data: synthetic phantom studies, generated on this computer
#


def hasApplication() -> bool:
    """False where only MRML is loaded (slicer-core under pytest): no GUI calls then."""
    return getattr(slicer, "app", None) is not None


class PhantomSampleLoader:
    """SampleData ``customDownloader``: generates the phantom instead of downloading.

    SampleData calls it with the data source when its button is pressed; it adds
    one volume per modality ("Phantom glioblastoma T1C", ...) and shows the T1C.
    The repr is stable so that registering twice (module reload) adds no duplicate.
    """

    def __init__(self, label: str, seed: int, spacing: float = PHANTOM_SPACING_MM) -> None:
        self.label, self.seed, self.spacing = label, int(seed), float(spacing)

    def __repr__(self) -> str:
        return f"PhantomSampleLoader({self.label!r}, {self.seed})"

    def __call__(self, source=None) -> list:
        from BrainTumorAILib import error_message, load_phantom_study, read_requirements, show_as_background

        logic = BrainTumorAILogic()
        try:
            # The phantoms are drawn on nilearn's MNI152 templates; nothing else is needed.
            needed = [r for r in read_requirements(logic.requirementsPath()) if r.lower().startswith("nilearn")]
            if not logic.installPackages(needed):
                return []
            with slicer.util.WaitCursor(show=hasApplication()):
                nodes = load_phantom_study(slicer.mrmlScene, self.label, self.seed, self.spacing)
        except Exception as error:
            logging.exception("BrainTumorAI phantom")
            slicer.util.errorDisplay(error_message("Making the phantom", error))
            return []
        reference = nodes["T1C"] if "T1C" in nodes else next(iter(nodes.values()))
        show_as_background(slicer.mrmlScene, reference)
        if hasApplication() and slicer.app.layoutManager() is not None:
            slicer.util.resetSliceViews()
        return list(nodes.values())


def registerSampleData() -> None:
    """Add the phantom studies to the SampleData module (category BrainTumorAI)."""
    import SampleData

    iconPath = os.path.join(os.path.dirname(__file__), "Resources", "Icons", "BrainTumorAI.png")
    for sampleName, label, seed in PHANTOM_SAMPLES:
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category=SAMPLE_DATA_CATEGORY,
            sampleName=sampleName,
            # Never fetched: the customDownloader generates the volumes instead.
            uris=f"braintumorai-phantom:{label}/{seed}",
            fileNames=f"{sampleName}.nrrd",
            nodeNames=f"Phantom {label.replace('_', ' ')} T1C",
            thumbnailFileName=iconPath,
            loadFileType="VolumeFile",
            customDownloader=PhantomSampleLoader(label, seed),
        )


#
# Parameters
#


@parameterNodeWrapper
class BrainTumorAIParameterNode:
    """Everything the module remembers in the scene.

    One input volume per modality (any may be empty), the reference modality, the
    compute options, and the output nodes of the last run.
    """

    t1Volume: vtkMRMLScalarVolumeNode
    t1cVolume: vtkMRMLScalarVolumeNode
    t2Volume: vtkMRMLScalarVolumeNode
    flairVolume: vtkMRMLScalarVolumeNode
    ctVolume: vtkMRMLScalarVolumeNode
    petVolume: vtkMRMLScalarVolumeNode
    referenceModality: Annotated[str, Choice(REFERENCE_CHOICES)] = "Auto"
    useCPU: bool = False
    modelPath: str = ""
    saliencyMethod: Annotated[str, Choice(list(SALIENCY_METHODS))] = "Fine (LayerCAM x Grad-CAM)"
    saliencyVolume: vtkMRMLScalarVolumeNode
    probabilityTable: vtkMRMLTableNode
    survivalChart: vtkMRMLPlotChartNode


#
# BrainTumorAIWidget
#


class BrainTumorAIWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._task = None
        self._taskTitle = ""
        self._pollTimer = None
        self._referenceNodeID = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/BrainTumorAI.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = BrainTumorAILogic()

        self.ui.progressBar.setRange(0, 100)
        self.ui.progressBar.hide()
        self.ui.cancelButton.enabled = False
        self._clearResults()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.autoAssignButton.connect("clicked(bool)", self.onAutoAssign)
        self.ui.classifyButton.connect("clicked(bool)", self.onClassify)
        self.ui.predictSurvivalButton.connect("clicked(bool)", self.onPredictSurvival)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.saliencyMapComboBox.connect("currentIndexChanged(int)", self.onSaliencyMapChanged)
        # Paths bind to pathlib.Path only, and an empty Path reads as "."; keep a str by hand.
        self.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathChanged)

        # The work runs in a Python thread; the GUI polls it so it never freezes.
        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(200)
        self._pollTimer.connect("timeout()", self.onPollTask)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._pollTimer is not None:
            self._pollTimer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanRun)

    def onSceneStartClose(self, caller, event) -> None:
        if self._task is not None:
            self._task.cancel()
        self.setParameterNode(None)
        self._clearResults()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        # Save the user a few clicks: fill empty selectors from the volume names.
        if not any(self.logic.inputVolumeNodes(self._parameterNode).values()):
            self.logic.autoAssign(self._parameterNode)

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanRun)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanRun)
            wasBlocked = self.ui.modelPathLineEdit.blockSignals(True)
            self.ui.modelPathLineEdit.currentPath = self._parameterNode.modelPath
            self.ui.modelPathLineEdit.blockSignals(wasBlocked)
        self._checkCanRun()

    def onModelPathChanged(self, path: str) -> None:
        if self._parameterNode:
            self._parameterNode.modelPath = path

    def _checkCanRun(self, caller=None, event=None) -> None:
        running = self._task is not None
        hasInput = bool(self._parameterNode) and any(self.logic.inputVolumeNodes(self._parameterNode).values())
        for button in (self.ui.classifyButton, self.ui.predictSurvivalButton):
            button.enabled = hasInput and not running
        if running:
            tip = "A computation is running; wait for it or press Cancel."
        elif not hasInput:
            tip = "Select at least one input volume (or press Auto-assign)."
        else:
            tip = ""
        self.ui.classifyButton.toolTip = tip or "Classify the tumour type from the selected volumes."
        self.ui.predictSurvivalButton.toolTip = tip or "Predict the survival curve from the selected study."
        self.ui.autoAssignButton.enabled = not running
        self.ui.cancelButton.enabled = running

    # ------------------------------------------------------------------ actions

    def onAutoAssign(self) -> None:
        assignment = self.logic.autoAssign(self._parameterNode)
        self.ui.statusLabel.text = assignment.summary()

    def onClassify(self) -> None:
        self._start("Classification", self.logic.startClassification, needsModelPackages=True)

    def onPredictSurvival(self) -> None:
        # The survival model arrives in a later version: check the inputs and say so.
        self._start("Survival prediction", self.logic.startInputCheck, needsModelPackages=False)

    def onCancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self.ui.statusLabel.text = "Cancelling..."

    def _showError(self, title: str, error: BaseException, details: str = "") -> None:
        from BrainTumorAILib import error_message

        message = error_message(title, error)
        logging.error(details or message)
        self.ui.statusLabel.text = message
        if details:
            slicer.util.errorDisplay(message, detailedText=details)
        else:
            slicer.util.errorDisplay(message)

    def _start(self, title: str, startFunction, needsModelPackages: bool) -> None:
        if self._task is not None:
            return
        import traceback

        try:
            with slicer.util.WaitCursor():
                if needsModelPackages and not self.logic.setupPythonRequirements():
                    self.ui.statusLabel.text = (
                        f"{title} needs PyTorch and the packages of Resources/requirements.txt; "
                        "they were not installed, so nothing was run."
                    )
                    return
                self._task = startFunction(self._parameterNode)
        except Exception as error:
            self._showError(title, error, traceback.format_exc())
            return
        self._taskTitle = title
        self.ui.progressBar.value = 0
        self.ui.progressBar.show()
        self.ui.statusLabel.text = f"{title}: starting..."
        self._checkCanRun()
        self._pollTimer.start()

    def onPollTask(self) -> None:
        if self._task is None:
            self._pollTimer.stop()
            return
        status = self._task.poll()
        self.ui.progressBar.value = int(round(100 * status.fraction))
        if status.state == "running":
            self.ui.statusLabel.text = f"{self._taskTitle}: {status.message}"
            return
        self._pollTimer.stop()
        task, title, elapsed = self._task, self._taskTitle, self._task.elapsed_s
        self._task = None
        self.ui.progressBar.hide()
        self._checkCanRun()
        if status.state == "cancelled":
            self.ui.statusLabel.text = f"{title} cancelled; nothing was added to the scene."
        elif status.state == "failed":
            self._showError(title, status.error, status.details)
        elif title == "Classification":
            self._showClassification(status.result, task.inputs, elapsed)
        else:
            self.ui.statusLabel.text = self.logic.describeInputCheck(title, status.result, elapsed)

    # ------------------------------------------------------------------ results

    def _showClassification(self, result, inputs, elapsedSeconds: float) -> None:
        import traceback

        from BrainTumorAILib import modality_weights_text, result_rows, result_summary, result_warnings_text

        try:
            with slicer.util.WaitCursor():
                nodes = self.logic.addClassificationNodes(result, inputs, self._parameterNode)
        except Exception as error:
            self._showError("Classification", error, traceback.format_exc())
            return
        self._referenceNodeID = nodes["reference"].GetID()

        table = self.ui.resultsTable
        rows = result_rows(result)
        table.setRowCount(len(rows))
        for row, (name, probability, inSet) in enumerate(rows):
            for column, text in enumerate((name, f"{probability:.3f}", "\u2713" if inSet else "")):
                item = qt.QTableWidgetItem(text)
                if inSet:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        self.ui.modalityWeightsLabel.text = modality_weights_text(result)
        self.ui.resultWarningsLabel.text = result_warnings_text(result)

        combo = self.ui.saliencyMapComboBox
        combo.blockSignals(True)
        combo.clear()
        for name, node in nodes["saliency"].items():
            combo.addItem("Fused (all modalities)" if name == "fused" else name, node.GetID())
        combo.setCurrentIndex(0)
        combo.blockSignals(False)
        combo.enabled = combo.count > 0
        method = f" ({result.saliency_method}, class {result.saliency_class})" if result.saliency_method else ""
        combo.toolTip = f"Saliency map shown over the reference volume{method}."
        self.ui.statusLabel.text = result_summary(result, elapsedSeconds)

    def _clearResults(self) -> None:
        self.ui.resultsTable.setRowCount(0)
        self.ui.modalityWeightsLabel.text = ""
        self.ui.resultWarningsLabel.text = ""
        self.ui.saliencyMapComboBox.blockSignals(True)
        self.ui.saliencyMapComboBox.clear()
        self.ui.saliencyMapComboBox.blockSignals(False)
        self.ui.saliencyMapComboBox.enabled = False
        self._referenceNodeID = None

    def onSaliencyMapChanged(self, index: int) -> None:
        nodeID = self.ui.saliencyMapComboBox.itemData(index) if index >= 0 else None
        node = slicer.mrmlScene.GetNodeByID(nodeID) if nodeID else None
        if node is None:
            return
        reference = slicer.mrmlScene.GetNodeByID(self._referenceNodeID) if self._referenceNodeID else None
        with slicer.util.tryWithErrorDisplay("Could not show the saliency map.", waitCursor=False):
            self.logic.showSaliencyMap(node, reference, self._parameterNode)

    def onReload(self) -> None:
        """Reload BrainTumorAILib too, so code changes take effect without restarting Slicer."""
        import importlib

        for name in sorted((n for n in sys.modules if n == "BrainTumorAILib" or n.startswith("BrainTumorAILib.")),
                           reverse=True):
            importlib.reload(sys.modules[name])
        ScriptedLoadableModuleWidget.onReload(self)


#
# BrainTumorAILogic
#


class BrainTumorAILogic(ScriptedLoadableModuleLogic):
    """Thin layer between the GUI and BrainTumorAILib; usable from the Python console:

    >>> logic = slicer.util.getModuleLogic("BrainTumorAI")
    >>> parameters = logic.getParameterNode(); parameters.t1cVolume = getNode("t1c")
    >>> task = logic.startClassification(parameters); status = task.wait()
    >>> nodes = logic.addClassificationNodes(status.result, task.inputs, parameters)
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return BrainTumorAIParameterNode(super().getParameterNode())

    @staticmethod
    def inputVolumeNodes(parameterNode) -> dict:
        """Modality -> selected volume node (None where empty), in channel order."""
        return {m: getattr(parameterNode, name) for m, name in MODALITY_PARAMETERS.items()}

    def autoAssign(self, parameterNode, scene=None):
        """Fill the empty modality selectors from volume names; returns the
        BrainTumorAILib ``AutoAssignment`` (what was assigned, what was ambiguous)."""
        from BrainTumorAILib import auto_assign

        assignment = auto_assign(scene or slicer.mrmlScene)
        with slicer.util.NodeModify(parameterNode.parameterNode):
            for modality, node in assignment.assigned.items():
                name = MODALITY_PARAMETERS[modality]
                if getattr(parameterNode, name) is None:
                    setattr(parameterNode, name, node)
        return assignment

    def collectInputs(self, parameterNode):
        """The selected volumes as SimpleITK images (copies, LPS, transforms hardened)."""
        from BrainTumorAILib import collect_inputs

        return collect_inputs(self.inputVolumeNodes(parameterNode), parameterNode.referenceModality)

    @staticmethod
    def device(parameterNode) -> str:
        """'cpu' when the user asked for it, else 'auto' (CUDA when present)."""
        return "cpu" if parameterNode.useCPU else "auto"

    @staticmethod
    def model(parameterNode):
        """The checkpoint path the user chose, or None for the bundled default model."""
        return (parameterNode.modelPath or "").strip() or None

    def startClassification(self, parameterNode):
        """Collect the inputs here (MRML is read in the GUI thread only) and start
        the classifier in the background. Returns the running ``BackgroundTask``;
        its ``inputs`` are the collected volumes, needed to place the outputs."""
        from BrainTumorAILib import BackgroundTask, run_classification

        collected = self.collectInputs(parameterNode)
        task = BackgroundTask(
            run_classification, collected, name="BrainTumorAI Classification",
            model=self.model(parameterNode), device=self.device(parameterNode),
            saliency=SALIENCY_METHODS[parameterNode.saliencyMethod],
        )
        task.inputs = collected
        return task.start()

    def startInputCheck(self, parameterNode):
        """Check co-registration of the selected volumes in the background (what
        Predict survival does until the survival model arrives)."""
        from BrainTumorAILib import BackgroundTask, check_inputs

        collected = self.collectInputs(parameterNode)
        task = BackgroundTask(check_inputs, collected, name="BrainTumorAI input check")
        task.inputs = collected
        return task.start()

    def addClassificationNodes(self, result, collected, parameterNode=None, scene=None) -> dict:
        """New nodes for a finished classification, in the reference volume's study
        (see ``BrainTumorAILib.classification_result_nodes``); the fused saliency map
        is shown over the reference and remembered in the parameter node."""
        from BrainTumorAILib import classification_result_nodes

        nodes = classification_result_nodes(scene or slicer.mrmlScene, result, collected)
        if parameterNode is not None:
            with slicer.util.NodeModify(parameterNode.parameterNode):
                parameterNode.probabilityTable = nodes["probabilities"]
                parameterNode.saliencyVolume = next(iter(nodes["saliency"].values()), None)
        return nodes

    def showSaliencyMap(self, overlayNode, referenceNode=None, parameterNode=None, scene=None) -> None:
        """Make one saliency map of a run the slice views' foreground."""
        from BrainTumorAILib import show_saliency_map

        show_saliency_map(scene or slicer.mrmlScene, overlayNode, referenceNode)
        if parameterNode is not None:
            parameterNode.saliencyVolume = overlayNode

    @staticmethod
    def describeInputCheck(title: str, result, elapsedSeconds: float) -> str:
        return (
            f"Inputs ready ({elapsedSeconds:.1f} s): {result.summary()} "
            f"{title} arrives in a later version of BrainTumorAI; Classify works now."
        )

    # ------------------------------------------------------------------ dependencies

    @staticmethod
    def requirementsPath() -> str:
        return os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt")

    def setupPythonRequirements(self, askConfirmation: bool = True) -> bool:
        """Make sure torch and the packages of Resources/requirements.txt are installed.

        Torch comes only from the PyTorch extension (it picks the build that fits
        the GPU); the other packages are installed after one confirmation, with
        SimpleITK, torch and numpy pinned so pip cannot replace Slicer's own.
        Returns False when the user declined; raises RuntimeError with a message
        the user can act on when installation is impossible.
        """
        from BrainTumorAILib import read_requirements

        try:
            import PyTorchUtils
        except ModuleNotFoundError:
            raise RuntimeError(
                "BrainTumorAI needs the PyTorch extension; install 'PyTorch' from the Extensions Manager "
                "and restart Slicer."
            )
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if not torchLogic.torchInstalled():
            torch = torchLogic.installTorch(
                askConfirmation=askConfirmation, torchVersionRequirement=f">={MINIMUM_TORCH_VERSION}"
            )
            if torch is None:
                return False
        else:
            from packaging import version

            installed = torchLogic.torch.__version__
            if version.parse(installed.split("+")[0]) < version.parse(MINIMUM_TORCH_VERSION):
                raise RuntimeError(
                    f"PyTorch {installed} is too old for BrainTumorAI; use the PyTorch Utils module to install "
                    f"a version >={MINIMUM_TORCH_VERSION}."
                )

        return self.installPackages(read_requirements(self.requirementsPath()), askConfirmation)

    def installPackages(self, requirements: list, askConfirmation: bool = True) -> bool:
        """Install those of ``requirements`` that are missing, after one confirmation.

        Returns False when the user declined; raises RuntimeError when pip failed.
        """
        from BrainTumorAILib import missing_requirements, protected_constraints

        missing = missing_requirements(requirements)
        if not missing:
            return True
        if askConfirmation and not slicer.util.confirmOkCancelDisplay(
            "BrainTumorAI needs these Python packages: " + ", ".join(missing) + ".\n\n"
            "Install them now? This needs a network connection and may take a few minutes.",
            "Install Python packages",
        ):
            return False
        with slicer.util.WaitCursor():
            self._pipInstall(missing, protected_constraints())
        stillMissing = missing_requirements(missing)
        if stillMissing:
            raise RuntimeError(
                "Could not install " + ", ".join(stillMissing) + "; see the Python console for pip's message."
            )
        return True

    @staticmethod
    def _pipInstall(requirements: list, pins: list) -> None:
        """One pip run; never replaces SimpleITK or torch (pinned by a constraints file)."""
        import importlib
        import tempfile

        for moduleName in ("slicer.pydeps", "slicer.packaging"):  # Slicer >= 5.11 has pip_ensure
            try:
                module = importlib.import_module(moduleName)
            except ImportError:
                continue
            if hasattr(module, "pip_ensure"):
                from packaging.requirements import Requirement

                module.pip_ensure(
                    [Requirement(r) for r in requirements],
                    skip_packages=["SimpleITK", "torch"],
                    requester="BrainTumorAI",
                )
                return
        with tempfile.TemporaryDirectory() as folder:
            constraints = os.path.join(folder, "constraints.txt")
            with open(constraints, "w", encoding="utf-8") as stream:
                stream.write("\n".join(pins) + "\n")
            slicer.util.pip_install(requirements + ["-c", constraints])


#
# BrainTumorAITest
#


class BrainTumorAITest(ScriptedLoadableModuleTest):
    """Runs inside Slicer (Reload and Test). Needs no torch: it checks the module's
    own layer, from volume nodes to SimpleITK and back to result nodes."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_VolumeRoundTrip()
        self.setUp()
        self.test_ParameterNodeAndInputs()
        self.setUp()
        self.test_OutputNodes()
        self.setUp()
        self.test_PhantomSampleData()

    @staticmethod
    def _syntheticImage():
        """An oblique, anisotropic volume with a bright 3x3x3 blob at index (20, 12, 6)."""
        import numpy as np
        import SimpleITK as sitk

        voxels = np.zeros((14, 24, 32), np.float32)
        voxels[5:8, 11:14, 19:22] = 100.0
        image = sitk.GetImageFromArray(voxels)
        image.SetSpacing((0.8, 1.1, 3.0))
        image.SetOrigin((-20.0, 15.0, 40.0))
        rotation = sitk.Euler3DTransform()
        rotation.SetRotation(0.2, -0.1, 0.4)
        image.SetDirection(rotation.GetMatrix())
        return image

    def test_VolumeRoundTrip(self):
        import numpy as np
        import SimpleITK as sitk

        from BrainTumorAILib import ras_of_ijk, sitk_image_from_volume_node, volume_node_from_sitk_image

        self.delayDisplay("Volume node <-> SimpleITK round trip")
        image = self._syntheticImage()
        node = volume_node_from_sitk_image(slicer.mrmlScene, image, "t1c")
        lps = np.array(image.TransformIndexToPhysicalPoint((20, 12, 6)))
        np.testing.assert_allclose(ras_of_ijk(node, (20, 12, 6)), lps * [-1, -1, 1], atol=1e-6)
        back = sitk_image_from_volume_node(node)
        np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-9)
        np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-9)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
        self.delayDisplay("Round trip passed")

    def test_ParameterNodeAndInputs(self):
        from BrainTumorAILib import volume_node_from_sitk_image

        self.delayDisplay("Auto-assign and input collection")
        image = self._syntheticImage()
        t1c = volume_node_from_sitk_image(slicer.mrmlScene, image, "BraTS-GLI-00001-000-t1c")
        flair = volume_node_from_sitk_image(slicer.mrmlScene, image, "BraTS-GLI-00001-000-t2f")
        logic = BrainTumorAILogic()
        parameters = logic.getParameterNode()
        logic.autoAssign(parameters)
        self.assertEqual(parameters.t1cVolume, t1c)
        self.assertEqual(parameters.flairVolume, flair)
        self.assertIsNone(parameters.t1Volume)
        collected = logic.collectInputs(parameters)
        self.assertEqual(collected.modalities, ["T1C", "FLAIR"])
        self.assertEqual(collected.reference, "T1C")
        self.delayDisplay("Inputs passed")

    def test_OutputNodes(self):
        import numpy as np
        import SimpleITK as sitk

        from BrainTumorAILib import (
            find_study_item,
            place_in_study,
            probability_table_node,
            saliency_overlay_node,
            survival_chart_nodes,
            volume_node_from_sitk_image,
        )

        self.delayDisplay("Output nodes")
        scene = slicer.mrmlScene
        image = self._syntheticImage()
        reference = volume_node_from_sitk_image(scene, image, "t1c")
        overlay = saliency_overlay_node(scene, sitk.Cast(image > 50, sitk.sitkFloat32), "saliency", reference)
        table = probability_table_node(scene, ["HGG", "LGG"], [0.8, 0.2])
        chart = survival_chart_nodes(scene, [180.0, 365.0, 730.0], [0.9, 0.7, 0.4], [0.8, 0.6, 0.3], [1.0, 0.8, 0.5])
        place_in_study(scene, [overlay, table, *chart.nodes()], reference)
        study = find_study_item(scene, overlay)
        self.assertTrue(study)
        self.assertEqual(find_study_item(scene, chart.chart), study)
        layoutManager = slicer.app.layoutManager()
        if layoutManager is not None:  # absent when Slicer runs without a main window
            composite = layoutManager.sliceWidget("Red").mrmlSliceCompositeNode()
            self.assertEqual(composite.GetForegroundVolumeID(), overlay.GetID())
        probabilities = slicer.util.arrayFromTableColumn(table, "probability")
        self.assertAlmostEqual(float(np.sum(probabilities)), 1.0, places=6)
        self.delayDisplay("Output nodes passed")

    def test_PhantomSampleData(self):
        import importlib.util

        self.delayDisplay("Phantom sample data")
        if importlib.util.find_spec("nilearn") is None:
            self.delayDisplay("nilearn is not installed: phantom test skipped")
            return
        loaded = PhantomSampleLoader("meningioma", 3, spacing=6.0)()
        self.assertEqual([n.GetName() for n in loaded][:2], ["Phantom meningioma T1", "Phantom meningioma T1C"])
        logic = BrainTumorAILogic()
        parameters = logic.getParameterNode()
        logic.autoAssign(parameters)
        self.assertEqual(parameters.t1cVolume, loaded[1])
        self.assertEqual(parameters.petVolume.GetName(), "Phantom meningioma PET")
        self.delayDisplay("Phantom sample data passed")
