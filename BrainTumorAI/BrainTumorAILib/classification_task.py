"""Classify: the child process behind the button, and its result as nodes.

    task = start_classification(collect_inputs(nodes), ClassifyOptions(device="cpu"), work_root)
    ...                                   # GUI thread polls task.poll() for progress
    nodes = classification_result_nodes(scene, task.poll().result, task.inputs)   # GUI thread

The selected volumes are copied (``collect_inputs``, in the GUI thread: MRML is read
there only) and written as NRRD files into the task's work folder; ``braintumorai
classify`` runs on them in a child process and writes result.json and the saliency maps;
``classification_result_nodes`` reads them into new nodes in the reference volume's study,
replacing the nodes of an earlier run on the same reference. The user's volumes are never
modified.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np
import SimpleITK as sitk

from braintumorai.errors import InputError

from .inputs import OUTPUT_ATTRIBUTE, CollectedInputs
from .output_nodes import show_as_foreground
from .process_task import CommandTask, new_work_folder
from .result_nodes import classification_output_nodes
from .study_hierarchy import item_of_node, remove_outputs, subject_hierarchy
from .volume_conversion import ijk_to_ras_matrix, ijk_to_world_matrix, volume_node_from_sitk_image

# Node attribute naming the map a saliency overlay shows ('fused', 'T1C', ...).
SALIENCY_MAP_ATTRIBUTE = "BrainTumorAI.SaliencyMap"
# Node attribute holding the ID of the reference volume an output was computed on.
REFERENCE_ATTRIBUTE = "BrainTumorAI.ReferenceNodeID"
CLASSIFICATION_ROLES = ("probabilities", "modality_weights", "saliency", "brain_mask")
# Opacity of the saliency map over the reference volume, as the README's pictures show it.
DEFAULT_OPACITY = 0.4


@dataclasses.dataclass
class ClassifyOptions:
    """What the panel's options say.

    Attributes:
        model: None for the bundled model, a registry name or a checkpoint path.
        device: 'cpu', 'cuda', or None for CUDA when present.
        saliency: 'layercam', 'gradcam', 'gradcam++', 'occlusion' or None (no maps).
        target_class: the class the maps explain (None: the predicted one).
        register: rigidly register volumes that do not overlap the reference.
    """

    model: Optional[str] = None
    device: Optional[str] = None
    saliency: Optional[str] = "layercam"
    target_class: Optional[str] = None
    register: bool = False


@dataclasses.dataclass
class ClassificationOutput:
    """What ``braintumorai classify`` wrote: ``data`` (result.json), ``maps`` (name ->
    SimpleITK image on the reference grid) and the ``folder`` they were read from."""

    data: dict
    maps: dict
    folder: Path


def write_inputs(collected: CollectedInputs, folder: Path) -> dict[str, str]:
    """Write the collected images as uncompressed NRRD (exact geometry, quick to write);
    returns modality -> path relative to ``folder``'s parent (the task's work folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for modality, image in collected.images.items():
        path = folder / f"{modality}.nrrd"
        sitk.WriteImage(image, str(path), False)
        files[modality] = f"{folder.name}/{path.name}"
    return files


def classify_arguments(files: dict[str, str], reference: str, out: str, options: ClassifyOptions) -> list[str]:
    """The ``braintumorai classify`` command line for ``files`` (modality -> path)."""
    arguments = ["classify", *[f"--modality={m}={path}" for m, path in files.items()], f"--reference={reference}",
                 f"--out={out}", f"--saliency={options.saliency or 'none'}"]
    if options.model:
        arguments.append(f"--model={options.model}")
    if options.device:
        arguments.append(f"--device={options.device}")
    if options.target_class and options.saliency:
        arguments.append(f"--class={options.target_class}")
    if options.register:
        arguments.append("--register")
    return arguments


def read_classification(folder: Path) -> ClassificationOutput:
    """Read result.json and the saliency maps ``braintumorai classify`` wrote into ``folder``."""
    from braintumorai.report import read_classification_folder

    data, maps = read_classification_folder(folder)
    return ClassificationOutput(data=data, maps=maps, folder=Path(folder))


def start_classification(collected: CollectedInputs, options: ClassifyOptions, work_root: Optional[str] = None,
                         python: Optional[str] = None) -> CommandTask:
    """Write the inputs and start ``braintumorai classify`` in a child process.

    Returns the running ``CommandTask``; its ``inputs`` are ``collected`` (needed to place
    the outputs) and its result, once done, a :class:`ClassificationOutput`.
    """
    work = new_work_folder("classify-", work_root)
    files = write_inputs(collected, work / "inputs")
    arguments = classify_arguments(files, collected.reference, "out", options)
    task = CommandTask(arguments, work, on_done=lambda folder: read_classification(folder / "out"),
                       python=python, name="Classification")
    task.inputs = collected
    return task.start()


# --------------------------------------------------------------------------- nodes


def reference_node_of(scene, collected: CollectedInputs, modality: Optional[str] = None):
    """The volume node the reference modality came from (still in ``scene``)."""
    modality = modality or collected.reference
    node_id = collected.node_ids.get(modality)
    node = scene.GetNodeByID(node_id) if node_id else None
    if node is None:
        raise InputError(
            f"The reference volume ({modality}) was removed from the scene during the run; "
            "select it again and press Classify."
        )
    return node


def adopt_reference_geometry(node, reference_node, tolerance_mm: float = 1e-4) -> bool:
    """Give an output volume on the reference grid exactly the reference node's geometry.

    The core computes on the reference volume's *world* grid (linear parent
    transforms hardened). When ``node`` lies on that grid, it gets the
    reference's own IJK-to-RAS matrix, bit for bit, and, for a linear parent
    transform, the same parent, so it follows the volume if the transform is
    edited later. (A non-linear transform was resampled onto the node's own grid
    when the inputs were collected, so there the map already lies in world space.)
    Returns False, changing nothing, when ``node`` is not on the reference grid.
    """
    image, reference_image = node.GetImageData(), reference_node.GetImageData()
    if image is None or reference_image is None or image.GetDimensions() != reference_image.GetDimensions():
        return False
    transform = reference_node.GetParentTransformNode()
    if transform is not None and transform.IsTransformToWorldLinear():
        world = ijk_to_world_matrix(reference_node)
    else:
        world, transform = ijk_to_ras_matrix(reference_node), None
    if not np.allclose(ijk_to_ras_matrix(node), world, rtol=0.0, atol=tolerance_mm):
        return False
    # Copy origin, spacing and directions as stored (not the composed matrix, whose
    # decomposition could change the last bit), so both nodes give the same matrix.
    # SetIJKToRASDirections ignores a change within round-off of the current
    # directions, so start from a geometry far from both; SetIJKToRASDirectionMatrix
    # renormalises, so the plain arrays are copied.
    was_modifying = node.StartModify()
    node.SetIJKToRASDirections([[-1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]])
    node.SetSpacing(1e3, 1e3, 1e3)
    node.SetOrigin(1e6, 1e6, 1e6)
    directions = [[0.0] * 3 for _ in range(3)]
    reference_node.GetIJKToRASDirections(directions)
    node.SetIJKToRASDirections(directions)
    node.SetSpacing(reference_node.GetSpacing())
    node.SetOrigin(reference_node.GetOrigin())
    node.SetAndObserveTransformNodeID(transform.GetID() if transform is not None else None)
    node.EndModify(was_modifying)
    return True


def classification_result_nodes(scene, output: ClassificationOutput, collected: CollectedInputs,
                                shown_map: str = "fused", opacity: float = DEFAULT_OPACITY) -> dict:
    """Turn a finished classification into nodes in the reference volume's study.

    Removes the nodes an earlier run made for the same reference volume, then adds the
    probability table (one row per class in the model's order, with an ``in prediction set``
    column), the modality-weights table and one saliency overlay per map ('fused' and each
    present modality) on exactly the reference node's grid; ``shown_map`` becomes the slice
    views' foreground over the reference. The user's nodes are not modified.

    Returns ``{"probabilities": table, "modality_weights": table or None,
    "saliency": {name: volume node}, "folder": subject hierarchy item,
    "reference": reference volume node}``, and ``"brain_mask"`` (a volume node on the
    reference grid) when the brain was extracted from a raw study.
    """
    data = output.data
    reference_node = reference_node_of(scene, collected, data.get("reference"))
    for name, image in output.maps.items():
        if image.GetSize() != reference_node.GetImageData().GetDimensions():
            raise InputError(f"The saliency map '{name}' is not on the reference volume's grid; classify again.")
    remove_outputs(scene, CLASSIFICATION_ROLES, REFERENCE_ATTRIBUTE, reference_node.GetID())
    shown = shown_map if shown_map in output.maps else next(iter(output.maps), shown_map)
    classes = list(data["classes"])
    nodes = classification_output_nodes(
        scene, reference_node, classes, [data["probabilities"][c] for c in classes],
        saliency=output.maps, modality_weights=data.get("modality_weights"),
        prediction_set=data.get("prediction_set"), shown_map=shown, opacity=opacity,
    )
    for name, node in nodes["saliency"].items():
        adopt_reference_geometry(node, reference_node)
        node.SetAttribute(SALIENCY_MAP_ATTRIBUTE, name)
        for key, attribute in (("saliency_method", "BrainTumorAI.SaliencyMethod"),
                               ("saliency_class", "BrainTumorAI.SaliencyClass")):
            if data.get(key):
                node.SetAttribute(attribute, str(data[key]))
    if data.get("brain_mask"):
        # A raw study: the brain the classifier read, beside the maps, for the user to check.
        image = sitk.ReadImage(str(output.folder / data["brain_mask"]))
        mask = volume_node_from_sitk_image(scene, image, f"{reference_node.GetName()} extracted brain")
        adopt_reference_geometry(mask, reference_node)
        mask.SetAttribute(OUTPUT_ATTRIBUTE, "brain_mask")
        mask.SetAttribute(REFERENCE_ATTRIBUTE, reference_node.GetID())
        subject_hierarchy(scene).SetItemParent(item_of_node(scene, mask), nodes["folder"])
        nodes["brain_mask"] = mask
    table = nodes["probabilities"]
    table.SetAttribute("BrainTumorAI.Predicted", str(data["predicted"]))
    table.SetAttribute("BrainTumorAI.Model", str((data.get("model") or {}).get("name")))
    if data.get("coverage") is not None:
        table.SetAttribute("BrainTumorAI.Coverage", f"{float(data['coverage']):.3f}")
    for node in (table, nodes["modality_weights"], *nodes["saliency"].values()):
        if node is not None:
            node.SetAttribute(REFERENCE_ATTRIBUTE, reference_node.GetID())
    nodes["reference"] = reference_node
    return nodes


def show_saliency_map(scene, overlay_node, reference_node=None, opacity: float = DEFAULT_OPACITY) -> int:
    """Make ``overlay_node`` (one of a run's saliency maps) the slice views'
    foreground; returns the number of views changed."""
    if overlay_node is None or overlay_node.GetAttribute(OUTPUT_ATTRIBUTE) != "saliency":
        raise InputError("That node is not a BrainTumorAI saliency map; choose a map of the last Classify run.")
    return show_as_foreground(scene, overlay_node, reference_node, opacity)
