"""A study (one patient, one time point) and its way onto the model grid.

    files / Slicer nodes -> Study -> align() -> AlignedStudy -> model_input() -> ModelInput
                                   (reference grid)            (model grid, normalised)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from . import geometry
from .brain_extraction import EXTRACTION_ORDER, looks_skull_stripped
from .brain_mask import estimate_brain_mask
from .errors import GeometryError, InputError
from .io import INJECTED_DOSE_KEY, check_image, read_image
from .modalities import MODALITIES, assign_modalities, choose_reference, normalise_modality
from .model_grid import ModelGrid, to_model
from .normalization import NormalisationInfo, normalise
from .registration import register_rigid


@dataclass
class Study:
    """Volumes of one patient at one time point.

    Attributes:
        images: modality -> 3-D ``SimpleITK.Image`` in any geometry.
        brain_mask: optional uint8 mask in any geometry overlapping the images.
        names: modality -> where the volume came from (file or node name), for messages.
        metadata: modality -> dict (e.g. PET ``units``, ``patient_weight_kg``, ``injected_dose_bq``).
    """

    images: dict[str, sitk.Image]
    brain_mask: Optional[sitk.Image] = None
    names: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.images:
            raise InputError("No volume was given; assign at least one modality.")
        self.names = {normalise_modality(k): v for k, v in self.names.items()}
        checked = {}
        for name, image in self.images.items():
            modality = normalise_modality(name)
            if modality in checked:
                raise InputError(f"{modality} was given twice; keep one volume per modality.")
            checked[modality] = check_image(image, self.names.get(modality, modality))
        self.images = {m: checked[m] for m in MODALITIES if m in checked}

    @property
    def modalities(self) -> list[str]:
        return list(self.images)

    @classmethod
    def from_files(
        cls,
        files: Union[Mapping[str, Union[str, os.PathLike, sitk.Image]], Sequence[str]],
        brain_mask: Optional[Union[str, os.PathLike, sitk.Image]] = None,
        metadata: Optional[Mapping[str, dict]] = None,
    ) -> "Study":
        """Read a study: a mapping modality -> path or ``SimpleITK.Image``, or paths whose
        names tell the modality (``*_t1c.nii.gz``, ``*-t2f.nii.gz``, ``CT1.nii.gz`` ...).

        ``metadata``: modality -> dict added to what the files say (e.g. PET
        ``{"patient_weight_kg": 70, "injected_dose_bq": 3.7e8}`` for SUV from Bq/mL).
        Every image, read or given, passes the same checks (:func:`braintumorai.io.check_image`).
        """
        if isinstance(files, (str, os.PathLike, sitk.Image)):
            raise InputError("Give the volumes as a mapping modality -> file or image (e.g. {'T1C': 'case-t1c.nii.gz'}) "
                             "or as a list of files named by modality.")
        if isinstance(files, Mapping):
            sources = {normalise_modality(m): p for m, p in files.items()}
        else:
            sources = assign_modalities([str(p) for p in files])
        images, names, paths = {}, {}, {}
        for modality, source in sources.items():
            if isinstance(source, sitk.Image):
                images[modality], names[modality] = source, f"the {modality} image"
            elif isinstance(source, (str, os.PathLike)):
                paths[modality] = names[modality] = str(source)
            else:
                raise InputError(f"The {modality} input is a {type(source).__name__}; give a file path or a "
                                 "SimpleITK.Image.")
        # Files are read side by side: inflating, checking and ITK's reading release the GIL.
        with ThreadPoolExecutor(max_workers=max(1, min(4, len(paths)))) as pool:
            images.update(zip(paths, pool.map(read_image, paths.values())))
        images = {m: images[m] for m in sources}
        found = {m: pet_metadata(images[m]) for m in images if m == "PET"}
        for modality, extra in (metadata or {}).items():
            found.setdefault(normalise_modality(modality), {}).update(extra)
        mask = None
        if brain_mask is not None:
            mask_image = brain_mask if isinstance(brain_mask, sitk.Image) else read_image(brain_mask)
            mask = sitk.Cast(check_image(mask_image, "the brain mask") > 0.5, sitk.sitkUInt8)
        return cls(images=images, brain_mask=mask, names=names, metadata=found)


def pet_metadata(image: sitk.Image) -> dict:
    """PET units, patient weight and injected dose (decay-corrected to the scan start) from
    the DICOM tags the reader kept (see :func:`braintumorai.io.injected_dose_at_scan_start`)."""
    def tag(key: str) -> Optional[str]:
        return image.GetMetaData(key).strip() if image.HasMetaDataKey(key) else None

    def number(key: str) -> Optional[float]:
        try:
            return float(tag(key)) if tag(key) else None
        except ValueError:  # a malformed tag is treated as missing
            return None

    metadata: dict = {}
    if tag("0054|1001"):
        metadata["units"] = tag("0054|1001")
    if number("0010|1030"):
        metadata["patient_weight_kg"] = number("0010|1030")
    if number(INJECTED_DOSE_KEY):
        metadata["injected_dose_bq"] = number(INJECTED_DOSE_KEY)
    return metadata


@dataclass
class AlignedStudy:
    """Every volume on the reference grid.

    Attributes:
        reference: the reference modality.
        images: modality -> image on the reference grid (float32).
        brain_mask: uint8 mask on the reference grid.
        status: modality -> 'yes' | 'resampled' | 'registered' (see ``geometry``).
        overlap: modality -> share of content overlap with the reference before alignment.
        transforms: modality -> rigid transform found by registration (reference -> modality).
        warnings: doubts about the input found by the plausibility checks (sentences).
        skull_stripped: False when the study came with the head (the mask was then extracted).
        widen_set: True when a warning says the model cannot fully judge the input (part of
            the brain, a clipped or inverted volume): the prediction set is then widened.
        brain_source: where the mask came from: 'given', 'estimated' or the modality it was
            extracted from.
    """

    reference: str
    images: dict[str, sitk.Image]
    brain_mask: sitk.Image
    status: dict[str, str]
    overlap: dict[str, float]
    names: dict[str, str]
    metadata: dict[str, dict]
    transforms: dict[str, sitk.Transform] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skull_stripped: bool = True
    brain_source: str = "estimated"
    widen_set: bool = False

    @property
    def reference_image(self) -> sitk.Image:
        return self.images[self.reference]


def align(study: Study, reference: Optional[str] = None, register: bool = False) -> AlignedStudy:
    """Bring every volume of ``study`` onto the reference grid (imaging contract 1-2).

    Same grid: used as is. Overlapping, other grid: resampled (linear). Barely
    overlapping: ``GeometryError``, unless ``register`` asks for rigid registration.
    The study's own images are never modified.
    """
    reference = choose_reference(study.modalities, reference)
    fixed = study.images[reference]
    images, status, overlap, transforms = {}, {}, {}, {}
    for modality, image in study.images.items():
        check = geometry.check_coregistration(image, fixed)
        overlap[modality] = check.overlap
        if check.status == geometry.SAME_GRID:
            images[modality] = image
        elif register and modality != reference:
            transforms[modality] = register_rigid(fixed, image)
            images[modality] = geometry.resample_onto(image, fixed, transforms[modality])
            check = geometry.CoregistrationCheck(geometry.REGISTERED, check.overlap)
        elif check.status == geometry.RESAMPLED:
            images[modality] = geometry.resample_onto(image, fixed)
        else:
            name = study.names.get(modality, modality)
            raise GeometryError(
                f"{modality} ('{name}') is not co-registered with the reference {reference} "
                f"(only {check.overlap:.0%} of its content overlaps); register it to the reference "
                "first, or ask for rigid registration."
            )
        status[modality] = check.status
    if study.brain_mask is not None:
        mask = sitk.Cast(
            geometry.resample_onto(study.brain_mask, fixed, interpolator=sitk.sitkNearestNeighbor,
                                   pixel_type=sitk.sitkUInt8),
            sitk.sitkUInt8,
        )
        if not np.any(sitk.GetArrayViewFromImage(mask)):
            raise InputError("The brain mask does not overlap the reference volume; give the mask of this study.")
        return AlignedStudy(reference, images, mask, status, overlap, dict(study.names), dict(study.metadata),
                            transforms, brain_source="given")
    # A raw study (with the head) gets its brain extracted; a skull-stripped one its non-zero voxels.
    source = next((m for m in EXTRACTION_ORDER if m in images), None)
    try:
        stripped, extracted = looks_skull_stripped(images[source], source) if source else (True, None)
    except InputError as error:  # the extraction's reason, said of the file it read
        raise InputError(f"{source} ('{study.names.get(source, source)}'): {error}") from None
    mask = estimate_brain_mask(fixed) if stripped else extracted
    return AlignedStudy(reference, images, mask, status, overlap, dict(study.names), dict(study.metadata), transforms,
                        skull_stripped=stripped, brain_source="estimated" if stripped else source)


@dataclass
class ModelInput:
    """A study on the model grid, ready for the network.

    Attributes:
        channels: float32 array (M, D, H, W), M = len(modalities); absent channels are 0.
        present: bool array (M,).
        modalities: the channel order.
        grid: empty image carrying the model grid's geometry (for ``model_grid.to_reference``).
        brain: bool array (D, H, W), the brain mask on the model grid.
        normalisation: modality -> what was done.
    """

    channels: np.ndarray
    present: np.ndarray
    modalities: tuple[str, ...]
    grid: sitk.Image
    brain: np.ndarray
    normalisation: dict[str, NormalisationInfo]


def model_input(
    aligned: AlignedStudy, grid: ModelGrid, modalities: Sequence[str] = MODALITIES
) -> ModelInput:
    """Resample and normalise an aligned study onto the model grid (imaging contract 3-4)."""
    modalities = tuple(modalities)
    unknown = [m for m in aligned.images if m not in modalities]
    if len(unknown) == len(aligned.images):
        raise InputError(
            f"The model reads {', '.join(modalities)}, and none of the given volumes ({', '.join(unknown)}) is among them."
        )
    placed = grid.place(aligned.reference_image, aligned.brain_mask)
    brain = to_model(aligned.brain_mask, placed, sitk.sitkNearestNeighbor) > 0.5
    channels = np.zeros((len(modalities),) + brain.shape, np.float32)
    present = np.zeros(len(modalities), bool)
    infos = {}
    for index, modality in enumerate(modalities):
        if modality not in aligned.images:
            continue
        array = to_model(aligned.images[modality], placed)
        try:
            channels[index], infos[modality] = normalise(modality, array, brain, aligned.metadata.get(modality))
        except InputError as error:  # say which volume
            raise InputError(f"{modality} ('{aligned.names.get(modality, modality)}'): {error}") from None
        present[index] = True
    return ModelInput(channels, present, modalities, placed, brain, infos)
