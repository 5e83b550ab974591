"""Modality vocabulary and name-based assignment.

Channel order is fixed: ``T1, T1C, T2, FLAIR, CT, PET``. Names of files, series or
Slicer nodes are mapped to a modality by their tokens, so the BraTS 2020/2021/2023,
UCSF-PDGM, UPenn-GBM and LUMIERE spellings, BIDS names, scanner series descriptions
(``AX_T1_MPRAGE_POST``, ``T2 FLAIR``) and DICOM tags all resolve without configuration.
A wrong name is worse than none: a name stating two modalities, or a sequence the model
does not read (DWI, SWI, perfusion ...), is refused with the ``--modality`` syntax shown.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from .errors import InputError

MODALITIES: tuple[str, ...] = ("T1", "T1C", "T2", "FLAIR", "CT", "PET")
MRI_MODALITIES: tuple[str, ...] = ("T1", "T1C", "T2", "FLAIR")

# Reference volume preference when the user chose none (DESIGN.md, imaging contract 1).
REFERENCE_PREFERENCE: tuple[str, ...] = ("T1C", "T1", "FLAIR", "T2", "CT", "PET")

# Name recognition. A name (file, DICOM series description, Slicer node) is split into
# lower-case tokens at every non-alphanumeric character. Tokens that name a modality,
# tokens that say "after contrast" or "before contrast" (which turn a T1 into a T1C or
# keep it a T1), and tokens of sequences this model does not read are looked up below.
# Two modalities in one name are never resolved by a guess: the name is refused and the
# user is shown --modality MODALITY=FILE. Every entry is exercised by
# Testing/test_modalities.py, which checks that none is left out of its table.
_MODALITY_TOKENS: dict[str, str] = {
    # T1 without contrast (MPRAGE, SPGR and BRAVO are T1-weighted 3-D sequences)
    "t1": "T1", "t1n": "T1", "t1w": "T1", "t1pre": "T1", "t1native": "T1", "mprage": "T1", "spgr": "T1",
    "fspgr": "T1", "bravo": "T1",
    # T1 after gadolinium
    "t1c": "T1C", "t1ce": "T1C", "t1gd": "T1C", "ct1": "T1C", "t1post": "T1C", "t1wce": "T1C",
    "t1contrast": "T1C", "t1gad": "T1C",
    # T2
    "t2": "T2", "t2w": "T2",
    # FLAIR ("fla": a common abbreviation; "t2 flair" is a FLAIR, see _resolve)
    "flair": "FLAIR", "fla": "FLAIR", "t2f": "FLAIR", "t2flair": "FLAIR", "darkfluid": "FLAIR",
    # CT
    "ct": "CT", "cect": "CT", "ncct": "CT",
    # PET ("met", methionine PET, is left out on purpose: it is also the BraTS-MET cohort name)
    "pet": "PET", "fdg": "PET", "suv": "PET", "fet": "PET",
}
# After contrast: a T1 with one of these is a T1C; alone (a series "POST GAD") they mean T1C.
# "km": Kontrastmittel, as German-language scanners write it (``t1_se_tra_KM``).
_POST_CONTRAST_TOKENS = frozenset({"post", "postcontrast", "postgad", "postgd", "gad", "gd", "gado", "gadolinium",
                                   "contrast", "ce", "enhanced", "km"})
# Before contrast: a T1 stays a T1 ("T1 PRE", "T1 without contrast").
_PRE_CONTRAST_TOKENS = frozenset({"pre", "precontrast", "native", "noncontrast", "without", "wo"})
# Multi-token spellings, matched on the joined tokens before single tokens are read.
# Multi-token spellings, rewritten to one token (in this order) before tokens are read.
_PHRASES: tuple[tuple[str, str], ...] = (
    ("t1 c", "t1c"), ("t1 ce", "t1ce"), ("t1 gd", "t1gd"), ("t2 flair", "t2flair"), ("t2 f", "t2f"),
    ("dark fluid", "darkfluid"), ("t2 star", "t2star"), ("w o", "wo"),
    ("without contrast", "noncontrast"), ("wo contrast", "noncontrast"), ("no contrast", "noncontrast"),
    ("non contrast", "noncontrast"), ("without gad", "noncontrast"), ("pre contrast", "precontrast"),
    ("post contrast", "postcontrast"), ("with contrast", "postcontrast"), ("post gad", "postgad"),
    ("post op", "postop"), ("pre op", "preop"),
)
# Sequences this model does not read: recognised and refused with their name.
_UNSUPPORTED_TOKENS: dict[str, str] = {
    "swi": "a susceptibility-weighted (SWI) series", "swan": "a susceptibility-weighted (SWI) series",
    "dwi": "a diffusion-weighted (DWI) series", "trace": "a diffusion-weighted (DWI) series",
    "tracew": "a diffusion-weighted (DWI) series",
    "adc": "an apparent diffusion coefficient (ADC) map", "eadc": "an apparent diffusion coefficient (ADC) map",
    "dti": "a diffusion tensor (DTI) series", "tensor": "a diffusion tensor (DTI) series",
    "perfusion": "a perfusion series", "perf": "a perfusion series", "pwi": "a perfusion series",
    "dsc": "a perfusion (DSC) series", "dce": "a perfusion (DCE) series", "asl": "a perfusion (ASL) series",
    "cbf": "a perfusion (CBF) map", "cbv": "a perfusion (CBV) map", "rcbf": "a perfusion (CBF) map",
    "rcbv": "a perfusion (CBV) map",
    "t2star": "a T2*-weighted series", "t2starw": "a T2*-weighted series", "bold": "a functional (BOLD) series",
}
# BIDS suffixes (``sub-01_ce-gd_T1w.nii.gz``): the suffix names the modality, the ``ce``
# entity says a contrast agent was given; other entities (ses-post, acq-...) are labels.
_BIDS_SUFFIXES: dict[str, str] = {"t1w": "T1", "t2w": "T2", "flair": "FLAIR", "pet": "PET", "ct": "CT"}
_BIDS_NAME = re.compile(r"^sub-[a-z0-9]+(?:_[a-z0-9]+-[a-z0-9]+)*_([a-z0-9]+)$")

_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".gz")
_EXPLICIT = "pass it as --modality MODALITY=FILE with one of " + ", ".join(MODALITIES)


def normalise_modality(name: str) -> str:
    """Return the canonical modality for an exact modality name (any case).

    Raises InputError for a name outside the vocabulary.
    """
    upper = name.strip().upper()
    if upper in MODALITIES:
        return upper
    token = _MODALITY_TOKENS.get(name.strip().lower())
    if token:
        return token
    raise InputError(
        f"Unknown modality '{name}'; use one of {', '.join(MODALITIES)}."
    )


@dataclass(frozen=True)
class NameReading:
    """What a name says: ``modality`` (None when it says none or too much) and, when the
    name must not be used, ``problem``, one sentence to show."""

    modality: Optional[str]
    problem: Optional[str] = None


def _base_name(name: str, path: bool) -> str:
    base = (os.path.basename(str(name).rstrip("/\\")) if path else str(name)).lower()
    for ext in _EXTENSIONS:
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def _tokens_of(base: str) -> list[str]:
    base = base.replace("t2*", "t2star").replace("+c", " post ").replace("c+", " post ")
    # "C-" is the radiologists' "without contrast" ("AX T1 C-"); a lone c only, not "t1c-roi".
    base = re.sub(r"(?<![a-z0-9])c-(?![a-z0-9])", " precontrast ", base)
    joined = " " + " ".join(t for t in re.split(r"[^a-z0-9]+", base) if t) + " "
    for phrase, token in _PHRASES:
        joined = joined.replace(f" {phrase} ", f" {token} ")
    return joined.split()


def read_name(name: str, path: bool = True) -> NameReading:
    """Read the modality a file, series or node name states; never a guess between two.

    Returns ``NameReading(modality)`` for a clear name, ``NameReading(None)`` for a name
    that states no modality, and ``NameReading(None, problem)`` for a name that states a
    sequence this model does not read (DWI, SWI, perfusion ...) or two modalities at once
    (``t1_t1c``, a T1 both before and after contrast). ``path``: ``name`` is a file path,
    read by its last part; False for a series description or node name ("T1 W/O").
    """
    base = _base_name(name, path)
    bids = _BIDS_NAME.match(base)
    if bids and (bids.group(1) in _BIDS_SUFFIXES or bids.group(1) in _UNSUPPORTED_TOKENS):
        return _read_bids(name, base, bids.group(1))
    tokens = _tokens_of(base)
    unsupported = [_UNSUPPORTED_TOKENS[t] for t in tokens if t in _UNSUPPORTED_TOKENS]
    if unsupported:
        return NameReading(None, f"'{name}' looks like {unsupported[0]}, which this model does not read; "
                                 f"leave it out, or if it is one of the supported modalities {_EXPLICIT}.")
    found = [_MODALITY_TOKENS[t] for t in tokens if t in _MODALITY_TOKENS]
    post = any(t in _POST_CONTRAST_TOKENS for t in tokens)
    pre = any(t in _PRE_CONTRAST_TOKENS for t in tokens)
    return _resolve(name, set(found), post, pre)


def _read_bids(name: str, base: str, suffix: str) -> NameReading:
    if suffix in _UNSUPPORTED_TOKENS:
        kind = _UNSUPPORTED_TOKENS[suffix]
        return NameReading(None, f"'{name}' is {kind}, which this model does not read; "
                                 f"leave it out, or if it is one of the supported modalities {_EXPLICIT}.")
    modality = _BIDS_SUFFIXES.get(suffix)
    contrast = re.search(r"_ce-([a-z0-9]+)", base)
    if modality == "T1" and contrast and contrast.group(1) not in ("none", "no", "pre", "native"):
        modality = "T1C"
    return NameReading(modality)


def _resolve(name: str, found: set[str], post: bool, pre: bool) -> NameReading:
    if "FLAIR" in found:
        found.discard("T2")  # "T2 FLAIR" is a FLAIR
    if found & {"T1", "T1C"} and post and pre:
        return NameReading(None, f"'{name}' says both before and after contrast, so it is not clear whether it is "
                                 f"T1 or T1C; {_EXPLICIT}.")
    if found == {"T1"} and post:
        found = {"T1C"}
    if found == {"T1", "T1C"} and post and not pre:
        # A T1 token beside a T1C one is a contradiction only without a contrast qualifier:
        # "MRHR_T1_AX_POST_GAD_T1C" says T1C three times; "t1_t1c" stays refused.
        found = {"T1C"}
    if not found and post and not pre:
        found = {"T1C"}  # a series named "POST GAD"
    if found == {"T1C"} and pre:
        return NameReading(None, f"'{name}' names a T1C but also says before contrast; {_EXPLICIT}.")
    if len(found) > 1:
        named = ", ".join(m for m in MODALITIES if m in found)
        return NameReading(None, f"'{name}' names more than one modality ({named}), so it is not clear which it is; "
                                 f"{_EXPLICIT}.")
    return NameReading(next(iter(found), None))


def guess_modality(name: str, path: bool = True) -> Optional[str]:
    """The modality a file, series or node name states; None when it states none, a
    sequence this model does not read, or more than one (see :func:`read_name`)."""
    return read_name(name, path).modality


def dicom_series_reading(folder: str) -> NameReading:
    """Read a DICOM folder's modality from its name, its SeriesDescription (0008,103E)
    and its contrast agent tag (0018,0010): a T1 with an agent recorded is a T1C.
    The folder name and the series description must not contradict each other."""
    from .io import dicom_series_tags

    by_folder = read_name(folder)
    description, agent = dicom_series_tags(folder)
    by_description = read_name(description, path=False) if description else NameReading(None)
    for reading in (by_folder, by_description):
        if reading.problem:
            return reading
    if by_folder.modality and by_description.modality and by_folder.modality != by_description.modality:
        return NameReading(None, f"The DICOM folder '{folder}' is named {by_folder.modality} but its series "
                                 f"description '{description}' says {by_description.modality}; {_EXPLICIT}.")
    modality = by_folder.modality or by_description.modality
    if modality == "T1" and agent and agent.strip().lower() not in ("", "none", "no"):
        modality = "T1C"
    return NameReading(modality)


def assign_modalities(paths: Iterable[str]) -> dict[str, str]:
    """Map each modality to one path by name (DICOM folders: also by their tags); refuse
    names that state none, several or an unsupported modality, and duplicates.

    Returns ``{modality: path}`` in channel order.
    """
    assigned: dict[str, str] = {}
    for path in paths:
        reading = dicom_series_reading(path) if os.path.isdir(path) else read_name(path)
        if reading.problem:
            raise InputError(reading.problem)
        modality = reading.modality
        if modality is None:
            raise InputError(f"Cannot tell the modality of '{path}' from its name; {_EXPLICIT}.")
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
