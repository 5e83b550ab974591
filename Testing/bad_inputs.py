"""The catalogue of bad inputs (issue 9): how to make each one from a good phantom study.

Each ``Case`` builds its input files in a fresh folder and gives the command line; the
runner in ``test_bad_input_catalogue.py`` checks what every case must do: the exit code,
one sentence naming the file or option, input files byte-identical afterwards, and
``--out`` holding either a complete result of this run or what it held before.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import SimpleITK as sitk

# File name of each modality in the good study (BraTS 2023 spellings plus ct / pet).
TOKENS = {"T1": "t1n", "T1C": "t1c", "T2": "t2w", "FLAIR": "t2f", "CT": "ct", "PET": "pet"}


@dataclass
class Case:
    """``build(inputs, good)`` writes files into ``inputs`` and returns the arguments after
    the command; ``good`` maps modality -> path of the good study. ``expect`` is the exit
    code; ``says`` the fragments the stderr sentence must hold (the file or option it
    names); for ``expect == 0``, ``warns`` is a fragment of a warning in result.json."""

    id: str
    build: Callable[[Path, dict], list]
    expect: int = 2
    says: tuple = ()
    command: str = "classify"
    warns: Optional[str] = None
    with_model: bool = True
    marks: list = field(default_factory=list)


def tiny_checkpoint(folder: Path, classes, temperature: float, name: str) -> str:
    """An untrained six-modality ModalityAttentionNet on a 6 mm grid, saved as ``folder/name``;
    returns its card's path. A tiny ``temperature`` sharpens its near-equal logits into a
    confident answer (a one-class set on a clean study, so a widened set shows)."""
    import torch

    from braintumorai.checkpoints import save_checkpoint
    from braintumorai.models import ModalityAttentionNet

    torch.manual_seed(0)
    model = ModalityAttentionNet(tuple(classes), ("T1", "T1C", "T2", "FLAIR", "CT", "PET"),
                                 encoder_kwargs={"channels": (4, 8), "strides": (2, 2), "blocks": (0,)},
                                 embed_dim=8, attention_hidden=4)
    path = folder / name
    save_checkpoint(model, path, {"spacing_mm": [6.0, 6.0, 6.0], "grid_size": [24, 28, 24],
                                  "calibration": {"temperature": temperature, "conformal_threshold": 0.7,
                                                  "coverage": 0.9}})
    return str(path.with_suffix(".json"))


def good_study(folder: Path) -> dict:
    """A glioblastoma phantom at 3 mm, all six modalities, as BraTS-style files in ``folder``."""
    from braintumorai.synthetic import generate_case

    case = generate_case("glioblastoma", seed=5, spacing=3.0)
    return {m: write(image, folder / f"case-{TOKENS[m]}.nii.gz") for m, image in case.images.items()}


def copy(good: dict, inputs: Path, *modalities: str) -> list[str]:
    paths = []
    for modality in modalities:
        target = inputs / Path(good[modality]).name
        shutil.copyfile(good[modality], target)
        paths.append(str(target))
    return paths


def write(image: sitk.Image, path: Path) -> str:
    sitk.WriteImage(image, str(path))
    return str(path)


def like(reference_path: str, array: np.ndarray) -> sitk.Image:
    reference = sitk.ReadImage(reference_path)
    image = sitk.GetImageFromArray(np.asarray(array, np.float32))
    image.CopyInformation(reference)
    return image


def array_of(path: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(path)).astype(np.float32)


def truncated(good: dict, inputs: Path, modality: str, share: float, suffix: str = ".nii.gz") -> list[str]:
    """The first ``share`` of the bytes of the good volume written as ``suffix``."""
    source = good[modality]
    if suffix != ".nii.gz":
        full = inputs / f"full-{TOKENS[modality]}{suffix}"
        write(sitk.ReadImage(source), full)
        source = str(full)
    data = Path(source).read_bytes()
    target = inputs / f"cut-{TOKENS[modality]}{suffix}"
    target.write_bytes(data[: int(len(data) * share)])
    if suffix != ".nii.gz":
        Path(source).unlink()
    return [str(target)]


def with_voxels(good: dict, inputs: Path, modality: str, value: float, suffix: str = ".nii.gz", count: int = 1000):
    """The good volume with ``count`` voxels set to ``value`` (NaN, Inf, ...)."""
    array = array_of(good[modality])
    array.ravel()[np.random.default_rng(0).choice(array.size, count, replace=False)] = value
    return [write(like(good[modality], array), inputs / f"bad-{TOKENS[modality]}{suffix}")]


def with_spacing(good: dict, inputs: Path, modality: str, spacing) -> list[str]:
    image = sitk.ReadImage(good[modality])
    image.SetSpacing(spacing)
    return [write(image, inputs / f"odd-{TOKENS[modality]}.nii.gz")]


def as_modality(good: dict, inputs: Path, source: str, given_as: str, array=None) -> list[str]:
    """``--modality GIVEN_AS=<the source volume>`` (optionally with other voxels)."""
    image = sitk.ReadImage(good[source]) if array is None else like(good[source], array)
    path = write(image, inputs / f"volume-{source.lower()}.nii.gz")
    return ["--modality", f"{given_as}={path}"]


def noise_volume(size, spacing, seed=0) -> sitk.Image:
    image = sitk.GetImageFromArray(np.random.default_rng(seed).random(tuple(reversed(size)), np.float32) * 1000)
    image.SetSpacing(spacing)
    return image


def tampered_model(inputs: Path, checkpoint: str, how: str) -> list[str]:
    """A copy of the tiny checkpoint with its weights changed (card's sha256 no longer
    fits), replaced by random bytes (card updated to fit), or a card that is no JSON."""
    source = Path(checkpoint)
    weights, card = inputs / source.with_suffix(".pt").name, inputs / source.with_suffix(".json").name
    shutil.copyfile(source.with_suffix(".pt"), weights)
    shutil.copyfile(source.with_suffix(".json"), card)
    if how == "tampered":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif how == "random bytes":
        weights.write_bytes(np.random.default_rng(1).bytes(4096))
        content = json.loads(card.read_text())
        content["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        card.write_text(json.dumps(content))
    else:
        card.write_text("{not json")
    return ["--model", str(card)]


def tree_digest(folder: Path) -> dict:
    """relative path -> sha256 of every file under ``folder`` ({} when absent)."""
    if not folder.exists():
        return {}
    if folder.is_file():
        return {".": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
