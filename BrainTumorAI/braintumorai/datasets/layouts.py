"""One detector and one reader per supported folder layout.

Layouts (``LAYOUTS``, checked in this order by :func:`detect_layout`):

``synthetic``
    ``manifest.csv`` + ``CASE-TTT/CASE-TTT-{t1n,t1c,t2w,t2f,ct,pet,seg}.nii.gz``
    (written by :func:`braintumorai.datasets.write_case`). Clinical values and the
    list of modalities come from the manifest.
``lumiere``
    ``[Imaging/]Patient-NNN/week-WWW[-k]/{T1,CT1,T2,FLAIR}.nii.gz``; the label map
    is HD-GLIO-AUTO's ``HD-GLIO-AUTO-segmentation/native/segmentation_CT1_origspace.nii.gz``
    (on the CT1 grid). ``LUMIERE-Demographics_Pathology.csv`` (Patient, Age at
    surgery (years), Sex, Survival time (weeks), IDH (WT: wild type), MGMT
    qualitative) and ``LUMIERE-ExpertRating-*.csv`` (Patient, Date, Rating
    (according to RANO ...)). visit_day = 7 x week; survival weeks x 7 = days.
``upenn_gbm``
    ``images_structural/<ID>/<ID>_{T1,T1GD,T2,FLAIR}.nii.gz`` with ``<ID>`` =
    ``UPENN-GBM-NNNNN_11`` (baseline, day 0) or ``_21`` (follow-up, day unknown);
    label maps in ``images_segm/<ID>_segm.nii.gz`` (manual) else
    ``automated_segm/<ID>_automated_approx_segm.nii.gz``; clinical CSV
    ``UPENN-GBM_clinical_info_v*.csv`` (ID, Gender, Age_at_scan_years,
    Survival_from_surgery_days[_UPDATED], Survival_Status, KPS, IDH1, MGMT,
    GTR_over90percent). Label "glioblastoma": the cohort is de novo GBM.
``ucsf_pdgm``
    ``UCSF-PDGM-0004[_FU...]_nifti/UCSF-PDGM-0004_{T1,T1c,T2,FLAIR}.nii.gz``
    (``_bias`` variants used only when the plain file is absent) and
    ``_tumor_segmentation.nii.gz``; metadata CSV ids have three digits
    (``UCSF-PDGM-004``) and are matched by number. Columns ID, Sex, Age at MRI,
    WHO CNS Grade, Final pathologic diagnosis (WHO 2021), IDH, MGMT status,
    1p/19q, OS, 1-dead 0-alive, EOR. Label = the WHO 2021 diagnosis as written.
``brats2020``
    ``BraTS20_Training_NNN/BraTS20_Training_NNN_{t1,t1ce,t2,flair,seg}.nii[.gz]``;
    ``name_mapping.csv`` Grade (HGG/LGG, kept as the label) and
    ``survival_info.csv`` (Brats20ID, Age, Survival_days, Extent_of_Resection) where
    ``ALIVE (361 days later)`` is censored at 361 days. A case whose label map is
    not ``<ID>_seg`` (case 355 ships ``W39_1998.09.19_Segm.nii``) uses the one
    other NIfTI file in its folder whose name contains "seg".
``brats2021``
    ``BraTS2021_NNNNN/BraTS2021_NNNNN_{flair,t1,t1ce,t2,seg}.nii.gz``; no label.
``brats2023``
    ``BraTS-XXX-NNNNN-TTT/BraTS-XXX-NNNNN-TTT-{t1n,t1c,t2w,t2f,seg}.nii.gz``
    (``-ct``/``-pet`` picked up too); patient ``BraTS-XXX-NNNNN``, time point TTT.
    Label from the cohort prefix: GLI and SSA (adult glioma, sub-Saharan Africa)
    -> "glioma", MEN -> "meningioma", MET -> "metastasis", PED ->
    "pediatric_glioma"; other prefixes -> no label.

Every reader returns a :class:`Dataset`; problems with one case or one CSV row
land in ``Dataset.skipped`` and never stop the others.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from ..modalities import MODALITIES, MRI_MODALITIES
from . import _values
from .manifest import MANIFEST_COLUMNS, MANIFEST_NAME, read_manifest
from .records import Dataset, VisitRecord
from .writers import FILE_SUFFIXES, SEG_SUFFIX

NIFTI_EXTENSIONS = (".nii.gz", ".nii")
_CSV_SEARCH_DEPTH = 3


# --------------------------------------------------------------------------- helpers


class _Collector:
    """Records and skipped entries of one reading pass."""

    def __init__(self, root: Path, require_all: bool) -> None:
        self.root = root
        self.require_all = require_all
        self.records: list[VisitRecord] = []
        self.skipped: list[tuple[str, str]] = []

    def skip(self, what: str, why: str) -> None:
        self.skipped.append((what, why))

    def dataset(self, layout: str) -> Dataset:
        self.records.sort(key=lambda r: (r.patient_id, r.visit_day is None, r.visit_day or 0, r.case_id))
        return Dataset(records=self.records, skipped=self.skipped, layout=layout, root=str(self.root))

    def modality_files(
        self, case_id: str, found: dict[str, Optional[Path]], required: Iterable[str]
    ) -> Optional[dict[str, str]]:
        """``{modality: path}`` of the files found, or None (case skipped) when a
        required one is missing (``require_all``) or none at all was found."""
        files = {m: str(found[m]) for m in MODALITIES if found.get(m) is not None}
        missing = [m for m in required if found.get(m) is None]
        if missing and self.require_all:
            self.skip(case_id, f"missing modality file(s): {', '.join(missing)}; the case is left out.")
            return None
        if not files:
            self.skip(case_id, "no modality file was found in the case folder; the case is left out.")
            return None
        return files


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _nifti(folder: Path, stem: str) -> Optional[Path]:
    """``folder/stem.nii.gz`` or ``folder/stem.nii``, whichever exists."""
    for extension in NIFTI_EXTENSIONS:
        path = folder / f"{stem}{extension}"
        if path.is_file():
            return path
    return None


def _is_nifti(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.name.lower().endswith(NIFTI_EXTENSIONS)


def _csv_files(root: Path, depth: int = _CSV_SEARCH_DEPTH) -> list[Path]:
    """CSV files under ``root`` up to ``depth`` folders down, nearest first.

    Image folders are not entered (their names are those of cases, and a cohort
    has thousands of them), which keeps the search cheap.
    """
    found: list[Path] = []
    level = [root]
    for _ in range(depth + 1):
        next_level: list[Path] = []
        for folder in level:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_file() and entry.suffix.lower() == ".csv":
                    found.append(entry)
                elif entry.is_dir() and not any(_is_nifti(p) for p in _first_files(entry)):
                    next_level.append(entry)
        level = next_level[:200]  # clinical tables sit near the top; do not walk a whole image tree
    return found


def _first_files(folder: Path, limit: int = 20) -> list[Path]:
    out = []
    try:
        for entry in folder.iterdir():
            out.append(entry)
            if len(out) >= limit:
                break
    except OSError:
        pass
    return out


class _Table:
    """A CSV file read into ``(line, row)`` pairs with stripped header names."""

    def __init__(self, path: Path, header: list[str], rows: list[tuple[int, dict[str, str]]]) -> None:
        self.path = path
        self.header = header
        self.rows = rows

    def column(self, *candidates: str, startswith: Optional[str] = None,
               exclude: Optional[str] = None) -> Optional[str]:
        """First header name equal (case-insensitive) to a candidate, else the
        first that starts with ``startswith`` and does not contain ``exclude``."""
        lowered = {name.lower(): name for name in self.header}
        for candidate in candidates:
            if candidate.lower() in lowered:
                return lowered[candidate.lower()]
        if startswith:
            for name in self.header:
                low = name.lower()
                if low.startswith(startswith.lower()) and not (exclude and exclude.lower() in low):
                    return name
        return None


def _read_table(path: Path, collector: _Collector) -> Optional[_Table]:
    """Read a CSV; an unreadable file is reported in ``skipped`` and gives None."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            reader = csv.reader(stream)
            header = [cell.strip() for cell in next(reader, [])]
            rows = []
            for line, cells in enumerate(reader, start=2):
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) > len(header):
                    collector.skip(f"{path.name} row {line}",
                                   "the row has more cells than the header; fix the quoting or the commas.")
                    continue
                rows.append((line, dict(zip(header, cells))))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        collector.skip(path.name, f"the CSV file cannot be read ({error}); its clinical values are not used.")
        return None
    return _Table(path, header, rows)


def _find_table(root: Path, collector: _Collector, accept: Callable[[list[str], Path], bool]) -> Optional[_Table]:
    """The nearest CSV under ``root`` whose header (and name) ``accept`` approves."""
    for path in _csv_files(root):
        try:
            with open(path, encoding="utf-8-sig", newline="") as stream:
                header = [cell.strip() for cell in next(csv.reader(stream), [])]
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if accept(header, path):
            return _read_table(path, collector)
    return None


def _no_images(collector: _Collector, table: _Table, key: str) -> None:
    collector.skip(f"{table.path.name}: {key}", "listed in the CSV but has no image folder; left out.")


# --------------------------------------------------------------------------- synthetic


def _detect_synthetic(root: Path) -> bool:
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        with open(manifest, encoding="utf-8-sig", newline="") as stream:
            first = stream.readline()
    except (OSError, UnicodeDecodeError):
        return True  # a manifest is there; reading it will say what is wrong
    # A manifest with a misnamed column or tab-separated cells is still one: reading it says
    # which column it lacks (not that no layout was found).
    header = {cell.strip().lower() for cell in first.replace("\t", ",").split(",")}
    return bool(header & set(MANIFEST_COLUMNS)) or "case" in first.lower()


def _read_synthetic(root: Path, require_all: bool, manifest: Optional[Path] = None) -> Dataset:
    """The cohort ``root/manifest.csv`` lists (or ``manifest``, a file of another name there)."""
    collector = _Collector(root, require_all)
    manifest = manifest or root / MANIFEST_NAME
    manifest_name = manifest.name
    records, skipped = read_manifest(manifest)
    collector.skipped.extend(skipped)
    listed = set()
    for record in records:
        listed.add(record.case_id)
        if not (root / record.case_id).is_dir():
            collector.skip(record.case_id, f"listed in {manifest_name} but has no image folder; left out.")
            continue
        missing = [m for m, p in record.files.items() if not Path(p).is_file()]
        if missing:
            names = ", ".join(f"{m} ({Path(record.files[m]).name})" for m in missing)
            collector.skip(record.case_id, f"missing modality file(s) listed in {manifest_name}: {names}; "
                                           "the case is left out.")
            continue
        collector.records.append(record)
    for folder in _subdirs(root):
        if folder.name not in listed and any(_is_nifti(p) for p in folder.iterdir()):
            collector.skip(folder.name, f"image folder not listed in {manifest_name}; left out.")
    return collector.dataset("synthetic")


# --------------------------------------------------------------------------- BraTS 2020

_BRATS20 = re.compile(r"^BraTS20_(?:Training|Validation|Testing)_\d+$")
_BRATS20_FILES = {"T1": "t1", "T1C": "t1ce", "T2": "t2", "FLAIR": "flair"}


def _detect_brats2020(root: Path) -> bool:
    return any(_BRATS20.match(d.name) for d in _subdirs(root))


def _odd_seg(folder: Path, used: set[Path]) -> Optional[Path]:
    # BraTS20_Training_355 ships its mask as W39_1998.09.19_Segm.nii: accept the one
    # other NIfTI file whose name mentions "seg".
    candidates = [p for p in sorted(folder.iterdir()) if _is_nifti(p) and p not in used
                  and "seg" in p.name.lower()]
    return candidates[0] if len(candidates) == 1 else None


def _read_brats2020(root: Path, require_all: bool) -> Dataset:
    collector = _Collector(root, require_all)
    cases: dict[str, VisitRecord] = {}
    for folder in _subdirs(root):
        if not _BRATS20.match(folder.name):
            continue
        case_id = folder.name
        found = {m: _nifti(folder, f"{case_id}_{s}") for m, s in _BRATS20_FILES.items()}
        files = collector.modality_files(case_id, found, MRI_MODALITIES)
        if files is None:
            continue
        seg = _nifti(folder, f"{case_id}_seg") or _odd_seg(folder, {p for p in found.values() if p})
        cases[case_id] = VisitRecord(patient_id=case_id, case_id=case_id, visit_day=0, files=files,
                                     seg_path=str(seg) if seg else None)
    all_folders = {d.name for d in _subdirs(root) if _BRATS20.match(d.name)}

    mapping = _find_table(root, collector, lambda h, p: "Grade" in h and any("BraTS_2020" in c for c in h))
    if mapping is not None:
        id_column = mapping.column("BraTS_2020_subject_ID", startswith="BraTS_2020")
        tcga_column = mapping.column("TCGA_TCIA_subject_ID")
        for line, row in mapping.rows:
            case_id = _values.text(row.get(id_column))
            if case_id is None:
                collector.skip(f"{mapping.path.name} row {line}", "unreadable row: the BraTS_2020_subject_ID cell is empty.")
                continue
            if case_id not in all_folders:
                _no_images(collector, mapping, case_id)
                continue
            record = cases.get(case_id)
            if record is not None:
                record.label = _values.text(row.get("Grade"))
                tcga = _values.text(row.get(tcga_column)) if tcga_column else None
                if tcga:
                    record.extra["tcga_id"] = tcga

    survival = _find_table(root, collector, lambda h, p: any(c.lower() == "brats20id" for c in h))
    if survival is not None:
        id_column = survival.column("Brats20ID", "BraTS20ID")
        resection = survival.column("Extent_of_Resection", "ResectionStatus")
        for line, row in survival.rows:
            where = f"{survival.path.name} row {line}"
            case_id = _values.text(row.get(id_column))
            if case_id is None:
                collector.skip(where, "unreadable row: the Brats20ID cell is empty.")
                continue
            if case_id not in all_folders:
                _no_images(collector, survival, case_id)
                continue
            try:
                age = _values.number(row.get("Age"), "Age")
                days, event = _values.brats_survival(row.get("Survival_days"))
            except ValueError as error:
                collector.skip(where, f"unreadable row for {case_id}: {error}; its values are not used.")
                continue
            record = cases.get(case_id)
            if record is not None:
                record.age, record.survival_days, record.event = age, days, event
                eor = _values.text(row.get(resection)) if resection else None
                if eor:
                    record.extra["extent_of_resection"] = eor
    collector.records.extend(cases.values())
    return collector.dataset("brats2020")


# --------------------------------------------------------------------------- BraTS 2021

_BRATS21 = re.compile(r"^BraTS2021_\d+$")
_BRATS21_FILES = {"T1": "t1", "T1C": "t1ce", "T2": "t2", "FLAIR": "flair"}


def _detect_brats2021(root: Path) -> bool:
    return any(_BRATS21.match(d.name) for d in _subdirs(root))


def _read_brats2021(root: Path, require_all: bool) -> Dataset:
    collector = _Collector(root, require_all)
    for folder in _subdirs(root):
        if not _BRATS21.match(folder.name):
            continue
        case_id = folder.name
        found = {m: _nifti(folder, f"{case_id}_{s}") for m, s in _BRATS21_FILES.items()}
        files = collector.modality_files(case_id, found, MRI_MODALITIES)
        if files is None:
            continue
        seg = _nifti(folder, f"{case_id}_seg")
        collector.records.append(VisitRecord(patient_id=case_id, case_id=case_id, visit_day=0, files=files,
                                             seg_path=str(seg) if seg else None))
    return collector.dataset("brats2021")


# --------------------------------------------------------------------------- BraTS 2023+

_BRATS23 = re.compile(r"^(BraTS-([A-Z]+)-\d+)-(\d+)$")
# Cohort prefix -> label. SSA is the adult-glioma task on sub-Saharan African data;
# PED holds paediatric high-grade gliomas / DMG.
BRATS2023_LABELS: dict[str, str] = {
    "GLI": "glioma", "SSA": "glioma", "MEN": "meningioma", "MET": "metastasis", "PED": "pediatric_glioma",
}


def _detect_brats2023(root: Path) -> bool:
    return any(_BRATS23.match(d.name) for d in _subdirs(root))


def _read_brats2023(root: Path, require_all: bool) -> Dataset:
    collector = _Collector(root, require_all)
    for folder in _subdirs(root):
        match = _BRATS23.match(folder.name)
        if not match:
            continue
        case_id, patient_id, cohort, timepoint = folder.name, match.group(1), match.group(2), match.group(3)
        found = {m: _nifti(folder, f"{case_id}-{s}") for m, s in FILE_SUFFIXES.items()}
        files = collector.modality_files(case_id, found, MRI_MODALITIES)
        if files is None:
            continue
        seg = _nifti(folder, f"{case_id}-{SEG_SUFFIX}")
        collector.records.append(VisitRecord(
            patient_id=patient_id, case_id=case_id, visit_day=0 if int(timepoint) == 0 else None,
            files=files, seg_path=str(seg) if seg else None, label=BRATS2023_LABELS.get(cohort),
            extra={"cohort": cohort, "timepoint": timepoint},
        ))
    return collector.dataset("brats2023")


# --------------------------------------------------------------------------- UCSF-PDGM

_UCSF_FOLDER = re.compile(r"^(UCSF-PDGM-(\d+))(?:_(FU[A-Za-z0-9]*))?(?:_nifti)?$")
_UCSF_ID = re.compile(r"^\s*UCSF-PDGM-(\d+)(?:_(FU[A-Za-z0-9]*))?(?:_nifti)?\s*$", re.IGNORECASE)
_UCSF_FILES = {"T1": "T1", "T1C": "T1c", "T2": "T2", "FLAIR": "FLAIR"}


def ucsf_pdgm_id(raw: str) -> Optional[str]:
    """Canonical UCSF-PDGM id with a four-digit number: ``UCSF-PDGM-004`` ->
    ``UCSF-PDGM-0004``; a follow-up tag is kept (``UCSF-PDGM-0429_FU003d``)."""
    match = _UCSF_ID.match(raw or "")
    if not match:
        return None
    canonical = f"UCSF-PDGM-{int(match.group(1)):04d}"
    return f"{canonical}_{match.group(2)}" if match.group(2) else canonical


def _detect_ucsf(root: Path) -> bool:
    return any(_UCSF_FOLDER.match(d.name) for d in _subdirs(root))


def _read_ucsf(root: Path, require_all: bool) -> Dataset:
    collector = _Collector(root, require_all)
    cases: dict[str, VisitRecord] = {}
    for folder in _subdirs(root):
        match = _UCSF_FOLDER.match(folder.name)
        if not match:
            continue
        case_id = ucsf_pdgm_id(folder.name)
        patient_id = f"UCSF-PDGM-{int(match.group(2)):04d}"
        prefix = folder.name[: -len("_nifti")] if folder.name.endswith("_nifti") else folder.name
        found = {m: _nifti(folder, f"{prefix}_{s}") or _nifti(folder, f"{prefix}_{s}_bias")
                 for m, s in _UCSF_FILES.items()}
        files = collector.modality_files(case_id, found, MRI_MODALITIES)
        if files is None:
            continue
        seg = _nifti(folder, f"{prefix}_tumor_segmentation")
        record = VisitRecord(patient_id=patient_id, case_id=case_id,
                             visit_day=None if match.group(3) else 0, files=files,
                             seg_path=str(seg) if seg else None)
        if match.group(3):
            record.extra["timepoint"] = match.group(3)
        cases[case_id] = record
    folders = {ucsf_pdgm_id(d.name) for d in _subdirs(root) if _UCSF_FOLDER.match(d.name)}

    table = _find_table(root, collector, lambda h, p: "ID" in h and ("WHO CNS Grade" in h or "1-dead 0-alive" in h))
    if table is not None:
        diagnosis = table.column("Final pathologic diagnosis (WHO 2021)", startswith="Final pathologic diagnosis")
        applied: dict[str, dict[str, str]] = {}
        for line, row in table.rows:
            where = f"{table.path.name} row {line}"
            key = ucsf_pdgm_id(row.get("ID") or "")
            if key is None:
                collector.skip(where, f"unreadable row: ID '{row.get('ID', '')}' is not a UCSF-PDGM id.")
                continue
            if key not in folders and not any(c.startswith(key + "_") for c in folders if c):
                _no_images(collector, table, f"{row.get('ID', '').strip()} (folder {key}_nifti)")
                continue
            try:
                row["_age"] = _values.number(row.get("Age at MRI"), "Age at MRI")
                row["_os"] = _values.number(row.get("OS"), "OS")
                row["_event"] = _values.event_flag(row.get("1-dead 0-alive"), "1-dead 0-alive")
            except ValueError as error:
                collector.skip(where, f"unreadable row for {key}: {error}; its values are not used.")
                continue
            applied[key] = row
        for case_id, record in cases.items():
            row = applied.get(case_id) or applied.get(record.patient_id)
            if row is None:
                continue
            record.label = _values.text(row.get(diagnosis)) if diagnosis else None
            record.age, record.survival_days, record.event = row["_age"], row["_os"], row["_event"]
            record.sex = _values.sex(row.get("Sex"))
            for key, column in (("who_grade", "WHO CNS Grade"), ("idh", "IDH"), ("mgmt", "MGMT status"),
                                ("codeletion_1p19q", "1p/19q"), ("extent_of_resection", "EOR")):
                value = _values.text(row.get(column))
                if value is not None:
                    record.extra[key] = value
    collector.records.extend(cases.values())
    return collector.dataset("ucsf_pdgm")


# --------------------------------------------------------------------------- UPenn-GBM

_UPENN_FILES = {"T1": "T1", "T1C": "T1GD", "T2": "T2", "FLAIR": "FLAIR"}
_UPENN_ID = re.compile(r"^(.+)_(\d{2})$")


def _upenn_base(root: Path) -> Optional[Path]:
    """The folder holding ``images_structural`` (root or up to 3 levels down)."""
    level = [root]
    for _ in range(4):
        next_level = []
        for folder in level:
            if (folder / "images_structural").is_dir():
                return folder
            next_level.extend(_subdirs(folder))
        level = next_level[:200]  # do not walk a whole image tree
    return None


def _detect_upenn(root: Path) -> bool:
    return _upenn_base(root) is not None


def _upenn_event(status: Optional[str]) -> Optional[int]:
    # Survival_Status: "Deceased" -> death; "Alive" / lost to follow-up -> censored.
    value = (_values.text(status) or "").lower()
    if value.startswith("deceased") or value.startswith("dead"):
        return 1
    if value.startswith("alive") or "lost" in value or value.startswith("censor"):
        return 0
    return None


def _read_upenn(root: Path, require_all: bool) -> Dataset:
    collector = _Collector(root, require_all)
    base = _upenn_base(root)
    cases: dict[str, VisitRecord] = {}
    structural = base / "images_structural"
    for folder in _subdirs(structural):
        case_id = folder.name
        match = _UPENN_ID.match(case_id)
        patient_id, scan = (match.group(1), match.group(2)) if match else (case_id, None)
        found = {m: _nifti(folder, f"{case_id}_{s}") for m, s in _UPENN_FILES.items()}
        files = collector.modality_files(case_id, found, MRI_MODALITIES)
        if files is None:
            continue
        seg = (_nifti(base / "images_segm", f"{case_id}_segm")
               or _nifti(base / "automated_segm", f"{case_id}_automated_approx_segm"))
        record = VisitRecord(patient_id=patient_id, case_id=case_id,
                             visit_day=0 if scan in (None, "11") else None, files=files,
                             seg_path=str(seg) if seg else None, label="glioblastoma")
        if scan is not None:
            record.extra["timepoint"] = scan
        cases[case_id] = record
    folders = {d.name for d in _subdirs(structural)}
    patients_with_images = {(_UPENN_ID.match(c).group(1) if _UPENN_ID.match(c) else c) for c in folders}

    table = _find_table(root, collector,
                        lambda h, p: "ID" in h and any(c.startswith("Survival_from_surgery_days") for c in h))
    if table is not None:
        days_column = table.column("Survival_from_surgery_days_UPDATED", "Survival_from_surgery_days")
        for line, row in table.rows:
            where = f"{table.path.name} row {line}"
            key = _values.text(row.get("ID"))
            if key is None:
                collector.skip(where, "unreadable row: the ID cell is empty.")
                continue
            if key not in folders and key not in patients_with_images:
                _no_images(collector, table, key)
                continue
            try:
                age = _values.number(row.get("Age_at_scan_years"), "Age_at_scan_years")
                days = _values.number(row.get(days_column), days_column)
                kps = _values.number(row.get("KPS"), "KPS")
            except ValueError as error:
                collector.skip(where, f"unreadable row for {key}: {error}; its values are not used.")
                continue
            targets = [cases[key]] if key in cases else [r for r in cases.values() if r.patient_id == key]
            for record in targets:
                record.age, record.survival_days, record.kps = age, days, kps
                record.sex = _values.sex(row.get("Gender"))
                record.event = _upenn_event(row.get("Survival_Status"))
                for extra_key, column in (("idh", "IDH1"), ("mgmt", "MGMT"),
                                          ("extent_of_resection", "GTR_over90percent")):
                    value = _values.text(row.get(column))
                    if value is not None:
                        record.extra[extra_key] = value
    collector.records.extend(cases.values())
    return collector.dataset("upenn_gbm")


# --------------------------------------------------------------------------- LUMIERE

_LUMIERE_PATIENT = re.compile(r"^Patient-\d+$")
_LUMIERE_WEEK = re.compile(r"^week-(\d+)(?:-(\d+))?$")
_LUMIERE_FILES = {"T1": "T1", "T1C": "CT1", "T2": "T2", "FLAIR": "FLAIR"}
_LUMIERE_SEG = Path("HD-GLIO-AUTO-segmentation") / "native" / "segmentation_CT1_origspace.nii.gz"


def _lumiere_base(root: Path) -> Optional[Path]:
    for base in (root, root / "Imaging"):
        for patient in _subdirs(base):
            if _LUMIERE_PATIENT.match(patient.name) and any(_LUMIERE_WEEK.match(w.name) for w in _subdirs(patient)):
                return base
    return None


def _detect_lumiere(root: Path) -> bool:
    return _lumiere_base(root) is not None


def _read_lumiere(root: Path, require_all: bool) -> Dataset:
    collector = _Collector(root, require_all)
    base = _lumiere_base(root)
    cases: dict[tuple[str, str], VisitRecord] = {}
    folders: set[tuple[str, str]] = set()
    for patient in _subdirs(base):
        if not _LUMIERE_PATIENT.match(patient.name):
            continue
        for week in _subdirs(patient):
            match = _LUMIERE_WEEK.match(week.name)
            if not match:
                continue
            folders.add((patient.name, week.name))
            case_id = f"{patient.name}_{week.name}"
            found = {m: _nifti(week, s) for m, s in _LUMIERE_FILES.items()}
            files = collector.modality_files(case_id, found, MRI_MODALITIES)
            if files is None:
                continue
            seg = week / _LUMIERE_SEG
            cases[(patient.name, week.name)] = VisitRecord(
                patient_id=patient.name, case_id=case_id, visit_day=7 * int(match.group(1)), files=files,
                seg_path=str(seg) if seg.is_file() else None, label="glioblastoma",
                extra={"timepoint": week.name},
            )
    patients = {p for p, _ in folders}

    demographics = _find_table(root, collector, lambda h, p: "Patient" in h and any(
        c.lower().startswith("survival") for c in h))
    if demographics is not None:
        survival = demographics.column(startswith="Survival time") or demographics.column(startswith="Survival")
        age_column = demographics.column("Age at surgery (years)", startswith="Age")
        idh = demographics.column(startswith="IDH (", exclude="method") or demographics.column("IDH")
        mgmt = demographics.column("MGMT qualitative", startswith="MGMT")
        for line, row in demographics.rows:
            where = f"{demographics.path.name} row {line}"
            patient = _values.text(row.get("Patient"))
            if patient is None:
                collector.skip(where, "unreadable row: the Patient cell is empty.")
                continue
            if patient not in patients:
                _no_images(collector, demographics, patient)
                continue
            try:
                age = _values.number(row.get(age_column), age_column) if age_column else None
                weeks = _values.number(row.get(survival), survival)
            except ValueError as error:
                collector.skip(where, f"unreadable row for {patient}: {error}; its values are not used.")
                continue
            for (p, _), record in cases.items():
                if p != patient:
                    continue
                record.age, record.sex = age, _values.sex(row.get("Sex"))
                # Survival is given in weeks; a time given is a death (no censoring flag).
                record.survival_days = None if weeks is None else 7.0 * weeks
                record.event = None if weeks is None else 1
                for extra_key, column in (("idh", idh), ("mgmt", mgmt)):
                    value = _values.text(row.get(column)) if column else None
                    if value is not None:
                        record.extra[extra_key] = value

    ratings = _find_table(root, collector, lambda h, p: "Patient" in h and "Date" in h and any(
        c.startswith("Rating") for c in h))
    if ratings is not None:
        rating = ratings.column(startswith="Rating (", exclude="rationale") or ratings.column(
            startswith="Rating", exclude="rationale")
        for line, row in ratings.rows:
            patient, date = _values.text(row.get("Patient")), _values.text(row.get("Date"))
            if patient is None or date is None:
                collector.skip(f"{ratings.path.name} row {line}", "unreadable row: the Patient or Date cell is empty.")
                continue
            if (patient, date) not in folders:
                _no_images(collector, ratings, f"{patient} {date}")
                continue
            value = _values.text(row.get(rating)) if rating else None
            record = cases.get((patient, date))
            if record is not None and value is not None:
                record.extra["rano"] = value
    collector.records.extend(cases.values())
    return collector.dataset("lumiere")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Layout:
    """A folder layout: ``detect(root) -> bool`` and ``read(root, require_all) -> Dataset``."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    read: Callable[[Path, bool], Dataset]


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("synthetic", "manifest.csv + CASE-TTT/CASE-TTT-{t1n,t1c,t2w,t2f,ct,pet,seg}.nii.gz",
               _detect_synthetic, _read_synthetic),
        Layout("lumiere", "Patient-NNN/week-WWW[-k]/{T1,CT1,T2,FLAIR}.nii.gz", _detect_lumiere, _read_lumiere),
        Layout("upenn_gbm", "images_structural/<ID>/<ID>_{T1,T1GD,T2,FLAIR}.nii.gz", _detect_upenn, _read_upenn),
        Layout("ucsf_pdgm", "UCSF-PDGM-NNNN_nifti/UCSF-PDGM-NNNN_{T1,T1c,T2,FLAIR}.nii.gz", _detect_ucsf, _read_ucsf),
        Layout("brats2020", "BraTS20_Training_NNN/BraTS20_Training_NNN_{t1,t1ce,t2,flair,seg}.nii[.gz]",
               _detect_brats2020, _read_brats2020),
        Layout("brats2021", "BraTS2021_NNNNN/BraTS2021_NNNNN_{flair,t1,t1ce,t2,seg}.nii.gz",
               _detect_brats2021, _read_brats2021),
        Layout("brats2023", "BraTS-XXX-NNNNN-TTT/BraTS-XXX-NNNNN-TTT-{t1n,t1c,t2w,t2f,seg}.nii.gz",
               _detect_brats2023, _read_brats2023),
    )
}


def detect_layout(root: Path) -> Optional[str]:
    """Name of the first layout in ``LAYOUTS`` that recognises ``root``, else None."""
    for layout in LAYOUTS.values():
        if layout.detect(root):
            return layout.name
    return None
