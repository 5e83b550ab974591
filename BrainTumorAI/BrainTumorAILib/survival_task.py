"""Predict survival: the patient's visits -> ``braintumorai prognose`` in a child process.

    visits = planned_visits(rows)                   # ticked rows, days, treatments received
    task = start_survival(visits, {"age": 61, "sex": "F", "kps": 80}, SurvivalOptions(device="cpu"))
    ...                                             # GUI thread polls task.poll()
    nodes = survival_result_nodes(scene, task.poll().result.data, reference_node)

Each visit's volumes are copied in the GUI thread (parent transforms hardened into the
copy, the user's nodes untouched) and written as NRRD files into the task's work folder.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping, Optional

import SimpleITK as sitk

from braintumorai.errors import InputError
from braintumorai.survival.visit_features import TREATMENTS

from .process_task import CommandTask, new_work_folder
from .visits import StudyVisit
from .volume_conversion import sitk_image_from_volume_node


@dataclasses.dataclass
class SurvivalOptions:
    """``model``: None for the bundled prognosis model, a registry name or a checkpoint path;
    ``device``: 'cpu', 'cuda', or None for CUDA when present."""

    model: Optional[str] = None
    device: Optional[str] = None


@dataclasses.dataclass
class SurvivalOutput:
    """``data``: survival.json as the command wrote it; ``folder``: where (with survival.png)."""

    data: dict
    folder: Path


def write_visit_files(visits: list[StudyVisit], folder: Path) -> list[tuple[float, dict[str, str]]]:
    """Copy each visit's volumes (and segmentation) into NRRD files under ``folder``.

    Returns ``[(day, {modality or 'seg': path relative to folder's parent})]`` in visit order.
    """
    written = []
    for index, visit in enumerate(visits, start=1):
        files = {}
        sources = dict(visit.volumes)
        if visit.segmentation is not None:
            sources["seg"] = visit.segmentation
        for name, node in sources.items():
            image = sitk_image_from_volume_node(node)
            if name == "seg":
                image = sitk.Cast(image, sitk.sitkUInt8)
            path = folder / f"visit{index}" / f"{name}.nrrd"
            path.parent.mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(image, str(path), False)
            files[name] = path.relative_to(folder.parent).as_posix()
        written.append((float(visit.day), files))
    return written


def prognose_arguments(visit_files: list[tuple[float, dict[str, str]]], visits: list[StudyVisit],
                       clinical: Mapping, out: str, options: SurvivalOptions) -> list[str]:
    """The ``braintumorai prognose`` command line: one ``--visit`` per visit, each treatment
    from the first visit that received it (the command gives it to every later visit too)."""
    arguments = ["prognose"]
    for day, files in visit_files:
        arguments.append(f"--visit={day:g}:" + ",".join(f"{name}={path}" for name, path in files.items()))
    for kind in TREATMENTS:
        days = [float(v.day) for v in visits if kind in v.treatments]
        if days:
            arguments.append(f"--treatment={min(days):g}:{kind}")
    for key in ("age", "sex", "kps"):
        if clinical.get(key) is not None:
            arguments.append(f"--{key}={clinical[key]}")
    arguments.append(f"--out={out}")
    if options.model:
        arguments.append(f"--model={options.model}")
    if options.device:
        arguments.append(f"--device={options.device}")
    return arguments


def read_survival(folder: Path) -> SurvivalOutput:
    """Read survival.json from ``folder``."""
    path = Path(folder) / "survival.json"
    try:
        return SurvivalOutput(json.loads(path.read_text(encoding="utf-8")), Path(folder))
    except (OSError, ValueError) as error:
        raise InputError(f"The survival prediction left no readable {path} ({error}); predict survival again.") from None


def start_survival(visits: list[StudyVisit], clinical: Mapping, options: SurvivalOptions,
                   work_root: Optional[str] = None, python: Optional[str] = None) -> CommandTask:
    """Write the visits' volumes and start ``braintumorai prognose`` in a child process.

    ``visits``: from ``planned_visits`` (ticked, with days and treatments received).
    ``clinical``: age (years), sex ('M'/'F'), kps (0-100); None where unknown.
    Returns the running ``CommandTask``; its result, once done, is a :class:`SurvivalOutput`.
    """
    if not visits:
        raise InputError("No visit is ticked in the visits table; tick at least one study.")
    work = new_work_folder("prognose-", work_root)
    visit_files = write_visit_files(visits, work / "inputs")
    arguments = prognose_arguments(visit_files, visits, clinical, "out", options)
    task = CommandTask(arguments, work, on_done=lambda folder: read_survival(folder / "out"),
                       python=python, name="Survival prediction")
    task.visits = visits
    return task.start()
