"""Parsing of the cell values found in the cohorts' CSV files.

A blank or "not available" cell is a missing value (None). Anything else that
does not parse is an error (ValueError) the caller turns into a skipped row.
"""

from __future__ import annotations

import re
from typing import Optional

# Spellings of "no value" seen in the BraTS, UCSF-PDGM, UPenn-GBM and LUMIERE tables.
_MISSING = {"", "na", "n/a", "n-a", "nan", "none", "null", "not available", "unknown", "-"}

# BraTS 2020 survival_info.csv writes censored patients as "ALIVE (361 days later)".
_ALIVE = re.compile(r"^\s*alive\s*\(\s*(\d+(?:\.\d+)?)\s*days?\s+later\s*\)\s*$", re.IGNORECASE)


def is_missing(value: Optional[str]) -> bool:
    return value is None or str(value).strip().lower() in _MISSING


def text(value: Optional[str]) -> Optional[str]:
    """The stripped cell, or None when missing."""
    return None if is_missing(value) else str(value).strip()


def folder_name(value: Optional[str], what: str) -> Optional[str]:
    """The stripped cell as a name a batch run may use as a folder name (None when missing);
    ValueError for one that is not a plain name (a path separator, '.', '..'), which joined
    onto the output folder would reach outside it."""
    name = text(value)
    if name is None:
        return None
    if any(sep in name for sep in ("/", "\\", "\0")) or name in (".", "..") or name.startswith("~"):
        raise ValueError(f"the {what} '{name}' is not a plain folder name (no '/', '\\', '.' or '..'); "
                         "rename it")
    return name


def number(value: Optional[str], what: str) -> Optional[float]:
    """A float, None when missing; ValueError naming ``what`` otherwise."""
    if is_missing(value):
        return None
    try:
        result = float(str(value).strip())
    except ValueError:
        raise ValueError(f"{what} '{value}' is not a number") from None
    if result != result:  # NaN
        return None
    return result


def integer(value: Optional[str], what: str) -> Optional[int]:
    result = number(value, what)
    if result is None:
        return None
    if result != int(result):
        raise ValueError(f"{what} '{value}' is not a whole number")
    return int(result)


def event_flag(value: Optional[str], what: str) -> Optional[int]:
    """0 or 1 (also '0.0', '1.0'); None when missing."""
    result = number(value, what)
    if result is None:
        return None
    if result not in (0.0, 1.0):
        raise ValueError(f"{what} '{value}' is neither 0 nor 1")
    return int(result)


def brats_survival(value: Optional[str]) -> tuple[Optional[float], Optional[int]]:
    """BraTS ``Survival_days``: a number is a death at that day (event 1);
    ``ALIVE (N days later)`` is censored at N days (event 0)."""
    if is_missing(value):
        return None, None
    match = _ALIVE.match(str(value))
    if match:
        return float(match.group(1)), 0
    return number(value, "Survival_days"), 1


def sex(value: Optional[str]) -> Optional[str]:
    """'M'/'F' for the usual spellings, the text as given otherwise."""
    raw = text(value)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("m", "male", "man"):
        return "M"
    if lowered in ("f", "female", "woman"):
        return "F"
    return raw


def format_number(value: Optional[float]) -> str:
    """Empty for None, no trailing '.0' for whole numbers, full precision otherwise."""
    if value is None:
        return ""
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
