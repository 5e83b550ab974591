"""``braintumorai demo``: the whole product on a built-in synthetic patient, no data needed."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run inspect and classify on a generated phantom study",
        description="Generate a synthetic phantom study (six modalities, BraTS-style files), inspect it, and "
                    "classify it with the bundled model, writing everything into --out.",
    )
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--type", default="glioblastoma", help="tumour type of the phantom (default glioblastoma)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spacing", type=float, default=1.0, help="voxel size of the phantom in mm (default 1)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..datasets import write_case, write_manifest
    from ..pipeline import Classifier
    from ..synthetic import generate_case
    from .classify_command import summary
    from .inspect_command import describe, format_table

    out = Path(args.out)
    print(f"1. Generating a synthetic {args.type} phantom (seed {args.seed}, {args.spacing:g} mm) ...")
    case = generate_case(label=args.type, seed=args.seed, spacing=args.spacing)
    record = write_case(out / "study", "DEMO-000", case.images, case.masks["seg"], label=case.label)
    write_manifest(out / "study", [record])
    print(f"   wrote {len(record.files)} volumes and the tumour mask to {out / 'study' / 'DEMO-000'}")

    print("\n2. Inspecting the volumes:")
    print(format_table(describe(record.files)))

    print("\n3. Classifying with the bundled model (Grad-CAM saliency):")
    classifier = Classifier.load(device=args.device)
    result = classifier.predict(record.files, saliency="layercam")
    data = result.save(out / "classification")
    print(summary(data))
    print(f"\n   true label of the phantom: {case.label}; result.json in {out / 'classification'}")
    return 0
