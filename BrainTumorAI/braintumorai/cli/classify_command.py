"""``braintumorai classify``: tumour type, prediction set, modality weights and saliency maps."""

from __future__ import annotations

import argparse
import json

from .arguments import add_input_arguments, input_files, pet_arguments, unused_pet_options
from .progress import add_progress_argument, end_text_progress, progress_mode, progress_printer, scaled


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify", help="classify a study and write result.json with saliency maps",
        description="Classify the tumour type of one study (any subset of T1, T1C, T2, FLAIR, CT, PET) and write "
                    "result.json and the saliency maps (NIfTI, on the reference volume's grid) into --out. "
                    "Research only, not for clinical use.",
    )
    add_input_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for result.json and the saliency maps")
    parser.add_argument("--model", help="registry name or checkpoint path (default: the bundled model)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present, else CPU)")
    parser.add_argument("--saliency", default="layercam", choices=["layercam", "gradcam", "gradcam++", "occlusion", "none"],
                        help="saliency method (default layercam: fine LayerCAM gated by Grad-CAM; occlusion is slower)")
    parser.add_argument("--class", dest="target_class", metavar="NAME",
                        help="class the saliency maps explain (default: the predicted class)")
    parser.add_argument("--register", action="store_true",
                        help="rigidly register volumes that are not co-registered with the reference")
    parser.add_argument("--report", action="store_true",
                        help="also write report/report.html (self-contained) and its figures into --out: slices through "
                             "the saliency peak per modality, probabilities, prediction set, modality weights")
    parser.add_argument("--json", action="store_true", help="print result.json to stdout instead of a summary")
    add_progress_argument(parser)
    parser.set_defaults(run=run)


def summary(data: dict) -> str:
    """A short human-readable view of result.json: classes most probable first, probabilities
    never rounded to certainty, each warning once."""
    from ..report.wording import by_probability, class_name, model_caveat, probability_text

    order = by_probability(data["classes"], data["probabilities"])
    members = [class_name(c) for c in order if c in set(data["prediction_set"])]
    coverage = "n/a" if data["coverage"] is None else f"{data['coverage']:.0%}"
    lines = [f"predicted: {class_name(data['predicted'])}   (prediction set at {coverage} coverage: "
             f"{', '.join(members)})"]
    names = {c: class_name(c) for c in order}
    width = max(len(n) for n in names.values())
    for name in order:
        p = data["probabilities"][name]
        lines.append(f"  {names[name].ljust(width)}  {probability_text(p).rjust(7)}  {'#' * int(round(p * 40))}")
    lines.append("modality weights: " + ", ".join(f"{m} {w:.2f}" for m, w in data["modality_weights"].items()))
    if data["saliency"]:
        lines.append("saliency maps (" + str(data["saliency_method"]) + f", class {data['saliency_class']}):")
        lines += [f"  {name}: {path}" for name, path in data["saliency"].items()]
    if data.get("ood_score") is not None:
        lines.append(f"out-of-distribution score: {data['ood_score']:.2f}"
                     + ("  (FLAGGED: unusual for the model, see the WARNING)" if data.get("ood_flag")
                        else "  (like the training data)"))
        if data.get("ood_flag"):
            from ..ood import OOD_ADVICE

            lines.append(f"WHAT TO DO: {OOD_ADVICE}")
    if data.get("brain_mask"):
        lines.append(f"brain mask (extracted): {data['brain_mask']}")
    lines.append("timings: " + ", ".join(f"{k} {v:.2f}" for k, v in data["timings"].items()))
    lines += [f"WARNING: {sentence}" for sentence in data.get("warnings", [])]
    if model_caveat(data.get("model")):
        lines.append(f"NOTE: {model_caveat(data.get('model'))}")
    lines.append("Research only. Not for clinical use.")
    return "\n".join(lines)


def _case_name(files: dict) -> str:
    """The case as its files name it: the common start of their names (``BraTS-GLI-00001-000``)."""
    import os

    names = [os.path.basename(str(path).rstrip("/")) for path in files.values()]
    common = os.path.commonprefix(names).rstrip("-_. ")
    return common or ", ".join(names)


def run(args: argparse.Namespace) -> int:
    from ..output_folder import output_folder
    from ..pipeline import Classifier
    from ..study import Study

    files = input_files(args)
    mode = progress_mode(args)
    report = progress_printer(mode)
    # --out is checked (writable, not in use) before the compute, and replaced only at the end.
    with output_folder(args.out, option="--out", command="braintumorai classify",
                       inputs=list(files.values())) as out:
        if report:
            report("Loading the model", 0.0)
        classifier = Classifier.load(args.model, device=args.device)
        study = Study.from_files(files, metadata=pet_arguments(args))
        result = classifier.predict(study, saliency=None if args.saliency == "none" else args.saliency,
                                    target_class=args.target_class, reference=args.reference, register=args.register,
                                    progress=scaled(report, 0.1, 0.85))
        unused = unused_pet_options(args, study)
        if unused:
            result.warnings.append(unused)
        if report:
            report("Writing the results", 0.9)
        data = result.save(out.staging, final_dir=out.final)
        if args.report:
            from ..report import write_report

            if report:
                report("Writing the report", 0.95)
            write_report(out.staging / "report", classification=data, saliency=result.saliency,
                         reference=study.images[result.reference],
                         images={m: study.images[m] for m in result.modality_weights}, identifiers={"Case": _case_name(files)})
    if report:
        report("Done", 1.0)
    end_text_progress(mode)
    print(json.dumps(data, indent=2) if args.json else summary(data))
    if args.report and not args.json:
        print(f"report: {out.final / 'report' / 'report.html'}")
    return 0
