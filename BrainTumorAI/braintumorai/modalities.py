"""Modality vocabulary and name-based assignment.

Channel order is fixed: ``T1, T1C, T2, FLAIR, CT, PET``. Names of files, series or
Slicer nodes are mapped to a modality by their tokens, so the BraTS 2020/2021/2023,
UCSF-PDGM, UPenn-GBM and LUMIERE spellings all resolve without configuration.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Optional

from .errors import InputError

MODALITIES: tuple[str, ...] = ("T1", "T1C", "T2", "FLAIR", "CT", "PET")
MRI_MODALITIES: tuple[str, ...] = ("T1", "T1C", "T2", "FLAIR")

# Reference volume preference when the user chose none (DESIGN.md, imaging contract 1).
REFERENCE_PREFERENCE: tuple[str, ...] = ("T1C", "T1", "FLAIR", "T2", "CT", "PET")

# Single tokens (lower case) that name a modality. Multi-token spellings such as
# "post gad" are in _PHRASES. Order matters only inside _PHRASES.
_TOKENS: dict[str, str] = {
    # T1 without contrast
    "t1": "T1", "t1n": "T1", "t1w": "T1", "t1pre": "T1", "t1native": "T1", "mprage": "T1",
    # T1 after gadolinium
    "t1c": "T1C", "t1ce": "T1C", "t1gd": "T1C", "ct1": "T1C", "t1post": "T1C",
    "t1wce": "T1C", "t1contrast": "T1C", "gad": "T1C", "gd": "T1C",
    # T2
    "t2": "T2", "t2w": "T2",
    # FLAIR
    "flair": "FLAIR", "t2f": "FLAIR", "t2flair": "FLAIR",
    # CT
    "ct": "CT", "cect": "CT", "ncct": "CT",
    # PET
    # "met" (methionine PET) is left out on purpose: it is also the BraTS-MET cohort name.
    "pet": "PET", "fdg": "PET", "suv": "PET", "fet": "PET",
}

# Phrases checked before single tokens because they contain a token of another
# modality ("t1 post gad" must not stop at "t1").
_PHRASES: tuple[tuple[str, str], ...] = (
    ("post gad", "T1C"), ("post contrast", "T1C"), ("t1 post", "T1C"), ("t1 gd", "T1C"),
    ("t1 ce", "T1C"), ("t1 c", "T1C"), ("t2 flair", "FLAIR"), ("t2 f", "FLAIR"),
)

_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".gz")


def normalise_modality(name: str) -> str:
    """Return the canonical modality for an exact modality name (any case).

    Raises InputError for a name outside the vocabulary.
    """
    upper = name.strip().upper()
    if upper in MODALITIES:
        return upper
    token = _TOKENS.get(name.strip().lower())
    if token:
        return token
    raise InputError(
        f"Unknown modality '{name}'; use one of {', '.join(MODALITIES)}."
    )


def _tokens_of(name: str) -> list[str]:
    base = os.path.basename(str(name).rstrip("/\\")).lower()
    for ext in _EXTENSIONS:
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return [t for t in re.split(r"[^a-z0-9]+", base) if t]


def guess_modality(name: str) -> Optional[str]:
    """Guess the modality from a file, series or node name; None when unsure.

    The last matching token wins, because case identifiers come first in the
    common layouts (``BraTS-GLI-00001-000-t1c``, ``UCSF-PDGM-0004_T1c``,
    ``Patient-001/week-044/CT1``), so "GLI" or "PDGM" never decide.
    """
    tokens = _tokens_of(name)
    if not tokens:
        return None
    joined = " ".join(tokens)
    best: Optional[tuple[int, str]] = None
    for phrase, modality in _PHRASES:
        for match in re.finditer(rf"(?:^| ){re.escape(phrase)}(?: |$)", joined):
            end = match.end()
            if best is None or end > best[0]:
                best = (end, modality)
    position = 0
    for token in tokens:
        position = joined.index(token, position) + len(token)
        modality = _TOKENS.get(token)
        if modality and (best is None or position > best[0]):
            best = (position, modality)
    return best[1] if best else None


def assign_modalities(paths: Iterable[str]) -> dict[str, str]:
    """Map each modality to one path by name; refuse unknown or duplicate names.

    Returns ``{modality: path}`` in channel order.
    """
    assigned: dict[str, str] = {}
    for path in paths:
        modality = guess_modality(path)
        if modality is None:
            raise InputError(
                f"Cannot tell the modality of '{path}' from its name; "
                f"pass it as MODALITY=FILE with one of {', '.join(MODALITIES)}."
            )
        if modality in assigned:
            raise InputError(
                f"Two files were assigned {modality}: '{assigned[modality]}' and '{path}'; "
                "keep one, or name the modality of each explicitly."
            )
        assigned[modality] = path
    return {m: assigned[m] for m in MODALITIES if m in assigned}


def choose_reference(present: Iterable[str], preferred: Optional[str] = None) -> str:
    """The reference modality: the user's choice, else the first present of
    T1C, T1, FLAIR, T2, CT, PET."""
    present = list(present)
    if not present:
        raise InputError("No volume was given; assign at least one modality.")
    if preferred is not None:
        preferred = normalise_modality(preferred)
        if preferred not in present:
            raise InputError(
                f"The reference modality {preferred} is not among the inputs "
                f"({', '.join(present)}); choose one that was given."
            )
        return preferred
    for modality in REFERENCE_PREFERENCE:
        if modality in present:
            return modality
    raise InputError(f"None of {present} is a known modality.")
