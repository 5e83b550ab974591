"""``braintumorai batch``: classify every case of a cohort (and predict every patient's
survival), resumably, on local processes or a Dask cluster."""

from __future__ import annotations

import argparse
import json

from .progress import add_progress_argument, progress_mode, progress_printer


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch", help="classify a whole cohort (and predict survival per patient) into one results.csv",
        description="Run every case found by the dataset loader (a manifest.csv or a BraTS / UCSF-PDGM / UPenn-GBM / "
                    "LUMIERE / synthetic folder): out/cases/<case>/result.json, out/patients/<patient>/survival.json "
                    "for patients with two or more dated visits, and out/results.csv. Finished cases are never redone; "
                    "a failed case is recorded with its error and the run goes on. Research only, not for clinical use.",
    )
    parser.add_argument("source", metavar="MANIFEST_OR_FOLDER", help="a manifest.csv or a cohort folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (reuse it to resume)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="parallel worker processes on this machine (default 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of a Dask scheduler (tcp://host:8786) to run the cases on its workers")
    parser.add_argument("--saliency", default="none", choices=["layercam", "gradcam", "gradcam++", "occlusion", "none"],
                        help="saliency maps per case (default none: cohort runs rarely need them)")
    parser.add_argument("--model", help="classifier: registry name or checkpoint path (default: bundled)")
    parser.add_argument("--prognosis-model", help="prognosis model: registry name or checkpoint path (default: bundled)")
    parser.add_argument("--no-prognosis", action="store_true", help="classify only")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present, else CPU)")
    parser.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..batch import print_progress, run_batch

    mode = progress_mode(args)
    if mode == "json":
        printer = progress_printer("json")
        progress = lambda done, total, seconds: printer(f"{done} of {total} jobs", done / max(total, 1))  # noqa: E731
    else:
        progress = print_progress if mode == "text" else None
    summary = run_batch(args.source, args.out, workers=args.workers, scheduler=args.scheduler,
                        saliency=None if args.saliency == "none" else args.saliency, model=args.model,
                        prognosis_model=args.prognosis_model, device=args.device, prognosis=not args.no_prognosis,
                        progress=progress, out_option="--out")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['cases']} cases, {summary['patients']} patients: ran {summary['ran']} jobs in "
              f"{summary['seconds']:.0f} s, {summary['skipped_finished']} already finished, "
              f"{len(summary['failed'])} failed; {summary['results_csv']}")
        for case in summary["failed"]:
            print(f"  failed: {case} (see its error.json)")
        skipped = summary["skipped_by_loader"]
        if skipped:
            print(f"{len(skipped)} listed or found but left out:")
            for what, why in skipped:
                print(f"  left out: {what}: {why}")
    return 0
