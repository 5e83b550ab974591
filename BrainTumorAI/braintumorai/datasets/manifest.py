"""The ``manifest.csv`` of a synthetic (or any BraTS-2023-style) cohort.

One row per visit::

    case,patient,visit_day,label,modalities,age,sex,kps,treatments,survival_days,event
    SYN-00001-000,SYN-00001,0,glioblastoma,T1;T1C;T2;FLAIR,63,M,80,surgery,412,1

``modalities`` and ``treatments`` are ';'-joined; ``visit_day`` counts days from
the patient's first visit; ``survival_days`` and ``event`` (1 death, 0 censored)
are patient-level and repeated on each visit row; empty cells are unknown. The
image files of a row are ``<case>/<case>-<suffix>.nii.gz`` next to the manifest
(see :mod:`braintumorai.datasets.writers`).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from pathlib import Path
from typing import Iterable, Union

from ..errors import InputError
from ..modalities import MODALITIES, normalise_modality
from . import _values
from ..io import atomic_output
from .records import VisitRecord
from .writers import SEG_SUFFIX, case_file

PathLike = Union[str, "os.PathLike[str]"]

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS: tuple[str, ...] = (
    "case", "patient", "visit_day", "label", "modalities", "age", "sex", "kps",
    "treatments", "survival_days", "event",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("case", "modalities")


def manifest_path(path: PathLike) -> Path:
    """``path`` itself if it names a file, else ``path/manifest.csv``."""
    path = Path(path)
    return path / MANIFEST_NAME if path.is_dir() or not path.suffix else path


def _row(record: VisitRecord) -> list[str]:
    return [
        record.case_id,
        record.patient_id,
        "" if record.visit_day is None else str(int(round(record.visit_day))),
        record.label or "",
        ";".join(record.modalities),
        _values.format_number(record.age),
        record.sex or "",
        _values.format_number(record.kps),
        ";".join(record.treatments),
        _values.format_number(record.survival_days),
        "" if record.event is None else str(int(record.event)),
    ]


def atomic_write_text(path: PathLike, content: str) -> Path:
    """Write text through a temporary file in the same folder, then ``os.replace``."""
    with atomic_output(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
    return Path(path)


def write_manifest(path: PathLike, records: Iterable[VisitRecord]) -> Path:
    """Write (replace) a manifest listing ``records``, sorted by patient then day.

    ``path`` is the CSV file or its folder. Returns the file written.
    """
    records = list(records)
    seen: set[str] = set()
    for record in records:
        if record.case_id in seen:
            raise InputError(f"Case {record.case_id} is listed twice; give each visit a unique case id.")
        seen.add(record.case_id)
    records.sort(key=lambda r: (r.patient_id, r.visit_day is None, r.visit_day or 0, r.case_id))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for record in records:
        writer.writerow(_row(record))
    return atomic_write_text(manifest_path(path), buffer.getvalue())


def update_manifest(path: PathLike, records: Iterable[VisitRecord]) -> Path:
    """Add ``records`` to an existing manifest (rows of the same case are replaced).

    Rows of the old manifest that cannot be read are dropped: the returned file
    then lists only readable rows. Creates the manifest if there is none.
    """
    target = manifest_path(path)
    merged: dict[str, VisitRecord] = {}
    if target.exists():
        old, _ = read_manifest(target)
        merged.update((r.case_id, r) for r in old)
    merged.update((r.case_id, r) for r in records)
    return write_manifest(target, merged.values())


def _record_from_row(row: dict[str, str], root: Path) -> VisitRecord:
    case_id = _values.folder_name(row.get("case"), "case id")
    patient_id = _values.folder_name(row.get("patient"), "patient id")
    if case_id is None:
        raise ValueError("the case cell is empty")
    names = [n for n in (row.get("modalities") or "").split(";") if n.strip()]
    if not names:
        raise ValueError("no modality is listed")
    modalities = []
    for name in names:
        try:
            modalities.append(normalise_modality(name))
        except InputError:
            raise ValueError(f"unknown modality '{name.strip()}'") from None
    if len(set(modalities)) != len(modalities):
        raise ValueError("a modality is listed twice")
    files = {m: str(case_file(root, case_id, m)) for m in MODALITIES if m in modalities}
    seg = case_file(root, case_id, SEG_SUFFIX)
    treatments = tuple(t.strip() for t in (row.get("treatments") or "").split(";") if t.strip())
    return VisitRecord(
        patient_id=patient_id or case_id,
        case_id=case_id,
        visit_day=_values.integer(row.get("visit_day"), "visit_day"),
        files=files,
        seg_path=str(seg) if seg.exists() else None,
        label=_values.text(row.get("label")),
        age=_values.number(row.get("age"), "age"),
        sex=_values.sex(row.get("sex")),
        kps=_values.number(row.get("kps"), "kps"),
        treatments=treatments,
        survival_days=_values.number(row.get("survival_days"), "survival_days"),
        event=_values.event_flag(row.get("event"), "event"),
    )


def read_manifest(path: PathLike) -> tuple[list[VisitRecord], list[tuple[str, str]]]:
    """Read a manifest into records whose ``files`` point where the images should be.

    Whether the image files exist is not checked here (the loader does it); the
    label map ``<case>/<case>-seg.nii.gz`` is set only when the file is there.

    Returns:
        ``(records, skipped)``; ``skipped`` holds ``("manifest.csv row N", reason)``
        for each unreadable row and each repeated case id.

    Raises:
        InputError: the file is missing, not CSV text, or lacks the case /
            modalities columns.
    """
    target = manifest_path(path)
    if not target.is_file():
        raise InputError(f"No manifest at '{target}'; write one with braintumorai.datasets.write_manifest.")
    try:
        with open(target, encoding="utf-8-sig", newline="") as stream:
            first = stream.readline()
            stream.seek(0)
            # A spreadsheet's "tab-separated" export is read as well as a CSV.
            reader = csv.DictReader(stream, delimiter="\t" if "\t" in first and "," not in first else ",")
            reader.fieldnames = [str(name).strip() for name in reader.fieldnames or []]
            rows = list(reader)
            header = list(reader.fieldnames)
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"'{target}' is not a readable CSV file ({error}); rewrite it as UTF-8 CSV.") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        near = [difflib.get_close_matches(c, header, n=1, cutoff=0.5) for c in missing]
        found = "; ".join(f"found '{n[0]}' instead of '{c}'" for c, n in zip(missing, near) if n)
        raise InputError(
            f"'{target}' lacks the column{'s' if len(missing) > 1 else ''} {' and '.join(missing)}"
            f"{f' ({found})' if found else ''}; name its columns {', '.join(MANIFEST_COLUMNS)}."
        )
    records: list[VisitRecord] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    root = target.parent
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"{target.name} row {number}"
        if None in row:  # more cells than header columns
            skipped.append((where, "the row has more cells than the header; fix the quoting or the commas."))
            continue
        try:
            record = _record_from_row(row, root)
        except ValueError as error:
            skipped.append((where, f"unreadable row: {error}."))
            continue
        if record.case_id in seen:
            skipped.append((where, f"case {record.case_id} is listed a second time; the first row is kept."))
            continue
        seen.add(record.case_id)
        records.append(record)
    return records, skipped
