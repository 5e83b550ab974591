"""The slice views: which volumes they show, where they look, how the overlay is drawn.

Everything goes through the scene's slice and slice-composite nodes, so it works the same
in Slicer (whose views follow those nodes), in a web viewer and on a bare pytest scene
(which has none, and then nothing happens).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

import slicer.util

from braintumorai.errors import InputError

from .volume_conversion import ijk_to_world_matrix


def _composites(scene) -> list:
    nodes = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


def show_as_foreground(scene, volume_node, background_node=None, opacity: float = 0.4) -> int:
    """Show ``volume_node`` as the foreground layer of every slice view.

    The background layer is set to ``background_node`` only where a view shows
    nothing yet, so the user's choice of background is kept. Returns the number of
    slice views changed (0 in a scene without views).
    """
    composites = _composites(scene)
    for composite in composites:
        if background_node is not None and not composite.GetBackgroundVolumeID():
            composite.SetBackgroundVolumeID(background_node.GetID())
        composite.SetForegroundVolumeID(volume_node.GetID())
        composite.SetForegroundOpacity(float(opacity))
    return len(composites)


def show_as_background(scene, volume_node) -> int:
    """Show ``volume_node`` as every slice view's background (foreground cleared);
    returns the number of views changed (0 in a scene without views)."""
    composites = _composites(scene)
    for composite in composites:
        composite.SetBackgroundVolumeID(volume_node.GetID())
        composite.SetForegroundVolumeID(None)
    return len(composites)


def set_foreground_opacity(scene, opacity: float) -> int:
    """Opacity (0-1) of the foreground layer in every slice view; returns the count."""
    opacity = min(max(float(opacity), 0.0), 1.0)
    composites = _composites(scene)
    for composite in composites:
        composite.SetForegroundOpacity(opacity)
    return len(composites)


def set_saliency_threshold(overlay_node, fraction: float) -> float:
    """Hide the overlay below ``fraction`` (0-1) of its display range; returns the value
    below which nothing is drawn."""
    display = overlay_node.GetDisplayNode() if overlay_node is not None else None
    if display is None:
        raise InputError("There is no saliency map to threshold; press Classify first.")
    low, high = display.GetWindowLevelMin(), display.GetWindowLevelMax()
    value = low + min(max(float(fraction), 0.0), 1.0) * (high - low)
    display.AutoThresholdOff()
    display.SetThreshold(value, high)
    display.ApplyThresholdOn()
    return value


def peak_ras(volume_node) -> np.ndarray:
    """World (RAS) position in mm of the volume's largest voxel (the first one when several
    are equal), parent transforms included."""
    voxels = slicer.util.arrayFromVolume(volume_node)
    if voxels.size == 0:
        raise InputError(f"Volume '{volume_node.GetName()}' has no voxels; classify again.")
    k, j, i = np.unravel_index(int(np.argmax(voxels)), voxels.shape)
    return (ijk_to_world_matrix(volume_node) @ np.array([i, j, k, 1.0]))[:3]


def jump_to(scene, ras, slice_node_names: Optional[list] = None) -> int:
    """Centre every slice view (or those named, 'Red', ...) on the RAS point; returns the count."""
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    count = 0
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        if slice_node_names is None or node.GetName() in slice_node_names:
            node.JumpSliceByCentering(*(float(v) for v in ras))
            count += 1
    return count


def jump_to_hotspot(scene, overlay_node) -> np.ndarray:
    """Centre the slice views on the saliency map's maximum; returns that point (RAS, mm)."""
    point = peak_ras(overlay_node)
    jump_to(scene, point)
    return point
