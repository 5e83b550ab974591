"""The data behind the plausibility thresholds, and their false-alarm count (a script, not a test).

    python benchmarks/plausibility_survey.py --count 600 --first-seed 9000000 --out survey.jsonl
    python benchmarks/plausibility_survey.py --report survey.jsonl [--real DIR]

Generates phantoms of every class (first visits, and one in six a follow-up visit after
treatment), all six modalities, at 1, 1.5, 2 and 3 mm, runs exactly the checks that
``Classifier.predict`` runs (``braintumorai.plausibility``) and writes one JSON line per
case: each volume's features and every finding. ``--report`` prints, per modality, the
range of each feature (the thresholds in ``plausibility.py`` sit outside these ranges),
and the false alarms: every refusal and warning raised on these phantoms and on the real
sample (``--real``, default ``../shared/data/real-sample/BraTS-GLI-00001-000``), all of
which are valid brain studies. Run with one thread (``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "BrainTumorAI"))
DEFAULT_REAL = os.path.join(os.path.dirname(ROOT), "shared", "data", "real-sample", "BraTS-GLI-00001-000")
SPACINGS = (1.0, 1.5, 2.0, 3.0)
FEATURES = ("p50", "tail_ratio", "negative_share", "air_share", "bone_share", "outside_median",
            "field_correlation", "distinct_values")


def survey_study(study) -> dict:
    """Features and findings of one study, through the pipeline's own checks."""
    import SimpleITK as sitk

    from braintumorai import plausibility
    from braintumorai.content_agreement import agreement_findings
    from braintumorai.study import align

    findings = plausibility.geometry_findings(study.images, study.names)
    aligned = align(study)
    content = plausibility.content_findings(aligned.images, aligned.brain_mask, aligned.names, aligned.skull_stripped)
    findings += agreement_findings(study.images, aligned.images, aligned.reference, aligned.brain_mask, aligned.names,
                                   content)
    brain = sitk.GetArrayViewFromImage(aligned.brain_mask) > 0
    spacing = aligned.brain_mask.GetSpacing()
    return {
        "brain_ml": float(brain.sum() * np.prod(spacing) / 1000),
        "field_mm": {m: [s * n for s, n in zip(im.GetSpacing(), im.GetSize())] for m, im in study.images.items()},
        "features": {m: plausibility.volume_features(sitk.GetArrayViewFromImage(im), brain, im.GetSpacing())
                     for m, im in aligned.images.items()},
        "findings": [[f.modality, f.refuse, f.sentence] for f in findings],
    }


def generate(count: int, first_seed: int, out: str) -> None:
    import SimpleITK as sitk

    from braintumorai.study import Study
    from braintumorai.synthetic import CLASSES, generate_case, generate_patient

    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    with open(out, "a") as stream:
        for index in range(count):
            seed = first_seed + index
            label = CLASSES[index % len(CLASSES)]
            spacing = SPACINGS[(index // len(CLASSES)) % len(SPACINGS)]
            follow_up = label != "no_tumor" and (index // len(CLASSES)) % 6 == 5  # one round in six
            if follow_up:
                patient = generate_patient(seed, n_visits=3, label=label)
                case = patient.case(2, spacing=spacing)
            else:
                case = generate_case(label, seed=seed, spacing=spacing)
            row = {"seed": seed, "label": label, "spacing": spacing, "follow_up": follow_up,
                   **survey_study(Study(dict(case.images)))}
            stream.write(json.dumps(row) + "\n")
            stream.flush()
            print(f"{index + 1}/{count} seed {seed} {label} {spacing} mm: {len(row['findings'])} findings", flush=True)


def real_row(folder: str) -> dict:
    from braintumorai.study import Study

    files = sorted(os.path.join(folder, name) for name in os.listdir(folder) if not name.endswith("-seg.nii.gz"))
    return {"seed": "real", "label": "real", **survey_study(Study.from_files(files))}


def report(path: str, real: str | None) -> None:
    rows = [json.loads(line) for line in open(path)]
    if real and os.path.isdir(real):
        rows.append(real_row(real))
    phantoms = [r for r in rows if r["seed"] != "real"]
    print(f"{len(phantoms)} phantoms ({sum(r['follow_up'] for r in phantoms)} follow-up visits)"
          + (", and the real sample" if len(rows) > len(phantoms) else ""))
    volumes = [r["brain_ml"] for r in phantoms]
    fields = [min(v) for r in phantoms for v in r["field_mm"].values()]
    print(f"brain mask volume mL: phantoms {min(volumes):.0f}-{max(volumes):.0f}"
          + "".join(f", real {r['brain_ml']:.0f}" for r in rows if r["seed"] == "real"))
    print(f"smallest field of view mm: phantoms {min(fields):.0f}")
    print("\n| modality | feature | phantoms min | phantoms p1 | phantoms p99 | phantoms max | real |")
    print("|---|---|---|---|---|---|---|")
    modalities = sorted({m for r in rows for m in r["features"]}, key=lambda m: "T1 T1C T2 FLAIR CT PET".split().index(m))
    for modality in modalities:
        for feature in FEATURES:
            values = np.array([r["features"][modality][feature] for r in phantoms if modality in r["features"]])
            reals = [r["features"][modality][feature] for r in rows if r["seed"] == "real" and modality in r["features"]]
            q = np.percentile(values, [0, 1, 99, 100])
            print(f"| {modality} | {feature} | " + " | ".join(f"{v:.4g}" for v in q) + " | "
                  + ", ".join(f"{v:.4g}" for v in reals) + " |")
    alarms = Counter()
    for row in rows:
        for modality, refuse, sentence in row["findings"]:
            kind = "refusal" if refuse else "warning"
            alarms[(row["seed"] == "real", kind, sentence.split("(")[0][:60])] += 1
    print(f"\nfalse alarms on {len(phantoms)} phantoms: "
          f"{sum(v for k, v in alarms.items() if not k[0] and k[1] == 'refusal')} refusals, "
          f"{sum(v for k, v in alarms.items() if not k[0] and k[1] == 'warning')} warnings; on the real sample: "
          f"{sum(v for k, v in alarms.items() if k[0])}")
    for (is_real, kind, text), n in sorted(alarms.items()):
        print(f"  {'real' if is_real else 'phantoms'} {kind} x{n}: {text}")
    cases_with_alarm = sum(1 for r in phantoms if r["findings"])
    print(f"phantom studies with any finding: {cases_with_alarm} of {len(phantoms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--first-seed", type=int, default=9_000_000)
    parser.add_argument("--out", help="append one JSON line per phantom to this file")
    parser.add_argument("--report", metavar="JSONL", help="summarise a survey file")
    parser.add_argument("--real", default=DEFAULT_REAL)
    args = parser.parse_args()
    if args.report:
        report(args.report, args.real)
    else:
        generate(args.count, args.first_seed, args.out)


if __name__ == "__main__":
    main()
