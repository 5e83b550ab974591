"""Volume nodes <-> SimpleITK images with exact geometry.

Slicer stores a volume's geometry as the IJK-to-RAS matrix; SimpleITK (and ITK,
NIfTI readers, the whole core) works in LPS. The two differ by a flip of the
first two physical axes, so converting means negating the first two rows of the
direction matrix and the first two coordinates of the origin. Spacing and the
voxel order do not change: ``arrayFromVolume`` and ``GetArrayFromImage`` both
index ``[k, j, i]``.

Voxels are always copied, never shared: the core may change its images freely
without touching what the user loaded, and a node made from an image owns its
own buffer.
"""

from __future__ import annotations


import numpy as np
import SimpleITK as sitk
import vtk

import slicer
import slicer.util

from braintumorai.errors import GeometryError, InputError

# Diagonal that maps RAS <-> LPS (its own inverse).
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])

_SCALAR_CLASSES = ("vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode")


def _matrix_to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _numpy_to_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def ijk_to_ras_matrix(node) -> np.ndarray:
    """The node's own 4x4 IJK-to-RAS matrix (parent transforms not applied)."""
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return _matrix_to_numpy(matrix)


def ijk_to_world_matrix(node) -> np.ndarray:
    """4x4 IJK-to-world (RAS) matrix with the node's linear parent transforms applied.

    Raises GeometryError when the parent transform is not linear (use
    ``sitk_image_from_volume_node``, which resamples through it).
    """
    ijk_to_ras = ijk_to_ras_matrix(node)
    transform_node = node.GetParentTransformNode()
    if transform_node is None:
        return ijk_to_ras
    if not transform_node.IsTransformToWorldLinear():
        raise GeometryError(
            f"Volume '{node.GetName()}' is under a non-linear transform; "
            "harden the transform first or convert it with sitk_image_from_volume_node."
        )
    to_world = vtk.vtkMatrix4x4()
    transform_node.GetMatrixTransformToWorld(to_world)
    return _matrix_to_numpy(to_world) @ ijk_to_ras


def _check_scalar_volume(node) -> None:
    if node is None:
        raise InputError("No volume node was given; select a volume.")
    if not node.IsA("vtkMRMLScalarVolumeNode"):
        raise InputError(
            f"'{node.GetName()}' is a {node.GetClassName()}, not a scalar volume; "
            "select a single-component (scalar) volume."
        )
    image = node.GetImageData()
    if image is None or 0 in image.GetDimensions():
        raise InputError(f"Volume '{node.GetName()}' has no voxels; load the volume again.")
    if image.GetNumberOfScalarComponents() != 1:
        raise InputError(
            f"Volume '{node.GetName()}' has {image.GetNumberOfScalarComponents()} components per voxel; "
            "select a single-component (scalar) volume."
        )


def _hardened_copy(node):
    """A scene-less copy of ``node`` with its non-linear parent transform hardened.

    Uses the node's own ``ApplyTransform``, the code Slicer runs for
    "Harden transform", so the voxels are resampled exactly as Slicer would,
    onto the node's own grid. The user's node and image data are not modified.
    """
    copy = slicer.vtkMRMLScalarVolumeNode()
    image = vtk.vtkImageData()
    image.DeepCopy(node.GetImageData())
    copy.SetAndObserveImageData(image)
    copy.SetIJKToRASMatrix(_numpy_to_matrix(ijk_to_ras_matrix(node)))
    to_world = vtk.vtkGeneralTransform()
    node.GetParentTransformNode().GetTransformToWorld(to_world)
    copy.ApplyTransform(to_world)
    return copy


def sitk_image_from_volume_node(node) -> sitk.Image:
    """Copy a scalar volume node into a new ``SimpleITK.Image`` in LPS.

    Parent transforms are hardened into the result: a linear one exactly (only
    the geometry changes), a non-linear one by resampling onto the node's grid as
    Slicer's "Harden transform" does. The node itself is never modified.

    Returns a 3-D image whose size is the node's dimensions (i, j, k), with the
    node's voxel type, spacing in mm and LPS origin/direction.
    """
    _check_scalar_volume(node)
    transform_node = node.GetParentTransformNode()
    source = node
    if transform_node is not None and not transform_node.IsTransformToWorldLinear():
        source = _hardened_copy(node)
        ijk_to_world = ijk_to_ras_matrix(source)
    else:
        ijk_to_world = ijk_to_world_matrix(node)

    # np.array(..., copy=True): the VTK buffer of the user's node must never leak out.
    voxels = np.array(slicer.util.arrayFromVolume(source), copy=True)
    if voxels.ndim != 3:
        raise InputError(f"Volume '{node.GetName()}' is not a 3-D scalar volume; select a 3-D volume.")
    image = sitk.GetImageFromArray(voxels, isVector=False)

    linear = ijk_to_world[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if np.any(spacing <= 0):
        raise GeometryError(f"Volume '{node.GetName()}' has a zero voxel spacing; fix its geometry.")
    direction_ras = linear / spacing
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in _RAS_TO_LPS @ ijk_to_world[:3, 3]])
    image.SetDirection([float(v) for v in (_RAS_TO_LPS @ direction_ras).ravel()])
    return image


def _voxels_for_vtk(image: sitk.Image, name: str) -> np.ndarray:
    if image.GetDimension() != 3:
        raise InputError(f"Image for '{name}' is {image.GetDimension()}-D; only 3-D images become volumes.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"Image for '{name}' has several components per voxel; pass a scalar image.")
    voxels = sitk.GetArrayFromImage(image)  # already a copy, [k, j, i]
    # VTK renders 64-bit integers badly and slicer.util refuses them.
    if voxels.dtype in (np.int64, np.uint64):
        info = np.iinfo(np.int32)
        if voxels.size and (voxels.min() < info.min or voxels.max() > info.max):
            voxels = voxels.astype(np.float64)
        else:
            voxels = voxels.astype(np.int32)
    return voxels


def image_ijk_to_ras(image: sitk.Image) -> np.ndarray:
    """The 4x4 IJK-to-RAS matrix of a SimpleITK image (LPS -> RAS)."""
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    spacing = np.array(image.GetSpacing(), dtype=float)
    matrix = np.eye(4)
    matrix[:3, :3] = _RAS_TO_LPS @ direction @ np.diag(spacing)
    matrix[:3, 3] = _RAS_TO_LPS @ np.array(image.GetOrigin(), dtype=float)
    return matrix


def volume_node_from_sitk_image(
    scene,
    image: sitk.Image,
    name: str,
    node=None,
    class_name: str = "vtkMRMLScalarVolumeNode",
    create_display_node: bool = True,
):
    """Put a copy of ``image`` into a volume node of ``scene``.

    ``node``: an existing volume node to overwrite (e.g. an output chosen by the
    user); when None a new node of ``class_name`` (scalar or label map volume)
    named ``name`` is added. The node gets the image's exact geometry and no
    parent transform, so it lies where the image lies in world space.

    Returns the node.
    """
    if class_name not in _SCALAR_CLASSES:
        raise InputError(f"Cannot make a '{class_name}'; use one of {', '.join(_SCALAR_CLASSES)}.")
    voxels = _voxels_for_vtk(image, name)
    if node is None:
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    slicer.util.updateVolumeFromArray(node, voxels)
    node.SetIJKToRASMatrix(_numpy_to_matrix(image_ijk_to_ras(image)))
    node.SetAndObserveTransformNodeID(None)
    if create_display_node and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def ras_of_ijk(node, ijk) -> np.ndarray:
    """World (RAS) position in mm of the voxel index ``(i, j, k)`` of ``node``,
    linear parent transforms included."""
    point = np.append(np.asarray(ijk, dtype=float), 1.0)
    return (ijk_to_world_matrix(node) @ point)[:3]
