"""Checkpoints: ``state_dict`` weights beside a JSON model card, and the model registry.

A checkpoint named ``name`` is two files in one folder:

- ``name.pt``: ``torch.save(model.state_dict())`` and nothing else, read back with
  ``torch.load(weights_only=True)`` only, so a checkpoint can never run code.
- ``name.json``: the model card, with the weights' sha256. Required fields:
  ``architecture``, ``config`` (constructor kwargs), ``classes``, ``modalities``,
  ``weights`` (file name), ``sha256``, ``spacing_mm`` and ``grid_size`` (x, y, z order
  as :class:`braintumorai.model_grid.ModelGrid`). Also written: ``name``,
  ``normalisation``, ``training_data``, ``metrics``, ``licence``, ``intended_use``
  ("Research only. Not for clinical use."), ``format_version``, ``created``,
  ``braintumorai_version``, and any other field the caller passes.

Both files are written atomically (temporary file in the same folder, then
``os.replace``). Loading checks the hash, the architecture, every key and shape and
the class count, and refuses with a :class:`ModelError` instead of guessing.

The registry (``braintumorai/models/registry.json``) lists bundled and downloadable
models::

    {"format_version": 1,
     "default": "btai-compact-v1",
     "models": [{"name": "btai-compact-v1", "card": "btai-compact-v1.json",
                 "weights": "btai-compact-v1.pt", "sha256": "<64 hex>",
                 "url": null, "description": "..."}]}

``card`` and ``weights`` are relative to the registry's folder; ``url`` is informative
(BrainTumorAI never downloads on its own).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from .errors import ModelError
from .io import atomic_output

__all__ = [
    "CARD_FORMAT_VERSION", "INTENDED_USE", "REGISTRY_PATH", "REQUIRED_CARD_FIELDS",
    "save_checkpoint", "load_checkpoint", "read_card", "sha256_of", "list_models", "resolve_model",
    "build_model",
]

CARD_FORMAT_VERSION = 1
INTENDED_USE = "Research only. Not for clinical use."
REQUIRED_CARD_FIELDS = (
    "architecture", "config", "classes", "modalities", "weights", "sha256", "spacing_mm", "grid_size",
)
# What a card must hold besides the common fields, per architecture; a classifier's card is
# the default (it describes the input grid); a prognosis card describes its time grid and features.
ARCHITECTURE_CARD_FIELDS = {
    "PrognosisGRU": ("architecture", "config", "weights", "sha256", "time_grid_days", "features"),
}
TASKS = ("classification", "prognosis")
REGISTRY_PATH = Path(__file__).resolve().parent / "models" / "registry.json"

PathLike = Union[str, os.PathLike]


def sha256_of(path: PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it
    over ``path``, so a reader never sees a half-written file."""
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())


def _checkpoint_paths(path: PathLike) -> tuple[Path, Path]:
    """``dir/name``, ``dir/name.pt`` or ``dir/name.json`` -> (weights path, card path)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    return stem.with_name(stem.name + ".pt"), stem.with_name(stem.name + ".json")


def save_checkpoint(model, path: PathLike, card: Optional[Mapping[str, Any]] = None) -> dict:
    """Write ``name.pt`` (the model's ``state_dict``) and ``name.json`` (its card).

    Args:
        model: a model from :data:`braintumorai.models.ARCHITECTURES` (it carries
            ``architecture``, ``config``, ``classes`` and ``modalities``).
        path: ``dir/name``, ``dir/name.pt`` or ``dir/name.json``; the folder must exist.
        card: further card fields; ``spacing_mm`` and ``grid_size`` (x, y, z) are
            required, ``normalisation``, ``training_data``, ``metrics``, ``licence`` and
            any extra fields are optional. Fields that describe the network
            (architecture, config, classes, modalities) come from the model and must
            not contradict it.

    Returns:
        The card as written.
    """
    import torch

    weights_path, card_path = _checkpoint_paths(path)
    if not weights_path.parent.is_dir():
        raise ModelError(f"Folder {str(weights_path.parent)!r} does not exist; create it before saving a checkpoint.")
    architecture = getattr(model, "architecture", None)
    config = getattr(model, "config", None)
    if architecture is None or config is None:
        raise ModelError(
            f"{type(model).__name__} has no 'architecture' and 'config'; only BrainTumorAI models can be saved."
        )
    card = dict(card or {})
    own = {"architecture": architecture, "config": config}
    for key in ("classes", "modalities"):  # a classifier's; a prognosis model has neither
        if hasattr(model, key):
            own[key] = list(getattr(model, key))
    for key, value in own.items():
        if key in card and json.loads(json.dumps(card[key])) != json.loads(json.dumps(value)):
            raise ModelError(f"The card's {key!r} ({card[key]!r}) contradicts the model's ({value!r}).")
    grid_keys = ("spacing_mm", "grid_size") if architecture not in ARCHITECTURE_CARD_FIELDS else ()
    for key in grid_keys:
        if key not in card or len(list(card[key])) != 3:
            raise ModelError(
                f"The model card needs {key!r} as three numbers (x, y, z) so inputs can be put on the grid."
            )
    for key in ARCHITECTURE_CARD_FIELDS.get(architecture, ()):
        if key not in own and key not in ("weights", "sha256") and key not in card:
            raise ModelError(f"The model card of a {architecture} needs {key!r}.")
    try:
        from . import __version__
    except ImportError:  # pragma: no cover - package always has it
        __version__ = "unknown"

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(weights_path, lambda fh: torch.save(state, fh))
    full = {
        "format_version": CARD_FORMAT_VERSION,
        "name": card.pop("name", weights_path.stem),
        **own,
        **({"spacing_mm": [float(s) for s in card.pop("spacing_mm")],
            "grid_size": [int(s) for s in card.pop("grid_size")]} if grid_keys else {}),
        "normalisation": card.pop("normalisation", None),
        "training_data": card.pop("training_data", None),
        "metrics": card.pop("metrics", {}),
        "licence": card.pop("licence", "Apache-2.0"),
        "intended_use": INTENDED_USE,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "braintumorai_version": __version__,
    }
    for key in own:
        card.pop(key, None)
    card.pop("intended_use", None)
    full.update(card)
    full["weights"] = weights_path.name
    full["sha256"] = sha256_of(weights_path)
    text = json.dumps(full, indent=2, sort_keys=False, allow_nan=False) + "\n"
    _atomic_write(card_path, lambda fh: fh.write(text.encode("utf-8")))
    return full


def read_card(path: PathLike) -> dict:
    """Read and validate a model card (``name.json``, or ``name.pt`` / ``name`` beside it)."""
    _, card_path = _checkpoint_paths(path)
    if not card_path.is_file():
        raise ModelError(
            f"Model card {str(card_path)!r} not found; a checkpoint needs its .json card beside the .pt file."
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Model card {str(card_path)!r} is not valid JSON ({exc}); restore it from the original."
        ) from exc
    _validate_card(card, str(card_path))
    card["_path"] = str(card_path)
    return card


def _validate_card(card: Any, where: str) -> None:
    if not isinstance(card, dict):
        raise ModelError(f"Model card {where} is not a JSON object; restore it from the original.")
    required = ARCHITECTURE_CARD_FIELDS.get(card.get("architecture"), REQUIRED_CARD_FIELDS)
    missing = [k for k in required if k not in card]
    if missing:
        raise ModelError(f"Model card {where} lacks {', '.join(missing)}; it cannot describe a usable model.")
    if not isinstance(card["config"], dict):
        raise ModelError(f"Model card {where} has no config object; restore the original card.")
    if "classes" in card and card["config"].get("classes", card["classes"]) != card["classes"]:
        raise ModelError(
            f"Model card {where} lists classes {card['classes']} but its config has {card['config']['classes']}; "
            "restore the original card."
        )


def build_model(architecture: str, config: Mapping[str, Any]):
    """Instantiate an architecture of :data:`braintumorai.models.ARCHITECTURES` from its
    constructor kwargs."""
    from .models import ARCHITECTURES

    cls = ARCHITECTURES.get(architecture)
    if cls is None:
        raise ModelError(
            f"Unknown architecture {architecture!r}; this BrainTumorAI knows {', '.join(sorted(ARCHITECTURES))} "
            "(update BrainTumorAI or use a matching checkpoint)."
        )
    try:
        return cls(**config)
    except ModelError:
        raise
    except TypeError as exc:
        raise ModelError(
            f"The card's config does not fit {architecture} ({exc}); the card is from another version."
        ) from exc


def load_checkpoint(path_or_card: Union[PathLike, Mapping[str, Any]], device: Any = "cpu"):
    """Rebuild a model from its card and weights.

    Args:
        path_or_card: ``name.json``, ``name.pt`` or ``name`` (card beside the weights),
            a registry name (see :func:`resolve_model`), or a card dict whose
            ``weights`` is an absolute path or relative to the card's ``_path`` folder
            (or to the working directory).
        device: torch device for the model.

    Returns:
        ``(model, card)``; the model is in eval mode on ``device``; the card is the JSON
        dict plus ``_path``, the card file it was read from (absent for a dict input
        without one).

    Raises:
        ModelError: missing files, wrong sha256, unknown architecture, weights that are
            not a plain state dict, missing / unexpected keys, wrong shapes, or a class
            count that differs between card and weights.
    """
    import torch

    if isinstance(path_or_card, Mapping):
        card = dict(path_or_card)
        _validate_card(card, f"for {card.get('name', 'this model')!r}")
        base = Path(card["_path"]).parent if "_path" in card else Path.cwd()
    else:
        card = read_card(resolve_model(path_or_card))
        base = Path(card["_path"]).parent
    name = card.get("name", card["weights"])
    weights_path = Path(card["weights"])
    weights_path = weights_path if weights_path.is_absolute() else base / weights_path
    if not weights_path.is_file():
        raise ModelError(f"Weights file {str(weights_path)!r} of model {name!r} not found; copy it beside its card.")
    digest = sha256_of(weights_path)
    if digest != str(card["sha256"]).lower():
        raise ModelError(
            f"Weights file {str(weights_path)!r} has sha256 {digest[:12]}... but the card of {name!r} says "
            f"{str(card['sha256'])[:12]}...; the file is corrupt or belongs to another model, restore the original."
        )
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception:
        # torch's own message runs over many lines and suggests loading unsafely: not shown.
        raise ModelError(
            f"Weights file {str(weights_path)!r} does not load as a plain state dict with weights_only=True (it is "
            "damaged, not a PyTorch file, or holds pickled code, which BrainTumorAI refuses); restore the original "
            "or re-export it with save_checkpoint."
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(
            f"Weights file {str(weights_path)!r} is not a state dict of tensors; re-export it with save_checkpoint."
        )

    model = build_model(card["architecture"], card["config"])
    head = state.get("classifier.weight")
    if head is not None and head.shape[0] != len(card["classes"]):
        raise ModelError(
            f"Model {name!r}: the card lists {len(card['classes'])} classes but the weights predict {head.shape[0]}; "
            "the card and weights do not belong together."
        )
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ModelError(
            f"Model {name!r}: the weights lack {len(missing)} keys {missing[:3]} and have {len(unexpected)} unexpected "
            f"{unexpected[:3]}; the card's architecture does not match the weights."
        )
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if wrong:
        raise ModelError(f"Model {name!r}: {len(wrong)} weights have the wrong shape ({'; '.join(wrong[:3])}).")
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return model, card


def _read_registry(registry: Optional[PathLike]) -> tuple[dict, Path]:
    path = Path(registry) if registry is not None else REGISTRY_PATH
    if not path.is_file():
        raise ModelError(f"Model registry {str(path)!r} not found; reinstall BrainTumorAI.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelError(f"Model registry {str(path)!r} is not valid JSON ({exc}); reinstall BrainTumorAI.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ModelError(f"Model registry {str(path)!r} has no 'models' list; reinstall BrainTumorAI.")
    return data, path.parent


def list_models(registry: Optional[PathLike] = None) -> list[dict]:
    """Registry entries (name, card, weights, sha256, url, description, ...), with
    ``available`` telling whether the weights file is on disk."""
    data, folder = _read_registry(registry)
    out = []
    for entry in data["models"]:
        entry = dict(entry)
        entry["default"] = entry.get("name") in {data.get(_default_key(task)) for task in TASKS}
        entry["available"] = bool(entry.get("weights")) and (folder / entry["weights"]).is_file()
        out.append(entry)
    return out


def _default_key(task: str) -> str:
    """The registry key of a task's default model: ``default`` (the classifier) or ``default_<task>``."""
    if task not in TASKS:
        raise ModelError(f"Unknown task {task!r}; use one of {', '.join(TASKS)}.")
    return "default" if task == "classification" else f"default_{task}"


def resolve_model(name_or_path: Optional[PathLike] = None, registry: Optional[PathLike] = None,
                  task: str = "classification") -> Path:
    """Path of the model card for a registry name, a checkpoint path or ``None`` /
    ``"default"`` (the registry's default model for ``task``: ``classification`` or ``prognosis``).

    A registry entry's sha256 must equal its card's, so a card swapped under the
    registry is refused.
    """
    if name_or_path is not None and not isinstance(name_or_path, (str, os.PathLike)):
        raise ModelError(f"The model was given as {type(name_or_path).__name__} {name_or_path!r}; give a registry "
                         "name or the path of a checkpoint (.pt or .json).")
    if name_or_path is not None and str(name_or_path) != "default":
        weights_path, card_path = _checkpoint_paths(name_or_path)
        if card_path.is_file() or weights_path.is_file() or os.sep in str(name_or_path) or \
                str(name_or_path).endswith((".pt", ".json")):
            if not card_path.is_file():
                raise ModelError(f"Model card {str(card_path)!r} not found; a checkpoint needs its .json card.")
            return card_path
    data, folder = _read_registry(registry)
    default = data.get(_default_key(task))
    name = default if name_or_path is None or str(name_or_path) == "default" else str(name_or_path)
    entries = {e.get("name"): e for e in data["models"]}
    if name is None:
        raise ModelError(f"No default {task} model is registered in this BrainTumorAI; give a checkpoint path "
                         "(.pt or .json).")
    if name not in entries:
        known = ", ".join(sorted(str(k) for k in entries)) or "none"
        raise ModelError(f"Unknown model {name!r}; registered models: {known}; give one of them or a checkpoint path.")
    entry = entries[name]
    card_path = folder / entry["card"]
    card = read_card(card_path)
    if str(card["sha256"]).lower() != str(entry.get("sha256", "")).lower():
        raise ModelError(
            f"The registry's sha256 for {name!r} differs from its card's; the bundled model files were changed, "
            "reinstall BrainTumorAI."
        )
    return card_path
