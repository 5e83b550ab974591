"""Write the report: one self-contained HTML page plus its figures as PNG files.

    from braintumorai.report import read_classification_folder, write_report
    data, maps = read_classification_folder("results/")          # result.json + saliency_*.nii.gz
    files = write_report("report/", classification=data, saliency=maps, reference="case-t1c.nii.gz",
                         survival="prognosis/survival.json", identifiers={"Patient ID": "P-17"})
    files["report"]   # Path of report/report.html; files["saliency_fused"], files["survival"], ... the PNGs

The same call serves the command line, the Slicer module and a later web viewer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import SimpleITK as sitk

from .. import __version__
from ..errors import InputError
from ..io import atomic_output, read_image
from . import figures, html
from .slices import background_window, lps_volume, on_grid
from .wording import class_name

REPORT_FILE = "report.html"
ImageLike = Union[sitk.Image, str, os.PathLike]


def _as_image(value: ImageLike, what: str) -> sitk.Image:
    if isinstance(value, sitk.Image):
        return value
    if isinstance(value, (str, os.PathLike)):
        return read_image(value)
    raise InputError(f"The {what} must be a SimpleITK image or a file path, not {type(value).__name__}.")


def _as_dict(value: Any, file_name: str, what: str) -> dict:
    """A result given as a dict, a result object (``to_dict``), a JSON file or its folder."""
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        path = path / file_name if path.is_dir() else path
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(f"Cannot read the {what} '{path}' ({error}); give the {file_name} the command wrote.") from None
    raise InputError(f"The {what} must be a dict, a result object or a path to {file_name}, not {type(value).__name__}.")


def read_classification_folder(folder: Union[str, os.PathLike]) -> tuple[dict, dict[str, sitk.Image]]:
    """``(result.json as a dict, {map name: SimpleITK image})`` of a folder ``braintumorai classify`` wrote.

    The maps are found beside result.json by their file names (``saliency_<name>.nii.gz``),
    so a folder that was moved or copied still reads.
    """
    folder = Path(folder)
    data = _as_dict(folder, "result.json", "classification result")
    maps = {}
    for name, path in (data.get("saliency") or {}).items():
        local = folder / Path(str(path)).name
        if not local.is_file():
            raise InputError(f"The saliency map '{local}' named by {folder / 'result.json'} is missing; "
                             "classify the study again.")
        maps[name] = _read_map(local)
    return data, maps


def _read_map(path: Path) -> sitk.Image:
    """A saliency map this product wrote. Not :func:`read_image`: a map that is 0 everywhere
    (below one quantisation step, the report's "Nothing drawn") is a result, not an empty input."""
    try:
        return sitk.Cast(sitk.ReadImage(str(path)), sitk.sitkFloat32)
    except RuntimeError:
        raise InputError(f"The saliency map '{path}' cannot be read (damaged); classify the study again.") from None


def _write(path: Path, payload: bytes) -> Path:
    with atomic_output(path) as temporary:
        temporary.write_bytes(payload)
    return path


def _saliency_figures(data: Mapping, saliency: Mapping[str, ImageLike], reference: sitk.Image,
                      images: Mapping[str, ImageLike], lesion: Optional[ImageLike]) -> dict[str, bytes]:
    """One figure per map: the fused map over the reference volume, each modality's map over
    that modality (resampled onto the reference grid when it lies on another)."""
    background_of = {name: on_grid(_as_image(image, f"{name} volume"), reference) for name, image in images.items()}
    mask = None
    if lesion is not None:
        mask, _ = lps_volume(on_grid(_as_image(lesion, "lesion mask"), reference, sitk.sitkNearestNeighbor))
    reference_volume, spacing = lps_volume(reference)
    method, target = data.get("saliency_method") or "saliency", data.get("saliency_class") or data.get("predicted")
    reference_name = str(data.get("reference") or "reference")
    out = {}
    for name, value in saliency.items():
        heat, _ = lps_volume(on_grid(_as_image(value, f"saliency map '{name}'"), reference))
        if name in background_of:
            background, _ = lps_volume(background_of[name])
            shown_on = name
        else:
            background, shown_on = reference_volume, reference_name
        window, window_text = background_window(background, shown_on)
        peak = float(heat.max()) if heat.size else 0.0
        scale_text = f"(its peak: {peak:.3f} on the fused map's scale)" if name != "fused" else f"(peak {peak:.2f})"
        label = "Fused map" if name == "fused" else f"{name} map"
        title = f"{label} over {shown_on} ({method}, class {class_name(str(target))})"
        out[f"saliency_{name}"] = figures.saliency_figure(background, heat, spacing, title, lesion=mask, window=window,
                                                          window_text=window_text, scale_text=scale_text)
    return out


def write_report(
    out_dir: Union[str, os.PathLike],
    *,
    classification: Any = None,
    saliency: Optional[Mapping[str, ImageLike]] = None,
    reference: Optional[ImageLike] = None,
    images: Optional[Mapping[str, ImageLike]] = None,
    lesion: Optional[ImageLike] = None,
    survival: Any = None,
    identifiers: Optional[Mapping[str, Any]] = None,
    title: str = "BrainTumorAI report",
) -> dict[str, Path]:
    """Write ``report.html`` (self-contained: figures inlined as base64 PNG) and the figures as
    PNG files into ``out_dir``; each file is written whole (temporary file, then rename), the
    HTML last, so a report.html on disk always has its figures beside it.

    Args:
        out_dir: the folder (created when missing; files of an earlier report are replaced).
        classification: ``result.json`` of ``braintumorai classify`` as a dict, a
            ``ClassificationResult``, or the path of result.json or of its folder.
        saliency: map name ('fused', 'T1C', ...) -> map (image or path) on or over the reference
            grid; None reads the maps named in ``classification`` when it was given as a path.
        reference: the reference volume the maps were computed on (image or path); needed
            with ``saliency``.
        images: modality -> that modality's volume, drawn under its own map (else the
            reference is); any grid, resampled onto the reference.
        lesion: a tumour mask or label map (non-zero = lesion): its outline is drawn and a
            second row of slices goes through its centre.
        survival: ``survival.json`` of ``braintumorai prognose`` as a dict, a
            ``SurvivalPrediction`` or a path.
        identifiers: label -> value shown as given (patient name, ID, study date ...).
        title: the page's heading.

    Returns:
        ``{"report": html path, "probabilities": ..., "modality_weights": ...,
        "saliency_<name>": ..., "survival": ...}``: the files written (figures only for
        what was given).

    Raises:
        InputError: nothing to report, maps without their reference volume, unreadable input.
    """
    if classification is None and survival is None:
        raise InputError("A report needs a classification result, a survival prediction or both; give at least one.")
    out = Path(out_dir)
    pngs: dict[str, bytes] = {}
    sections = []
    models = []
    if classification is not None:
        from_folder = isinstance(classification, (str, os.PathLike)) and saliency is None
        if from_folder:
            folder = Path(classification)
            data, saliency = read_classification_folder(folder if folder.is_dir() else folder.parent)
        else:
            data = _as_dict(classification, "result.json", "classification result")
        pngs["probabilities"] = figures.probabilities_figure(data["classes"], data["probabilities"],
                                                             data.get("prediction_set") or [], data.get("coverage"))
        if data.get("modality_weights"):
            pngs["modality_weights"] = figures.weights_figure(data["modality_weights"])
        if saliency:
            if reference is None:
                raise InputError("The saliency maps need the reference volume they were computed on; pass reference=.")
            pngs.update(_saliency_figures(data, saliency, _as_image(reference, "reference volume"), images or {}, lesion))
        sections.append(html.classification_section(data, pngs))
        models.append(("tumour classifier", data.get("model")))
    if survival is not None:
        from ..survival.figure import draw_survival

        prediction = _as_dict(survival, "survival.json", "survival prediction")
        with atomic_output(out / "survival.png") as temporary:
            draw_survival(prediction, temporary)
        pngs["survival"] = (out / "survival.png").read_bytes()
        sections.append(html.survival_section(prediction, pngs["survival"]))
        models += [("prognosis model", prediction.get("model")), ("image encoder of the prognosis model",
                                                                   prediction.get("image_model"))]
    sections.append(html.models_section(models))
    written = {name: _write(out / f"{name}.png", payload) for name, payload in pngs.items() if name != "survival"}
    if "survival" in pngs:
        written["survival"] = out / "survival.png"
    text = html.page(title, {str(k): str(v) for k, v in (identifiers or {}).items()}, sections, __version__)
    written["report"] = _write(out / REPORT_FILE, text.encode("utf-8"))
    return written
