"""``braintumorai inspect``: what each file is and whether it lines up with the reference."""

from __future__ import annotations

import argparse
import json

from .arguments import add_input_arguments, input_files


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="describe volumes and check that they are co-registered",
        description="Print each volume's modality, size, spacing, orientation, intensity range and whether it "
                    "is co-registered with the reference (yes / resampled / no).",
    )
    add_input_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=run)


def describe(files: dict[str, str], reference: str | None = None) -> dict:
    """The inspect report as plain data: {'reference': ..., 'volumes': [...], 'findings': [...]}.

    ``findings``: the plausibility checks classify runs (:mod:`braintumorai.plausibility`),
    as ``{"modality", "refused", "sentence"}``; content is checked only when every volume
    overlaps the reference (else the table's 'co-registered' column says what is wrong).
    """
    # Imported here, not at the top: `braintumorai --help` and the other commands need none of it.
    import numpy as np
    import SimpleITK as sitk

    from ..content_agreement import agreement_findings
    from ..errors import GeometryError
    from ..geometry import check_coregistration
    from ..io import orientation_code, read_image
    from ..modalities import choose_reference
    from ..plausibility import content_findings, geometry_findings
    from ..study import Study, align

    images = {m: read_image(p) for m, p in files.items()}
    reference = choose_reference(list(images), reference)
    findings = geometry_findings(images, files)
    if not any(f.refuse for f in findings):
        try:
            aligned = align(Study(images, names=dict(files)), reference=reference)
            content = content_findings(aligned.images, aligned.brain_mask, aligned.names, aligned.skull_stripped)
            findings += agreement_findings(images, aligned.images, aligned.reference, aligned.brain_mask,
                                           aligned.names, content)
        except GeometryError:
            pass
    volumes = []
    for modality, image in images.items():
        array = sitk.GetArrayViewFromImage(image)
        check = check_coregistration(image, images[reference])
        volumes.append({
            "path": files[modality],
            "modality": modality,
            "size": list(image.GetSize()),
            "spacing": [round(s, 4) for s in image.GetSpacing()],
            "orientation": orientation_code(image),
            "range": [float(np.min(array)), float(np.max(array))],
            "coregistered": check.status,
            "overlap": round(check.overlap, 3),
            "reference": modality == reference,
        })
    return {"reference": {"modality": reference, "path": files[reference]}, "volumes": volumes,
            "findings": [{"modality": f.modality, "refused": f.refuse, "sentence": f.sentence} for f in findings]}


def format_table(report: dict) -> str:
    header = ("modality", "size", "spacing (mm)", "orient", "range", "co-registered", "file")
    rows = [header]
    for v in report["volumes"]:
        rows.append((
            v["modality"] + (" *" if v["reference"] else ""),
            "x".join(map(str, v["size"])),
            "x".join(f"{s:g}" for s in v["spacing"]),
            v["orientation"],
            f"{v['range'][0]:.4g} .. {v['range'][1]:.4g}",
            v["coregistered"],
            v["path"],
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ref = report["reference"]
    lines.append(f"\nreference (*): {ref['modality']} ({ref['path']})")
    if any(v["coregistered"] == "no" for v in report["volumes"]):
        lines.append("Volumes marked 'no' are not co-registered with the reference: register them before classifying.")
    for finding in report.get("findings", []):
        lines.append(("REFUSED: " if finding["refused"] else "WARNING: ") + finding["sentence"])
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Exit code 2 when classify would refuse the study (the reason is printed), else 0."""
    report = describe(input_files(args), args.reference)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 2 if any(f["refused"] for f in report["findings"]) else 0
