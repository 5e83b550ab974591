"""Same answers before and after a speed change (a script, not a test).

    python benchmarks/same_answers.py save    OUT_DIR [STUDY_DIR ...]
    python benchmarks/same_answers.py compare OUT_DIR [STUDY_DIR ...]

``save`` classifies each study with the default model and saliency (LayerCAM) and stores,
per study, ``NAME.npz``: the probabilities, the model-grid input channels and brain mask,
every saliency map on the reference grid (float32 arrays, z, y, x), and the extracted
brain mask when there is one; a study the classifier refuses stores its refusal sentence.
``compare`` classifies the same studies with the code on the path and prints, per study,
the largest probability difference, the model-input difference, and per map the largest
voxel difference and the share of voxels that differ by more than one display step
(1/255). The bench study (the phantom ``braintumorai bench`` times, 4 MRI) is written to
``OUT_DIR/bench-study`` on ``save`` and read from there on ``compare``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _studies(out: Path, folders: list[str], write: bool) -> dict:
    from braintumorai.benchmark import MRI, write_study

    bench = out / "bench-study"
    if write:
        bench.mkdir(parents=True, exist_ok=True)
        files = write_study(bench, follow_ups=False)
        (bench / "files.json").write_text(json.dumps({m: files[m] for m in MRI}))
    studies = {"bench": json.loads((bench / "files.json").read_text())}
    for folder in folders:
        paths = sorted(str(p) for p in Path(folder).iterdir()
                       if p.is_file() and not any(t in p.name.lower() for t in ("seg", "roi", "readme")))
        studies[Path(folder).name] = paths
    return studies


def _outputs(classifier, files) -> dict:
    import SimpleITK as sitk

    from braintumorai.errors import BrainTumorAIError

    try:
        aligned, prepared = classifier.prepare(files)
        result = classifier.predict(files)
    except BrainTumorAIError as error:
        return {"refused": np.array(str(error))}
    arrays = {"probabilities": np.asarray(result.probabilities, np.float64),
              "channels": prepared.channels, "brain": prepared.brain}
    for name, image in result.saliency.items():
        arrays[f"map_{name}"] = sitk.GetArrayFromImage(image)
    if result.brain_mask is not None:
        arrays["brain_mask"] = sitk.GetArrayFromImage(result.brain_mask)
    return arrays


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b))


def main(argv: list[str]) -> int:
    from braintumorai.pipeline import Classifier

    mode, out, folders = argv[0], Path(argv[1]), argv[2:]
    studies = _studies(out, folders, write=mode == "save")
    classifier = Classifier.load(device="cpu")
    for name, files in studies.items():
        now = _outputs(classifier, files)
        if mode == "save":
            np.savez_compressed(out / f"{name}.npz", **now)
            print(f"{name}: {'refused: ' + str(now['refused']) if 'refused' in now else 'saved'}")
            continue
        before = dict(np.load(out / f"{name}.npz"))
        if "refused" in before or "refused" in now:
            same = str(before.get("refused")) == str(now.get("refused"))
            print(f"{name}: refused before: {before.get('refused')} | now: {now.get('refused')} | same: {same}")
            continue
        print(f"{name}: probabilities max |diff| {np.abs(before['probabilities'] - now['probabilities']).max():.2e}; "
              f"channels max |diff| {np.abs(before['channels'] - now['channels']).max():.2e}; "
              f"model-grid brain Dice {_dice(before['brain'], now['brain']):.4f}")
        if "brain_mask" in before:
            print(f"  extracted brain mask Dice {_dice(before['brain_mask'], now['brain_mask']):.4f}")
        for key in sorted(k for k in before if k.startswith("map_")):
            difference = np.abs(before[key] - now[key])
            print(f"  {key[4:]}: max |diff| {difference.max():.4f}, mean {difference.mean():.2e}, "
                  f"voxels off by > 1/255: {np.mean(difference > 1 / 255):.4%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
