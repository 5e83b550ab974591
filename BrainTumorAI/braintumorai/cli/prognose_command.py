"""``braintumorai prognose``: a survival curve from a patient's visits."""

from __future__ import annotations

import argparse
import json
import os

from ..case_folder import SEGMENTATION_TOKENS, case_folder_contents, is_segmentation_name
from ..errors import InputError
from ..modalities import guess_modality, normalise_modality
from ..survival.treatments import TREATMENTS
from .progress import add_progress_argument, end_text_progress, progress_mode, progress_printer


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "prognose", help="predict survival from a patient's visits and write survival.json with its figure",
        description="Predict the survival curve of one patient from their visits (images of any subset of T1, T1C, "
                    "T2, FLAIR, CT, PET, an optional BraTS-style segmentation, treatments, age, sex, KPS) and write "
                    "survival.json and survival.png into --out. Research only, not for clinical use.",
    )
    parser.add_argument("--visit", action="append", default=[], metavar="DAY:FILES", required=True,
                        help="one visit: its day and its files, comma-separated (a comma inside a path written twice: "
                             "a,,b.nii.gz; a negative day as --visit=-30:FILES; modality from the name, or NAME=FILE; "
                             "a *seg* file or seg=FILE is the segmentation), or DAY:FOLDER holding one study; repeat "
                             "per visit; DAY: alone is a visit without images")
    parser.add_argument("--treatment", action="append", default=[], metavar="DAY:KIND",
                        help=f"a treatment started on DAY, KIND one of {', '.join(TREATMENTS)}; repeatable")
    parser.add_argument("--age", type=float, metavar="YEARS", help="age at the first visit")
    parser.add_argument("--sex", choices=["M", "F"], help="M or F")
    parser.add_argument("--kps", type=float, metavar="N", help="Karnofsky performance status (0-100)")
    parser.add_argument("--model", help="prognosis model: registry name or checkpoint path (default: bundled)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present, else CPU)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for survival.json and survival.png")
    parser.add_argument("--json", action="store_true", help="print survival.json to stdout instead of a summary")
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def _day(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"'{option}' must start with a day number (e.g. {option.split()[0]} 120:...), "
                         f"not '{text}'.") from None


def parse_visit(text: str) -> dict:
    """``DAY:FILE,FILE`` / ``DAY:NAME=FILE,...`` / ``DAY:FOLDER`` / ``DAY:`` -> a visit dict."""
    if ":" not in text:
        raise InputError(f"'--visit {text}' is not of the form DAY:FILES, e.g. --visit 0:t1c.nii.gz,flair.nii.gz.")
    day_text, files = text.split(":", 1)
    day = _day(day_text, f"--visit {text}")
    items = split_files(files)
    for item in items:
        path = item.split("=", 1)[1] if "=" in item and not os.path.exists(item) else item
        if not os.path.lexists(path):
            joined = files.replace(",,", "\0").split(",")
            glued = next((",".join(joined[i:j]).replace("\0", ",") for i in range(len(joined))
                          for j in range(i + 2, len(joined) + 1)
                          if os.path.exists(",".join(joined[i:j]).replace("\0", ","))), None)
            hint = (f"; '{glued}' does, and a comma inside a path is written twice "
                    f"('{glued.replace(',', ',,')}')" if glued else "; check the path")
            raise InputError(f"'{path}' in --visit {text} does not exist{hint}.")
    contents = case_folder_contents(items[0]) if len(items) == 1 and "=" not in items[0] else None
    if contents is not None:
        items = contents[0] + ([contents[1]] if contents[1] else [])  # a *seg* name reads as the segmentation
    study, segmentation = {}, None
    for item in items:
        if "=" in item:
            name, path = item.split("=", 1)
            if name.strip().lower() in SEGMENTATION_TOKENS:
                modality = "seg"
            else:
                modality = normalise_modality(name)
        else:
            path = item
            modality = "seg" if is_segmentation_name(item) else guess_modality(item)
            if modality is None:
                raise InputError(f"Cannot tell the modality of '{item}' in --visit {text} from its name; write it "
                                 "as NAME=FILE (T1, T1C, T2, FLAIR, CT, PET or seg).")
        if modality == "seg":
            if segmentation is not None:
                raise InputError(f"--visit {text} has two segmentations; keep one.")
            segmentation = path
        elif modality in study:
            raise InputError(f"--visit {text} gives {modality} twice; keep one volume per modality.")
        else:
            study[modality] = path
    return {"day": day, "study": study or None, "segmentation": segmentation, "name": f"visit on day {day:g}"}


def split_files(files: str) -> list[str]:
    """``a.nii.gz,b.nii.gz`` -> two paths; a comma inside a path is written twice:
    ``scan,,1-t1c.nii.gz`` is the one file ``scan,1-t1c.nii.gz``."""
    return [item.replace("\0", ",") for item in files.replace(",,", "\0").split(",") if item]


def with_treatments(visits: list[dict], treatments: list[str]) -> list[dict]:
    """Each visit gets the treatments started on or before its day."""
    started = []
    for item in treatments:
        if ":" not in item:
            raise InputError(f"'--treatment {item}' is not of the form DAY:KIND, e.g. --treatment 14:surgery.")
        day_text, kind = item.split(":", 1)
        kind = kind.strip().lower()
        if kind not in TREATMENTS:
            raise InputError(f"Unknown treatment '{kind}' in --treatment {item}; use one of {', '.join(TREATMENTS)}.")
        started.append((_day(day_text, f"--treatment {item}"), kind))
    for visit in visits:
        visit["treatments"] = sorted({kind for day, kind in started if day <= visit["day"]}, key=TREATMENTS.index)
    return visits


def summary(data: dict) -> str:
    def months(days):
        return "not reached" if days is None else f"{days / (365.25 / 12):.1f} months ({days:.0f} days)"

    lines = [f"survival given alive at day {data['conditioned_on_day']:g} (the latest of {len(data['visits'])} visits):",
             f"  median survival: {months(data['median_days'])} since the first visit",
             f"  1-year survival: {data['survival_1y']:.2f}   2-year survival: {data['survival_2y']:.2f}   "
             f"risk score: {data['risk']:.3f}",
             "  after each visit: " + ", ".join(f"day {c['day']:g}: median {months(c['median_days'])}"
                                                for c in data["per_visit"])]
    lines += [f"note: {warning}" for warning in data["warnings"]]
    lines.append(f"model: {data['model']['name']} {data['model'].get('version') or ''}; "
                 "Research only. Not for clinical use.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..prognosis import Prognosticator

    from ..output_folder import output_folder

    visits = with_treatments([parse_visit(v) for v in args.visit], args.treatment)
    mode = progress_mode(args)
    report = progress_printer(mode)
    # Checked and locked before the compute; this run's files replace the folder's whole.
    inputs = [path for visit in visits for path in [*(visit["study"] or {}).values(), visit["segmentation"]] if path]
    with output_folder(args.out, option="--out", command="braintumorai prognose", inputs=inputs) as folder:
        if report:
            report("Loading the model", 0.0)
        prognosticator = Prognosticator.load(args.model, device=args.device)
        prediction = prognosticator.predict(visits, {"age": args.age, "sex": args.sex, "kps": args.kps},
                                            progress=report)
        data = prediction.save(folder.staging)
    end_text_progress(mode)
    print(json.dumps(data, indent=2) if args.json else summary(data))
    return 0
