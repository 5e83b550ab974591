"""``braintumorai demo``: the whole product on a built-in synthetic patient, no data needed."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from ..errors import InputError
from .progress import add_progress_argument, end_text_progress, progress_mode, progress_printer, scaled


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="the whole product on a generated patient: classify, saliency, survival, report",
        description="Generate a synthetic patient (several visits, six modalities, BraTS-style files), classify the "
                    "latest visit with saliency maps, predict survival over the visits, and write an HTML report: "
                    "everything into --out. Needs no data, no GPU and no network. Research only, not for clinical use.",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (replaced whole at the end)")
    parser.add_argument("--type", default="glioblastoma",
                        choices=["glioblastoma", "lower_grade_glioma", "metastasis", "meningioma", "lymphoma"],
                        help="tumour type of the patient (default glioblastoma)")
    parser.add_argument("--seed", type=int, default=7, help="the same seed gives the same patient (default 7)")
    parser.add_argument("--visits", type=int, default=4, metavar="K", help="visits, 2 to 8 (default 4)")
    parser.add_argument("--spacing", type=float, default=1.5, metavar="MM",
                        help="voxel size of the generated volumes in mm (default 1.5)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present, else CPU)")
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def _check(args) -> None:
    from .synthetic_commands import SPACING_RANGE_MM

    low, high = SPACING_RANGE_MM
    if not (math.isfinite(args.spacing) and low <= args.spacing <= high):
        raise InputError(f"--spacing {args.spacing:g} is out of range; give a voxel size from {low:g} to {high:g} mm.")
    if args.seed < 0:
        raise InputError(f"--seed {args.seed} is negative; give a seed of 0 or more.")
    if not 2 <= args.visits <= 8:
        raise InputError(f"--visits {args.visits} is out of range; give 2 to 8 visits.")


class _Steps:
    """Numbered steps on stderr, each with its time: with a rewritten progress line on a
    terminal (``text``), as plain lines where stderr is a log, a pipe or CI (``lines``: the
    default off a terminal, so a 20-second run is not silent), or not at all (``--quiet``,
    ``--progress none``); ``json`` prints the progress objects only."""

    def __init__(self, mode: str, total: int) -> None:
        self.mode, self.total, self.index, self.start = mode, total, 0, time.perf_counter()
        self.report = progress_printer(mode if mode != "lines" else "none")

    def begin(self, title: str):
        self.index += 1
        self.tick = time.perf_counter()
        if self.mode in ("text", "lines"):
            print(f"{self.index}/{self.total} {title}", file=sys.stderr, flush=True)
        if self.report is None:
            return None
        return scaled(self.report, (self.index - 1) / self.total, self.index / self.total)

    def end(self) -> None:
        seconds = time.perf_counter() - self.tick
        if self.mode == "text":
            print(f"\r  done in {seconds:.1f} s".ljust(60), file=sys.stderr, flush=True)
        elif self.mode == "lines":
            print(f"  done in {seconds:.1f} s", file=sys.stderr, flush=True)


def steps_mode(args: argparse.Namespace) -> str:
    """``text`` / ``json`` / ``none`` as asked; without --progress or --quiet, ``text`` on a
    terminal and plain ``lines`` elsewhere."""
    if args.progress is None and not sys.stderr.isatty():
        return "lines"
    return progress_mode(args)


def run(args: argparse.Namespace) -> int:
    from ..datasets import write_manifest
    from ..output_folder import output_folder
    from ..pipeline import Classifier
    from ..prognosis import Prognosticator
    from ..report import write_report
    from ..synthetic.export import write_synthetic_patient
    from ..synthetic.longitudinal import generate_patient

    _check(args)
    final = Path(args.out)
    steps = _Steps(steps_mode(args), 4)
    started = time.perf_counter()
    # Everything is written into a staging folder and swapped in at the end (see output_folder).
    with output_folder(final, option="--out", command="braintumorai demo") as folder:
        out = folder.staging
        report = steps.begin(f"Generating a synthetic {args.type.replace('_', ' ')} patient: {args.visits} visits, "
                             f"six modalities, {args.spacing:g} mm (seed {args.seed})")
        patient_id = f"DEMO-{args.seed:05d}"
        records = write_synthetic_patient(out / "patient", patient_id, args.seed, args.type, args.visits,
                                          spacing=args.spacing, progress=report)
        write_manifest(out / "patient", records)
        steps.end()

        latest = records[-1]
        report = steps.begin(f"Classifying the latest visit (day {latest.visit_day}) with saliency "
                             "(fine LayerCAM x Grad-CAM)")
        classifier = Classifier.load(device=args.device)
        result = classifier.predict(latest.files, progress=report)
        classification = result.save(out / "classification", final_dir=final / "classification")
        steps.end()

        report = steps.begin(f"Predicting survival over the {len(records)} visits")
        prognosticator = Prognosticator.load(device=args.device, classifier=classifier)
        visits = [{"day": r.visit_day, "study": dict(r.files), "segmentation": r.seg_path,
                   "treatments": list(r.treatments), "name": f"visit on day {r.visit_day}"} for r in records]
        first = records[0]
        prediction = prognosticator.predict(visits, {"age": first.age, "sex": first.sex, "kps": first.kps},
                                            progress=report)
        survival = prediction.save(out / "survival")
        steps.end()

        steps.begin("Writing the report")
        files = write_report(out / "report", classification=classification, saliency=result.saliency,
                             reference=latest.files[result.reference], images=dict(latest.files),
                             lesion=latest.seg_path, survival=survival,
                             identifiers={"Patient": f"{patient_id} (synthetic phantom)",
                                          "Visits (days)": ", ".join(str(r.visit_day) for r in records),
                                          "Classified visit": latest.case_id})
        steps.end()
    end_text_progress("none")
    print(summary(classification, survival, records, final / "report" / files["report"].name,
                  time.perf_counter() - started))
    return 0


def summary(classification: dict, survival: dict, records, report_path: Path, seconds: float) -> str:
    """The demo's result in a few lines, the truth of the phantom beside it."""
    from ..report.wording import class_name, probability_text

    def months(days):
        return "not reached" if days is None else f"{days / (365.25 / 12):.1f} months"

    truth = records[0]
    weights = sorted(classification["modality_weights"].items(), key=lambda item: -item[1])
    probability = classification["probabilities"][classification["predicted"]]
    rows = [
        ("tumour type", f"{class_name(classification['predicted'])} ({probability_text(probability, 2)}); prediction "
                        f"set at {classification['coverage']:.0%}: "
                        f"{', '.join(class_name(c) for c in classification['prediction_set'])}"),
        ("modality weights", ", ".join(f"{m} {w:.2f}" for m, w in weights)),
        ("median survival", f"{months(survival['median_days'])} since the first visit (given alive on day "
                            f"{survival['conditioned_on_day']:g})"),
        ("1- / 2-year survival", f"{survival['survival_1y']:.2f} / {survival['survival_2y']:.2f}"),
        ("the phantom's truth", f"{truth.label}; {'died' if truth.event else 'censored'} on day "
                                f"{truth.survival_days:g}"),
        ("report", str(report_path)),
        ("time", f"{seconds:.0f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    warnings = classification.get("warnings", []) + survival.get("warnings", [])
    lines += [f"note: {w}" for w in warnings]
    lines.append("Synthetic data, bundled models trained on phantoms. Research only. Not for clinical use.")
    return "\n".join(lines)
