"""The Classify pipeline: a study in, a ``ClassificationResult`` out.

    Classifier.load()            bundled default model (or a checkpoint path / registry name)
    classifier.predict(study)    align -> model grid -> network -> calibrated probabilities,
                                 prediction set, modality weights, saliency on the reference grid
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from . import plausibility
from .content_agreement import agreement_findings
from .errors import GeometryError, InputError, ModelError
from .modalities import normalise_modality
from .model_grid import ModelGrid, maps_to_reference
from .ood import modality_vectors, ood_warning, study_distances, widened_prediction_set
from .results import ClassificationResult
from .study import AlignedStudy, ModelInput, Study, align, model_input

SALIENCY_METHODS = ("layercam", "gradcam", "gradcam++", "occlusion")

ProgressCallback = Callable[[str, float], None]


@dataclass
class StudyEmbedding:
    """What :meth:`Classifier.embed` returns.

    Attributes:
        vector: float32 ``(2E,)``, the classifier head's pooled features of the study.
        modalities: the modalities that were read, in channel order.
        probabilities: calibrated class probabilities of the same forward pass.
        warnings: the plausibility checks' doubts about the study (sentences).
    """

    vector: np.ndarray
    modalities: list[str]
    probabilities: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def default_device() -> str:
    """'cuda' when a CUDA GPU is usable, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> str:
    """``device`` if this machine has it; else one clear ``InputError``."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"Unknown device '{device}'; use 'cpu', 'cuda' or 'cuda:N'.") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError("CUDA was asked for but no CUDA GPU is usable here; use device='cpu'.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InputError(f"There is no GPU {parsed.index} (this machine has {torch.cuda.device_count()}); "
                             "use 'cuda:0' or 'cpu'.")
    elif parsed.type != "cpu":
        raise InputError(f"Device '{device}' is not supported; use 'cpu', 'cuda' or 'cuda:N'.")
    return device


class Classifier:
    """A loaded classifier and its model card.

    Use :meth:`load`; ``predict`` takes a :class:`~braintumorai.study.Study` (or a
    mapping modality -> path or SimpleITK.Image, or a list of paths named by modality).
    """

    def __init__(self, model, card: dict, device: str) -> None:
        self.model = model.eval()
        self.card = card
        self.device = device
        # Channel order and class order come from the network (the card only describes them).
        self.classes: tuple[str, ...] = tuple(model.classes)
        self.modalities: tuple[str, ...] = tuple(model.modalities)
        self.grid = ModelGrid(tuple(card["spacing_mm"]), tuple(card["grid_size"]))
        # Temperature and conformal threshold, pooled and per modality subset (see
        # braintumorai.calibration.calibration_for).
        self.calibration: dict = dict(card.get("calibration", {}))
        self.coverage = self.calibration.get("coverage")
        # Autocast type of the forward pass on CUDA ('float16', 'bfloat16', or 'float32' for
        # none); the CPU always runs float32.
        self.precision = "float16"

    @classmethod
    def load(cls, model: Optional[str] = None, device: Optional[str] = None) -> "Classifier":
        """Load the bundled default model, a registry name, or a checkpoint path
        (``.pt`` beside its ``.json`` card). ``device`` defaults to CUDA when present."""
        from .checkpoints import load_checkpoint, resolve_model

        device = check_device(device or default_device())
        network, card = load_checkpoint(resolve_model(model), device=device)
        return cls(network, card, device)

    def predict(
        self,
        study: Union[Study, Mapping[str, object], Sequence[str]],
        saliency: Optional[str] = "layercam",
        target_class: Optional[str] = None,
        reference: Optional[str] = None,
        register: bool = False,
        progress: Optional[ProgressCallback] = None,
    ) -> ClassificationResult:
        """Classify one study.

        Args:
            study: the volumes (any non-empty subset of the model's modalities): a Study, a
                mapping modality -> path or ``SimpleITK.Image``, or paths named by modality.
                A volume that is implausible for its modality is refused (``InputError``)
                or named in the result's ``warnings`` (:mod:`braintumorai.plausibility`).
            saliency: 'layercam' (fine, the default), 'gradcam', 'gradcam++', 'occlusion' or None.
            target_class: class the maps explain (default: the predicted class).
            reference: reference modality (default: first present of T1C, T1, FLAIR, T2, CT, PET).
            register: rigidly register volumes that do not overlap the reference.
            progress: called with (stage, fraction done) for a progress bar.
        """
        import torch

        if saliency is not None and saliency not in SALIENCY_METHODS:
            raise InputError(f"Unknown saliency method '{saliency}'; use one of {', '.join(SALIENCY_METHODS)}.")
        if saliency is not None and saliency != "layercam":  # LayerCAM needs torch only
            _import_in_background("monai.visualize")
        report = progress or (lambda stage, fraction: None)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        aligned, prepared = self.prepare(study, reference, register, report)
        timings["preprocess_s"] = time.perf_counter() - start

        x = torch.from_numpy(prepared.channels[None]).to(self.device)
        present = torch.from_numpy(prepared.present[None]).to(self.device)
        report("Classifying", 0.4)
        tick = time.perf_counter()
        try:
            with torch.no_grad(), autocast(self.device, self.precision):
                fused, modality_weights, _, used_flags, modality_feats = self.model.forward_features(x, present)
                output_logits = self.model.classify(self.model.fusion_output(fused))
                vectors = modality_vectors(self.model, modality_feats, used_flags)
        except torch.cuda.OutOfMemoryError:
            raise ModelError("The GPU ran out of memory; close other GPU programs or run on the CPU.") from None
        logits = output_logits.float()[0].cpu().numpy()
        weights = modality_weights.float()[0].cpu().numpy()
        timings["inference_s"] = time.perf_counter() - tick

        from .calibration import apply_temperature, calibration_for, conformal_prediction_set, normalised_entropy

        used = [m for m, p in zip(self.modalities, prepared.present) if p]
        temperature, threshold = calibration_for(self.calibration, used)
        probabilities = apply_temperature(logits, temperature)
        predicted = int(np.argmax(probabilities))
        in_set = np.zeros(len(self.classes), bool)
        in_set[predicted] = True
        if threshold is not None:
            in_set = conformal_prediction_set(probabilities, threshold)
        warnings = list(aligned.warnings)
        weak = weak_subset_warning(self.card, used)
        if weak:
            warnings.append(weak)
        if not aligned.skull_stripped:
            warnings.append(f"The study was not skull-stripped: the brain was extracted from {aligned.brain_source} "
                            "(returned as the brain mask); check it before trusting the result.")
        ood_score_value, ood_flag = None, None
        if self.card.get("ood"):
            from .ood_image import image_features

            features = image_features(prepared.channels, prepared.present, prepared.brain, prepared.grid.GetSpacing())
            distances = study_distances(self.card["ood"], self.modalities, vectors, features[None])[0]
            if not np.isnan(distances).all():  # a card without statistics for these modalities: no score
                ood_score_value = float(np.nanmax(distances))
                ood_flag = bool(ood_score_value > float(self.card["ood"]["threshold"]))
            if ood_flag:
                # The conformal guarantee holds for studies like the calibration data; for one
                # that is not, show the doubt: every class needed to hold the coverage's mass.
                coverage = self.coverage if self.coverage is not None else 0.9
                before = [c for c, keep in zip(self.classes, in_set) if keep]
                in_set |= widened_prediction_set(probabilities, coverage)
                warnings.append(ood_warning(ood_score_value, self.card["ood"]["threshold"], coverage, before,
                                            [c for c, keep in zip(self.classes, in_set) if keep],
                                            self.card["ood"].get("flag_quantile")))
        if aligned.widen_set:
            # An input the model was not made for (part of the brain, a clipped or inverted
            # volume): its probabilities say nothing reliable there (a half brain read as 0.92
            # metastasis), so the set holds every class.
            in_set[:] = True
        prediction_set = [c for c, keep in zip(self.classes, in_set) if keep]

        maps = {}
        target = predicted if target_class is None else self._class_index(target_class)
        if saliency is not None:
            report("Computing saliency maps", 0.6)
            tick = time.perf_counter()
            try:
                maps = self._saliency(x, present, prepared, aligned.reference_image, target, saliency)
            except torch.cuda.OutOfMemoryError:
                raise ModelError("The GPU ran out of memory computing the saliency maps; close other GPU "
                                 "programs, run on the CPU, or classify without saliency.") from None
            timings["saliency_s"] = time.perf_counter() - tick
        timings["total_s"] = time.perf_counter() - start
        report("Done", 1.0)
        return ClassificationResult(
            classes=list(self.classes),
            probabilities=[float(p) for p in probabilities],
            predicted=self.classes[predicted],
            uncertainty=float(normalised_entropy(probabilities)),
            prediction_set=prediction_set,
            coverage=None if self.coverage is None else float(self.coverage),
            modality_weights={m: float(w) for m, w, p in zip(self.modalities, weights, prepared.present) if p},
            reference=aligned.reference,
            coregistration=dict(aligned.status),
            model={**{k: self.card.get(k) for k in ("name", "version", "sha256")},
                   "trained_on": (self.card.get("training_data") or {}).get("source")},
            timings=timings,
            saliency=maps,
            saliency_method=saliency,
            saliency_class=self.classes[target] if saliency is not None else None,
            ood_score=ood_score_value,
            ood_flag=ood_flag,
            warnings=warnings,
            skull_stripped=aligned.skull_stripped,
            brain_mask=None if aligned.skull_stripped else aligned.brain_mask,
        )

    def prepare(self, study: Union[Study, Mapping[str, object], Sequence[str]], reference: Optional[str] = None,
                register: bool = False, progress: Optional[ProgressCallback] = None) -> tuple[AlignedStudy, ModelInput]:
        """The Classify preprocessing: a study (or paths, or SimpleITK images) -> checked
        (:mod:`braintumorai.plausibility`: refused with an ``InputError``, or its doubts in
        ``aligned.warnings``) -> aligned on the reference grid -> on the model grid,
        normalised. Volumes of modalities the model does not read are left out."""
        report = progress or (lambda stage, fraction: None)
        if isinstance(study, (str, os.PathLike)):
            study = [study]
        if not isinstance(study, Study):  # paths or SimpleITK images
            study = Study.from_files(study)
        unused = [m for m in study.modalities if m not in self.modalities]
        if len(unused) == len(study.modalities):
            raise ModelError(
                f"This model reads {', '.join(self.modalities)}; none of the given volumes "
                f"({', '.join(unused)}) is among them: choose another model or add a supported modality."
            )
        if unused:
            # Volumes the model cannot read are left out before alignment, so they can neither
            # be the reference nor stop the run; the result's coregistration lists what was used.
            used = [m for m in study.modalities if m not in unused]
            study = Study({m: study.images[m] for m in used}, brain_mask=study.brain_mask,
                          names={m: n for m, n in study.names.items() if m in used},
                          metadata={m: d for m, d in study.metadata.items() if m in used})
        geometry = plausibility.geometry_findings(study.images, study.names)
        plausibility.enforce(geometry)  # refused before any compute
        report("Aligning volumes", 0.05)
        aligned = align(study, reference=reference, register=register)
        # Refused, or said in the result (aligned.warnings), before the network sees a voxel.
        content = plausibility.content_findings(aligned.images, aligned.brain_mask, aligned.names,
                                                aligned.skull_stripped)
        findings = geometry + agreement_findings(study.images, aligned.images, aligned.reference, aligned.brain_mask,
                                                 aligned.names, content)
        aligned.warnings = plausibility.enforce(findings)
        aligned.widen_set = any(f.widen for f in findings)
        report("Preparing the model grid", 0.2)
        try:
            return aligned, model_input(aligned, self.grid, self.modalities)
        except GeometryError as error:
            if "brain mask is empty" not in str(error):
                raise
            # The empty mask is the symptom; the volume it was made from is what the user can act on
            # (an MRI given as CT has no brain in the Hounsfield window).
            source = aligned.brain_source if aligned.brain_source in aligned.names else aligned.reference
            hint = ("check that it is a CT in Hounsfield units, or pass the volume as its real modality" if
                    source == "CT" else "check that it is the volume its name or --modality says")
            raise InputError(f"No brain was found in {source} ('{aligned.names.get(source, source)}'); "
                             f"{hint}.") from None

    def embed(
        self,
        study: Union[Study, ModelInput, Mapping[str, str], Sequence[str]],
        reference: Optional[str] = None,
        register: bool = False,
        progress: Optional[ProgressCallback] = None,
        modalities: Optional[Sequence[str]] = None,
    ) -> StudyEmbedding:
        """The study's image embedding for the prognosis model: the classifier head's pooled
        features, computed through exactly the Classify preprocessing (no saliency).

        ``study`` may also be a :class:`ModelInput` from :meth:`prepare` (embedding the same
        study several times costs one preprocessing); ``modalities`` reads only those of the
        present modalities (e.g. the MRI of a six-modality study).
        """
        import torch

        report = progress or (lambda stage, fraction: None)
        warnings: list[str] = []
        if isinstance(study, ModelInput):
            prepared = study
        else:
            aligned, prepared = self.prepare(study, reference, register, report)
            warnings = list(aligned.warnings)
        present_flags = prepared.present.copy()
        if modalities is not None:
            wanted = {normalise_modality(m) for m in modalities}
            present_flags &= np.array([m in wanted for m in self.modalities])
            if not present_flags.any():
                raise InputError(f"None of {', '.join(sorted(wanted))} is present in this study "
                                 f"({', '.join(m for m, p in zip(self.modalities, prepared.present) if p)}).")
        x = torch.from_numpy(prepared.channels[None]).to(self.device)
        present = torch.from_numpy(present_flags[None]).to(self.device)
        report("Embedding", 0.6)
        try:
            with torch.no_grad(), autocast(self.device, self.precision):
                fused = self.model.forward_features(x, present)[0]
                pooled = self.model.pooled_features(fused)
                logits = self.model.classifier(pooled)
        except torch.cuda.OutOfMemoryError:
            raise ModelError("The GPU ran out of memory; close other GPU programs or run on the CPU.") from None
        from .calibration import apply_temperature, calibration_for

        used = [m for m, p in zip(self.modalities, present_flags) if p]
        temperature, _ = calibration_for(self.calibration, used)
        probabilities = apply_temperature(logits.float()[0].cpu().numpy(), temperature)
        report("Done", 1.0)
        return StudyEmbedding(vector=pooled.float()[0].cpu().numpy(), modalities=used,
                              probabilities=dict(zip(self.classes, (float(p) for p in probabilities))),
                              warnings=warnings)

    def _class_index(self, name: str) -> int:
        if name not in self.classes:
            raise InputError(f"Unknown class '{name}'; this model knows {', '.join(self.classes)}.")
        return self.classes.index(name)

    def _saliency(self, x, present, prepared, reference_image, target: int, method: str) -> dict:
        """Maps on the model grid -> maps on the reference grid, 'fused' plus one per present modality."""
        from . import saliency as saliency_maps

        if method == "occlusion":
            fused, per_modality = saliency_maps.occlusion(self.model, x, present, class_index=target)
        elif method == "layercam":
            fused, per_modality = saliency_maps.layercam(self.model, x, present, class_index=target)
        else:
            fused, per_modality = saliency_maps.gradcam(self.model, x, present, class_index=target, method=method)
        brain = prepared.brain
        on_grid = {"fused": fused, **per_modality}
        # All maps in one pass (they share the grids' geometry and the brain's support).
        return maps_to_reference({name: np.where(brain, array, np.float32(0.0)).astype(np.float32, copy=False)
                                  for name, array in on_grid.items()}, prepared.grid, reference_image)


def _import_in_background(module: str) -> None:
    """Start importing ``module`` in a background thread. MONAI imports all its submodules
    (1-2 s on a laptop CPU); begun here, that overlaps reading and resampling the
    volumes, whose SimpleITK calls release the GIL. A failure is left for the real
    import to report."""
    import importlib
    import threading

    def run() -> None:
        try:
            importlib.import_module(module)
        except Exception:  # reported by the import that needs the module
            pass

    # Not a daemon: a process that ends early (bad input, Ctrl-C) waits for the import to
    # finish instead of killing the thread inside C++ code (which aborts Python, exit -6).
    threading.Thread(target=run, name=f"import {module}", daemon=False).start()


def autocast(device: str, precision: str = "float16"):
    """Mixed precision on CUDA (faster, half the memory): ``precision`` 'float16' or
    'bfloat16'; 'float32' (and the CPU) run in full precision."""
    import contextlib

    import torch

    if device.startswith("cuda") and precision in ("float16", "bfloat16"):
        return torch.autocast("cuda", dtype=getattr(torch, precision))
    return contextlib.nullcontext()


# Below this accuracy on the card's test phantoms a modality subset's answer is not one to rely on.
WEAK_SUBSET_ACCURACY = 0.6


def weak_subset_warning(card: Mapping, used: Sequence[str]) -> Optional[str]:
    """One sentence when the card measured the present modality subset below
    ``WEAK_SUBSET_ACCURACY`` (e.g. T1 alone: a healthy brain cannot be told from a tumour
    with confidence), else None; None too for a card without per-subset figures."""
    subsets = (card.get("metrics") or {}).get("subsets", {})
    subset = subsets.get("+".join(used)) or (subsets.get(f"{used[0]} only") if len(used) == 1 else None)
    if not isinstance(subset, Mapping) or subset.get("accuracy") is None:
        return None
    accuracy = float(subset["accuracy"])
    if accuracy >= WEAK_SUBSET_ACCURACY:
        return None
    return (f"With {' + '.join(used)} alone the model was right on {accuracy:.0%} of its test phantoms, so its "
            "answer here cannot be relied on; add T1C and FLAIR if the study has them.")
