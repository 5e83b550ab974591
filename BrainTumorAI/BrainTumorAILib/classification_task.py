"""Classify: the background work behind the button, and its result as nodes.

    task = BackgroundTask(run_classification, collect_inputs(nodes), model=None, device="cpu").start()
    ...                                   # GUI thread polls task.poll() for progress
    nodes = classification_result_nodes(scene, task.poll().result, inputs)   # GUI thread

``run_classification`` touches no MRML: it gets the SimpleITK copies that
``collect_inputs`` made in the GUI thread and returns the core's
``braintumorai.results.ClassificationResult``. ``classification_result_nodes``
then adds new nodes only (tables, saliency overlays) in the reference volume's
study; the user's volumes are never modified.

Torch, MONAI and the model are imported when the work runs, never at load time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from braintumorai.errors import BrainTumorAIError, InputError

from .background import TaskContext
from .inputs import OUTPUT_ATTRIBUTE, CollectedInputs
from .output_nodes import show_as_foreground
from .result_nodes import classification_output_nodes
from .study_hierarchy import item_of_node, subject_hierarchy
from .volume_conversion import ijk_to_ras_matrix, ijk_to_world_matrix, volume_node_from_sitk_image

# Device spellings that mean "CUDA when present, else the CPU".
AUTOMATIC_DEVICES = (None, "", "auto")
# Node attribute naming the map a saliency overlay shows ('fused', 'T1C', ...).
SALIENCY_MAP_ATTRIBUTE = "BrainTumorAI.SaliencyMap"
# Share of the whole progress bar spent loading the model (first run: importing torch).
_LOAD_SHARE = 0.1

_classifier_lock = threading.Lock()
_classifier_cache: dict = {}


def load_classifier(model: Optional[str] = None, device: Optional[str] = None):
    """``braintumorai.pipeline.Classifier.load`` with a one-model cache.

    ``model``: None or "" for the bundled default, a registry name, or a
    checkpoint path (``.pt`` or ``.json``). ``device``: 'cpu', 'cuda', or None /
    'auto' for CUDA when present. Pressing Classify again reuses the loaded
    network unless the model card file, its modification time or the device changed.
    """
    from braintumorai.checkpoints import resolve_model
    from braintumorai.pipeline import Classifier, default_device

    card_path = Path(resolve_model(model or None))
    device = default_device() if device in AUTOMATIC_DEVICES else str(device)
    key = (str(card_path.resolve()), card_path.stat().st_mtime_ns, device)
    with _classifier_lock:
        classifier = _classifier_cache.get(key)
        if classifier is None:
            classifier = Classifier.load(str(card_path), device=device)
            _classifier_cache.clear()  # one network in memory at a time
            _classifier_cache[key] = classifier
        return classifier


def clear_classifier_cache() -> None:
    """Forget the loaded network (frees its memory, GPU memory included)."""
    with _classifier_lock:
        _classifier_cache.clear()


def run_classification(
    context: TaskContext,
    collected: CollectedInputs,
    model: Optional[str] = None,
    device: Optional[str] = None,
    saliency: Optional[str] = "layercam",
    target_class: Optional[str] = None,
    register: bool = False,
):
    """Classify the collected volumes; the work function of a ``BackgroundTask``.

    Args:
        context: progress reports; Cancel is honoured at every stage boundary
            (loading, aligning, model grid, network, saliency).
        collected: the inputs from ``collect_inputs`` (SimpleITK copies); their
            reference modality is the grid of the saliency maps.
        model: None / "" (bundled default), a registry name or a checkpoint path.
        device: 'cpu', 'cuda', or None / 'auto' (CUDA when present).
        saliency: 'layercam', 'gradcam', 'gradcam++', 'occlusion' or None (no maps).
        target_class: class the maps explain (default: the predicted one).
        register: rigidly register volumes that do not overlap the reference.

    Returns:
        The core's ``ClassificationResult``; ``saliency`` maps lie on the
        reference volume's grid.

    Raises:
        The core's ``InputError`` / ``GeometryError`` / ``ModelError`` (one
        sentence each), ``TaskCancelled`` when the user pressed Cancel.
    """
    context.report(0.0, "Checking the input volumes")
    study = collected.to_study()
    context.report(0.02, "Loading the model")
    classifier = load_classifier(model, device)
    context.report(_LOAD_SHARE, "Model loaded")

    def progress(stage: str, fraction: float) -> None:
        # Raises TaskCancelled inside predict() when Cancel was pressed.
        context.report(_LOAD_SHARE + (1.0 - _LOAD_SHARE) * fraction, stage)

    return classifier.predict(
        study, saliency=saliency, target_class=target_class, reference=collected.reference,
        register=register, progress=progress,
    )


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


def classification_result_nodes(
    scene,
    result,
    collected: CollectedInputs,
    shown_map: str = "fused",
    opacity: float = 0.5,
) -> dict:
    """Turn a ``ClassificationResult`` into new nodes in the reference volume's study.

    Adds the probability table (one row per class in the model's order, with an
    ``in prediction set`` column), the modality-weights table and one saliency
    overlay volume per map ('fused' and each present modality) on exactly the
    reference node's grid; ``shown_map`` becomes the slice views' foreground
    over the reference. The user's nodes are not modified.

    Returns ``{"probabilities": table, "modality_weights": table or None,
    "saliency": {name: volume node}, "folder": subject hierarchy item,
    "reference": reference volume node}``, and ``"brain_mask"`` (a volume node on the
    reference grid) when the brain was extracted from a raw study.
    """
    reference_node = reference_node_of(scene, collected, result.reference)
    shown = shown_map if shown_map in result.saliency else next(iter(result.saliency), shown_map)
    nodes = classification_output_nodes(
        scene, reference_node, result.classes, result.probabilities,
        saliency=result.saliency, modality_weights=result.modality_weights,
        prediction_set=result.prediction_set, shown_map=shown, opacity=opacity,
    )
    for name, node in nodes["saliency"].items():
        adopt_reference_geometry(node, reference_node)
        node.SetAttribute(SALIENCY_MAP_ATTRIBUTE, name)
        if result.saliency_method:
            node.SetAttribute("BrainTumorAI.SaliencyMethod", result.saliency_method)
        if result.saliency_class:
            node.SetAttribute("BrainTumorAI.SaliencyClass", result.saliency_class)
    if getattr(result, "brain_mask", None) is not None:
        # A raw study: the brain the classifier read, beside the maps, for the user to check.
        mask = volume_node_from_sitk_image(scene, result.brain_mask, f"{reference_node.GetName()} extracted brain")
        adopt_reference_geometry(mask, reference_node)
        mask.SetAttribute(OUTPUT_ATTRIBUTE, "brain_mask")
        subject_hierarchy(scene).SetItemParent(item_of_node(scene, mask), nodes["folder"])
        nodes["brain_mask"] = mask
    table = nodes["probabilities"]
    table.SetAttribute("BrainTumorAI.Predicted", result.predicted)
    table.SetAttribute("BrainTumorAI.Model", str((result.model or {}).get("name")))
    if result.coverage is not None:
        table.SetAttribute("BrainTumorAI.Coverage", f"{result.coverage:.3f}")
    nodes["reference"] = reference_node
    return nodes


def show_saliency_map(scene, overlay_node, reference_node=None, opacity: float = 0.5) -> int:
    """Make ``overlay_node`` (one of a run's saliency maps) the slice views'
    foreground; returns the number of views changed."""
    if overlay_node is None or overlay_node.GetAttribute(OUTPUT_ATTRIBUTE) != "saliency":
        raise InputError("That node is not a BrainTumorAI saliency map; choose a map of the last Classify run.")
    return show_as_foreground(scene, overlay_node, reference_node, opacity)


# --------------------------------------------------------------------------- text for the panel


def result_rows(result) -> list[tuple[str, float, bool]]:
    """``(class, probability, in prediction set)`` per class, most probable first."""
    members = set(result.prediction_set)
    rows = [(c, float(p), c in members) for c, p in zip(result.classes, result.probabilities)]
    return sorted(rows, key=lambda row: -row[1])


def modality_weights_text(result) -> str:
    """'Modality weights: T1C 48 %, FLAIR 31 %, T2 21 %.' (largest first)."""
    if not result.modality_weights:
        return ""
    ordered = sorted(result.modality_weights.items(), key=lambda item: -item[1])
    return "Modality weights: " + ", ".join(f"{m} {100 * w:.0f} %" for m, w in ordered) + "."


def result_summary(result, elapsed_s: Optional[float] = None) -> str:
    """One line for the status label: prediction, prediction set, uncertainty, time."""
    probability = result.probability_of[result.predicted]
    text = f"Predicted {result.predicted} (probability {probability:.2f})"
    if result.coverage is not None:
        text += f"; {100 * result.coverage:.0f} % prediction set: {', '.join(result.prediction_set)}"
    text += f"; uncertainty {result.uncertainty:.2f}"
    if elapsed_s is not None:
        text += f"; {elapsed_s:.1f} s"
    return text + ". Research use only, not for clinical use."


def result_warnings_text(result) -> str:
    """The result's warnings (out of distribution, brain extracted, ...) as plain lines for
    the panel, with the out-of-distribution score; empty when there is nothing to say."""
    lines = [f"\u26a0 {warning}" for warning in getattr(result, "warnings", [])]
    if getattr(result, "ood_score", None) is not None and not getattr(result, "ood_flag", False):
        lines.append(f"Out-of-distribution score {result.ood_score:.2f}: the study looks like the training data.")
    return "\n".join(lines)


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
