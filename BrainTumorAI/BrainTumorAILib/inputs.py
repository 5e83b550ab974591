"""The module's inputs: volume nodes per modality -> SimpleITK images.

Also the "Auto-assign" of the GUI: volume nodes are matched to modalities by
name with the core's vocabulary (``braintumorai.modalities.guess_modality``).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

import SimpleITK as sitk

from braintumorai.errors import InputError
from braintumorai.modalities import MODALITIES, choose_reference, normalise_modality, guess_modality

from .study_hierarchy import OUTPUT_ATTRIBUTE
from .volume_conversion import sitk_image_from_volume_node

# The one node class a modality selector shows. Label maps, vector, tensor and DWI volumes
# subclass it, but they are not images of one modality.
INPUT_CLASS = "vtkMRMLScalarVolumeNode"

# Spellings of "no preference" that a reference selector may hold.
AUTOMATIC_REFERENCE = ("", "auto", "automatic", "none")


@dataclasses.dataclass
class CollectedInputs:
    """Copies of the selected volumes, ready for the core.

    Attributes:
        images: modality -> 3-D ``SimpleITK.Image`` in LPS (copies), in channel order.
        reference: the reference modality (user's choice, else the default order).
        node_ids: modality -> ID of the volume node it came from.
        names: modality -> node name, for messages.
    """

    images: dict[str, sitk.Image]
    reference: str
    node_ids: dict[str, str]
    names: dict[str, str]

    @property
    def modalities(self) -> list[str]:
        return list(self.images)

    def to_study(self):
        """The core's ``braintumorai.study.Study`` of these images."""
        from braintumorai.study import Study

        return Study(images=dict(self.images), names=dict(self.names))


def selected_volume_nodes(volume_nodes: Mapping[str, object]) -> dict[str, object]:
    """Modality -> node for the modalities that have a node, in channel order.

    Refuses an unknown modality name and the same node selected twice.
    """
    chosen: dict[str, object] = {}
    for name, node in volume_nodes.items():
        modality = normalise_modality(name)
        if node is None:
            continue
        if node.GetClassName() != INPUT_CLASS:
            raise InputError(
                f"'{node.GetName()}' selected for {modality} is a {node.GetClassName()}, not a plain scalar volume; "
                "select the volume of one MRI, CT or PET series."
            )
        for other, other_node in chosen.items():
            if other_node is node or other_node.GetID() == node.GetID():
                raise InputError(
                    f"Volume '{node.GetName()}' is selected for both {other} and {modality}; "
                    "choose a different volume for one of them."
                )
        chosen[modality] = node
    return {m: chosen[m] for m in MODALITIES if m in chosen}


def collect_inputs(volume_nodes: Mapping[str, object], reference: Optional[str] = None) -> CollectedInputs:
    """Copy the selected volume nodes into SimpleITK images.

    ``volume_nodes``: modality -> scalar volume node or None (absent modality).
    ``reference``: modality of the reference volume; None or "Auto" picks the
    first present of T1C, T1, FLAIR, T2, CT, PET.

    Raises InputError when no volume is selected, a modality is unknown, a node
    is used twice or has no voxels, or the reference is not among the inputs.
    """
    nodes = selected_volume_nodes(volume_nodes)
    if not nodes:
        raise InputError("No input volume is selected; select at least one modality.")
    if reference is not None and reference.strip().lower() in AUTOMATIC_REFERENCE:
        reference = None
    reference_modality = choose_reference(list(nodes), reference)
    images = {m: sitk_image_from_volume_node(node) for m, node in nodes.items()}
    return CollectedInputs(
        images=images,
        reference=reference_modality,
        node_ids={m: node.GetID() for m, node in nodes.items()},
        names={m: node.GetName() for m, node in nodes.items()},
    )


@dataclasses.dataclass
class AutoAssignment:
    """Result of matching volume nodes to modalities by name.

    Attributes:
        assigned: modality -> node, only where exactly one node matched.
        ambiguous: modality -> names of the nodes that all matched it (none assigned).
        unmatched: names of volumes whose modality could not be told.
    """

    assigned: dict[str, object]
    ambiguous: dict[str, list[str]]
    unmatched: list[str]

    def summary(self) -> str:
        """One line for the status label."""
        parts = []
        if self.assigned:
            parts.append("assigned " + ", ".join(f"{m}: {n.GetName()}" for m, n in self.assigned.items()))
        else:
            parts.append("no volume could be assigned by name")
        for modality, names in self.ambiguous.items():
            parts.append(f"{modality} is ambiguous ({', '.join(names)}), choose it by hand")
        if self.unmatched:
            parts.append("not recognised: " + ", ".join(self.unmatched))
        return "; ".join(parts) + "."


def input_volume_nodes(scene) -> list:
    """The scene's volumes a modality selector can show: exactly ``vtkMRMLScalarVolumeNode``
    (no label map, vector, tensor or DWI volume), not hidden, not made by this module."""
    nodes = scene.GetNodesByClass(INPUT_CLASS)
    found = []
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        if node.GetClassName() == INPUT_CLASS and not node.GetAttribute(OUTPUT_ATTRIBUTE) \
                and not node.GetHideFromEditors():
            found.append(node)
    return found


def auto_assign(scene, nodes: Optional[list] = None) -> AutoAssignment:
    """Match volumes (``nodes``, default all :func:`input_volume_nodes` of the scene) to
    modalities by their node names."""
    matches: dict[str, list] = {}
    unmatched: list[str] = []
    for node in input_volume_nodes(scene) if nodes is None else nodes:
        modality = guess_modality(node.GetName() or "", path=False)
        if modality is None:
            unmatched.append(node.GetName())
        else:
            matches.setdefault(modality, []).append(node)
    assigned = {m: matches[m][0] for m in MODALITIES if len(matches.get(m, [])) == 1}
    ambiguous = {m: [n.GetName() for n in matches[m]] for m in MODALITIES if len(matches.get(m, [])) > 1}
    return AutoAssignment(assigned=assigned, ambiguous=ambiguous, unmatched=unmatched)
