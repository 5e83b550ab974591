"""Render a slice view from the scene exactly as Slicer composes it, without Qt.

``vtkMRMLSliceLogic`` (with a ``vtkMRMLApplicationLogic``, a slice node and a slice
composite node) is the code behind every slice view of the Slicer application: it reslices
the background, foreground and label layers through the slice plane, maps them through
their display nodes' window/level, colour table and threshold, and blends them with the
composite node's opacities. Its blend output is the RGBA picture the view shows, so a test
can check what the user sees and the README can show it.

    renderer = SliceRenderer(scene, size=(400, 400))
    rgba = renderer.render(t1c_node, saliency_node, opacity=0.4, orientation="Axial", through=peak)
    row, column = renderer.pixel_of(peak)           # where that RAS point lies in the picture
    renderer.close()                                # removes its slice and composite nodes
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from vtk.util.numpy_support import vtk_to_numpy

import slicer

from .output_nodes import ensure_default_colors

ORIENTATIONS = ("Axial", "Coronal", "Sagittal")


class SliceRenderer:
    """One off-screen slice view of ``scene``.

    Args:
        scene: the MRML scene.
        size: (width, height) of the picture in pixels.
        application_logic: Slicer's own (``slicer.app.applicationLogic()``) inside the
            application; a new ``vtkMRMLApplicationLogic`` elsewhere.
        name: layout name of its slice node (not shown in any layout).
    """

    def __init__(self, scene, size: Sequence[int] = (400, 400), application_logic=None,
                 name: str = "BrainTumorAIRender") -> None:
        ensure_default_colors(scene)
        self.scene = scene
        self._own_application_logic = application_logic is None
        self.application_logic = application_logic or slicer.vtkMRMLApplicationLogic()
        if self._own_application_logic:
            self.application_logic.SetMRMLScene(scene)
        self.logic = slicer.vtkMRMLSliceLogic()
        self.logic.SetMRMLApplicationLogic(self.application_logic)
        self.logic.SetMRMLScene(scene)
        self.slice_node = self.logic.AddSliceNode(name)
        self.composite_node = self.logic.GetSliceCompositeNode()
        self.slice_node.SetDimensions(int(size[0]), int(size[1]), 1)

    def render(self, background, foreground=None, opacity: float = 0.4, orientation: str = "Axial",
               through: Optional[Sequence[float]] = None, label=None) -> np.ndarray:
        """The picture of one slice: ``(height, width, 4)`` uint8 RGBA, row 0 at the top.

        Args:
            background, foreground, label: volume nodes of the three layers (None leaves a layer empty).
            opacity: foreground opacity (0-1), as the slice view's slider sets it.
            orientation: 'Axial', 'Coronal' or 'Sagittal'.
            through: RAS point (mm) the slice passes through; the field of view is fitted to
                the volumes, as Slicer's "fit to window" does.
        """
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}")
        composite = self.composite_node
        composite.SetBackgroundVolumeID(background.GetID() if background is not None else None)
        composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
        composite.SetLabelVolumeID(label.GetID() if label is not None else None)
        composite.SetForegroundOpacity(float(opacity))
        self.slice_node.SetOrientation(orientation)
        self.logic.FitSliceToAll()
        if through is not None:
            self.slice_node.JumpSliceByOffsetting(*(float(v) for v in through))
        producer = self.logic.GetImageDataConnection().GetProducer()
        producer.Update()
        image = producer.GetOutputDataObject(0)
        width, height, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
        return np.ascontiguousarray(pixels[::-1])  # VTK's row 0 is the bottom

    def _xy_to_ras(self) -> np.ndarray:
        matrix = self.slice_node.GetXYToRAS()
        return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])

    def pixel_of(self, ras: Sequence[float]) -> tuple[float, float]:
        """``(row, column)`` of the RAS point (mm) in the last picture (row 0 at the top),
        projected onto the slice plane."""
        x, y, _, _ = np.linalg.solve(self._xy_to_ras(), np.append(np.asarray(ras, dtype=float), 1.0))
        height = self.slice_node.GetDimensions()[1]
        return height - 1 - y, x

    def ras_of_pixels(self) -> np.ndarray:
        """``(height, width, 3)`` RAS position (mm) of every pixel of the last picture."""
        width, height, _ = self.slice_node.GetDimensions()
        x, y = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float)[::-1])
        points = np.stack([x, y, np.zeros_like(x), np.ones_like(x)], axis=-1)
        return (points @ self._xy_to_ras().T)[..., :3]

    def close(self) -> None:
        """Remove the renderer's slice and composite nodes from the scene."""
        for node in (self.slice_node, self.composite_node):
            if node is not None and self.scene.IsNodePresent(node):
                self.scene.RemoveNode(node)
        self.logic.SetMRMLScene(None)
        if self._own_application_logic:
            self.application_logic.SetMRMLScene(None)

