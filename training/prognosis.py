"""Train and evaluate the prognosis model (PrognosisGRU ensemble).

Longitudinal cohorts (phantoms, or any layout the dataset loader reads):

    python -m training.prognosis fit --config training/configs/bundled_prognosis.json --out runs/prognosis
    python -m training.prognosis evaluate --config training/configs/bundled_prognosis.json \
        --checkpoint runs/prognosis/braintumorai-phantom-prognosis.pt --out runs/prognosis [--update-card]

Any survival CSV (tabular mode: covariates only, one row per patient):

    python -m training.prognosis fit --csv gbsg2.csv --time-col time --event-col cens \
        --covariates horTh,age,menostat,tsize,tgrade,pnodes,progrec,estrec --out runs/gbsg2
    python -m training.prognosis evaluate --csv gbsg2.csv --checkpoint runs/gbsg2/tabular-prognosis.pt --json

``fit`` embeds every visit once with the classifier (cached), trains the ensemble on the
training patients, fits the band on the calibration patients and writes the checkpoint
beside its model card. ``evaluate`` writes the comparison table at each landmark
(``evaluation.json``/``.md``) and, with ``--update-card``, stores it in the card.
Splits are by patient and seeded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from braintumorai.checkpoints import load_checkpoint, read_card, save_checkpoint
from braintumorai.errors import BrainTumorAIError
from braintumorai.results import write_json_atomic
from braintumorai.survival.band import UNFITTED
from braintumorai.survival.time_grid import DAYS_PER_MONTH, TimeGrid
from braintumorai.survival.visit_features import FeatureSpec

from . import survival_metrics as sm
from . import tabular_survival as tabular
from .prognosis_band import fit_band
from .prognosis_cache import build_dataset_cache, build_phantom_cache
from .prognosis_data import CachedCohort, CohortSequences, image_statistics
from .prognosis_evaluation import evaluate_landmark
from .prognosis_fit import FitSettings, fit_ensemble, member_hazards

SPLITS = ("train", "calibration", "test")


def log(message: str) -> None:
    print(message, flush=True)


def load_config(path: str) -> dict:
    config = json.loads(Path(path).read_text())
    config.setdefault("seed", 0)
    config.setdefault("workers", 1)
    return config


def cohort_caches(config: dict, cache_root: Path, splits=SPLITS) -> dict[str, Path]:
    """Build (or reuse) the cache of each split."""
    data, model = config["data"], config.get("classifier")
    folders = {}
    if data["source"] == "phantoms":
        for split in splits:
            n, seed = int(data["patients"][split]), int(data["seeds"][split])
            folder = cache_root / f"prognosis-phantoms-{split}-{n}-{seed}"
            log(f"phantom cohort '{split}': {n} patients (seeds {seed}..{seed + n - 1}) -> {folder}")
            folders[split] = build_phantom_cache(folder, n, seed, float(data.get("phantom_spacing_mm", 2.0)), model,
                                                 config["workers"], log)
        return folders
    if data["source"] == "dataset":
        from braintumorai.datasets import load_dataset

        from .sources import patient_split

        dataset = load_dataset(data["root"], layout=data.get("layout", "auto"))
        for item, reason in dataset.skipped:
            log(f"  skipped {item}: {reason}")
        patients = {pid: visits for pid, visits in dataset.patients().items()
                    if visits[0].survival_days is not None and visits[0].event is not None}
        assignment = patient_split(list(patients), data.get("split", {}), config["seed"])
        for split in splits:
            chosen = {pid: v for pid, v in patients.items() if assignment[pid] == split}
            digest = hashlib.sha256(json.dumps([str(Path(data["root"]).resolve()), split]).encode()).hexdigest()[:10]
            folder = cache_root / f"prognosis-dataset-{split}-{digest}"
            log(f"dataset '{split}': {len(chosen)} patients -> {folder}")
            folders[split] = build_dataset_cache(folder, chosen, model, config["workers"], log)
        return folders
    raise ValueError(f"Unknown data source {data['source']!r}; use 'phantoms' or 'dataset'.")


def fit_cohort(args, config: dict) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(config.get("threads", 1)))
    folders = cohort_caches(config, Path(args.cache), ("train", "calibration"))
    train, calibration = CachedCohort.open(folders["train"]), CachedCohort.open(folders["calibration"])
    grid_config = config["time_grid"]
    grid = TimeGrid.uniform(grid_config["horizon_months"] * DAYS_PER_MONTH, grid_config["intervals"])
    features = config.get("features", {})
    mean, std, components = image_statistics(train, int(features.get("image_components", 0)))
    spec = FeatureSpec(image_dim=len(mean), image_mean=mean, image_std=std, image_components=components,
                       class_names=train.classes if features.get("class_probabilities") else [], compartments=True)
    settings = FitSettings.from_dict({**config.get("fit", {}), "seed": config["seed"]})
    log(f"training {settings.members} GRUs on {len(train.patients)} patients ({spec.size} features per visit)")
    start = time.time()
    model = fit_ensemble(CohortSequences.build(train, spec, grid), spec, grid.n_intervals, settings, log)
    if all("true_risk" in p for p in calibration.patients):
        log("fitting the band on the calibration patients")
        band = fit_band(model, spec, grid, calibration, CohortSequences.build(calibration, spec, grid),
                        seed=config["seed"])
    else:  # real patients have no true curve to calibrate against
        log("no true survival curves in the calibration patients: the band is the ensemble's spread")
        band = {**UNFITTED, "method": "ensemble spread only (no true survival curves to fit its width on)"}
    classifier = read_card(_classifier_card(config))
    card = {
        "name": config["name"], "version": config.get("version", "0.1.0"), "description": config.get("description", ""),
        "time_grid_days": list(grid.edges), "features": spec.to_dict(), "band": band,
        "image_model": {**{k: classifier.get(k) for k in ("name", "version", "sha256")},
                        "source": config.get("classifier") or classifier["name"],
                        "classes": classifier["classes"], "modalities": classifier["modalities"]},
        "training_data": {"source": "synthetic longitudinal phantoms (braintumorai.synthetic); no patient data"
                          if config["data"]["source"] == "phantoms" else str(config["data"].get("root")),
                          "cache_key": train.meta["key"], "train_patients": len(train.patients),
                          "calibration_patients": len(calibration.patients), "seeds": config["data"].get("seeds")},
        "fit": {**config.get("fit", {}), "seed": config["seed"], "seconds": round(time.time() - start, 1)},
        "metrics": {},
    }
    saved = save_checkpoint(model, out / config["name"], card)
    log(f"wrote {out / config['name']}.pt (sha256 {saved['sha256'][:12]}...) and its card; band offsets {band.get('offsets')}")
    return 0


def _classifier_card(config: dict):
    from braintumorai.checkpoints import resolve_model

    return resolve_model(config.get("classifier"))


def evaluate_cohort(args, config: dict) -> int:
    torch.set_num_threads(int(config.get("threads", 1)))
    model, card = load_checkpoint(args.checkpoint)
    folders = cohort_caches(config, Path(args.cache), ("train", "test"))
    train, test = CachedCohort.open(folders["train"]), CachedCohort.open(folders["test"])
    spec = FeatureSpec.from_dict(card["features"])
    grid = TimeGrid(tuple(card["time_grid_days"]))
    seqs = CohortSequences.build(test, spec, grid)
    evaluation = config.get("evaluation", {})
    rows = []
    for landmark in evaluation.get("landmarks_days", [0.0]):
        log(f"landmark {landmark:g} days: judging {int(np.sum(seqs.time > landmark))} patients")
        rows += evaluate_landmark(model, card, spec, grid, train, test, seqs, float(landmark),
                                  evaluation.get("subset", "mri"), int(evaluation.get("bootstrap", 200)))
    result = {"test_patients": len(test.patients), "test_seeds": config["data"].get("seeds", {}).get("test"),
              "headline_landmark_days": evaluation.get("headline_days"), "rows": rows}
    out = Path(args.out)
    write_json_atomic(result, out / "evaluation.json")
    table = markdown(rows)
    (out / "evaluation.md").write_text(table + "\n")
    print(table)
    if args.update_card:
        _update_card(args.checkpoint, result)
    return 0


def _update_card(checkpoint: str, metrics: dict) -> None:
    from braintumorai.checkpoints import _checkpoint_paths

    _, card_path = _checkpoint_paths(checkpoint)
    card = json.loads(card_path.read_text())
    card["metrics"] = metrics
    write_json_atomic(card, card_path)
    log(f"stored the evaluation in {card_path}")


def _fmt(value, ci=None, digits=3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def markdown(rows: list[dict]) -> str:
    """One table per landmark."""
    lines = []
    for landmark in dict.fromkeys(r["landmark_days"] for r in rows):
        chosen = [r for r in rows if r["landmark_days"] == landmark]
        lines += [f"\nLandmark {landmark / DAYS_PER_MONTH:.0f} months ({chosen[0]['n']} patients alive and followed)\n",
                  "| model | Harrell C | Uno C | AUC 12 m | AUC 24 m | IBS 0-36 m | calibration 12 m (MAE) "
                  "| BraTS 3-class | band coverage 12 m (width) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in chosen:
            band = (f"{r['band_coverage_12m']:.3f} ({r['band_width_12m']:.2f})" if "band_coverage_12m" in r else "-")
            lines.append(f"| {r['model']} | {_fmt(r['c_harrell'], r.get('c_harrell_ci'))} | {_fmt(r['c_uno'])} | "
                         f"{_fmt(r['auc_12m'])} | {_fmt(r['auc_24m'])} | {_fmt(r['ibs_0_36m'], r.get('ibs_0_36m_ci'))} | "
                         f"{_fmt(r['calibration_12m_mean_abs_error'])} | {_fmt(r['brats_3class_accuracy'])} "
                         f"(n={r['brats_3class_n']}) | {band} |")
    return "\n".join(lines)


def fit_tabular(args) -> int:
    covariates = [c for c in args.covariates.split(",") if c]
    frame = tabular.read_table(args.csv, args.time_col, args.event_col, covariates)
    train_rows, test_rows = tabular.split_rows(len(frame), args.test_fraction, args.seed)
    train = frame.iloc[train_rows]
    spec = tabular.covariate_spec(train, covariates)
    grid = TimeGrid.uniform(float(train[args.time_col].max()) + 1e-6, args.intervals)
    settings = FitSettings(hidden=32, members=5, dropout=0.1, seed=args.seed, max_epochs=300, patience=30,
                           augmentation=tabular_augmentation())
    torch.set_num_threads(1)
    model = fit_ensemble(tabular.sequences(train, spec, grid, args.time_col, args.event_col), spec, grid.n_intervals,
                         settings, log)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    card = {"name": args.name, "version": "0.1.0", "time_grid_days": list(grid.edges), "features": spec.to_dict(),
            "band": dict(UNFITTED), "image_model": None,
            "tabular": {"csv": Path(args.csv).name, "csv_sha256": tabular.file_sha256(args.csv),
                        "time_col": args.time_col, "event_col": args.event_col, "covariates": covariates,
                        "test_fraction": args.test_fraction, "seed": args.seed},
            "training_data": {"source": Path(args.csv).name, "train_rows": int(len(train_rows))}}
    saved = save_checkpoint(model, out / args.name, card)
    log(f"wrote {out / args.name}.pt (sha256 {saved['sha256'][:12]}...) and its card")
    return 0


def tabular_augmentation():
    from .prognosis_data import Augmentation

    return Augmentation(no_images=0.0, no_compartments=0.0, visit_without_image=0.0, covariate_missing=0.05)


def evaluate_tabular(args) -> int:
    model, card = load_checkpoint(args.checkpoint)
    info = card.get("tabular")
    if info is None:
        raise BrainTumorAIError(f"{args.checkpoint} is not a tabular model; evaluate it with --config.")
    frame = tabular.read_table(args.csv, info["time_col"], info["event_col"], info["covariates"])
    train_rows, test_rows = tabular.split_rows(len(frame), info["test_fraction"], info["seed"])
    same_file = tabular.file_sha256(args.csv) == info["csv_sha256"]
    if not same_file:  # another data set: every row is held out
        train_rows, test_rows = np.arange(0), np.arange(len(frame))
    spec, grid = FeatureSpec.from_dict(card["features"]), TimeGrid(tuple(card["time_grid_days"]))
    test = frame.iloc[test_rows]
    seqs = tabular.sequences(test, spec, grid, info["time_col"], info["event_col"])
    hazards = member_hazards(model, seqs.x[0])[:, :, 0].mean(0)  # (N, J)
    survival_end = grid.survival(hazards)[:, -1]
    risk = -np.log(np.clip(survival_end, 1e-12, 1))
    reference = frame.iloc[train_rows] if same_file else test
    tr_t, tr_e = reference[info["time_col"]].to_numpy(float), reference[info["event_col"]].astype(bool).to_numpy()
    t, e = seqs.time, seqs.event
    times = np.linspace(np.percentile(t, 5), np.percentile(t, 80), 30)
    result = {"n": int(len(test)), "held_out_split": bool(same_file),
              "c_index_harrell": sm.harrell_c(t, e, risk),
              "c_index_uno": sm.uno_c(tr_t, tr_e, t, e, risk, float(np.percentile(t, 80))),
              "integrated_brier": sm.integrated_brier(tr_t, tr_e, t, e, grid.survival_at(hazards, times), times)}
    if same_file:
        result["cox"] = cox_reference(frame, train_rows, test_rows, spec, info, tr_t, tr_e, times)
    print(json.dumps(result, indent=2) if args.json else
          "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def cox_reference(frame, train_rows, test_rows, spec, info, tr_t, tr_e, times) -> dict:
    """CoxPHFitter on the same encoded covariates and split: the reference figures."""
    from lifelines import CoxPHFitter

    encoded = tabular.encoded_covariates(frame, spec)
    encoded = encoded.loc[:, encoded.iloc[train_rows].std() > 0]
    t, e = frame[info["time_col"]].to_numpy(float), frame[info["event_col"]].astype(bool).to_numpy()
    fitter = CoxPHFitter(penalizer=0.01).fit(encoded.iloc[train_rows].assign(T=t[train_rows], E=e[train_rows]),
                                             "T", "E")
    test = encoded.iloc[test_rows]
    risk = fitter.predict_partial_hazard(test).to_numpy()
    survival = fitter.predict_survival_function(test, times=times).to_numpy().T
    tt, te = t[test_rows], e[test_rows]
    return {"c_index_harrell": sm.harrell_c(tt, te, risk),
            "c_index_uno": sm.uno_c(tr_t, tr_e, tt, te, risk, float(np.percentile(tt, 80))),
            "integrated_brier": sm.integrated_brier(tr_t, tr_e, tt, te, survival, times)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("fit", "evaluate"):
        sub = commands.add_parser(name)
        sub.add_argument("--config", help="cohort mode: a JSON config (see training/configs/bundled_prognosis.json)")
        sub.add_argument("--csv", help="tabular mode: a survival CSV, one row per patient")
        sub.add_argument("--cache", default="cache", help="folder for the embedding caches (default ./cache)")
        sub.add_argument("--out", help="output folder")
        if name == "fit":
            sub.add_argument("--time-col", help="tabular: survival or follow-up time column")
            sub.add_argument("--event-col", help="tabular: 1 = event, 0 = censored")
            sub.add_argument("--covariates", help="tabular: comma-separated covariate columns")
            sub.add_argument("--name", default="tabular-prognosis", help="tabular: checkpoint name")
            sub.add_argument("--test-fraction", type=float, default=0.25, help="tabular: held-out share (default 0.25)")
            sub.add_argument("--intervals", type=int, default=20, help="tabular: time grid intervals (default 20)")
            sub.add_argument("--seed", type=int, default=0)
        else:
            sub.add_argument("--checkpoint", required=True)
            sub.add_argument("--update-card", action="store_true", help="store the evaluation in the card")
            sub.add_argument("--json", action="store_true", help="tabular: print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        if args.csv:
            if args.command == "fit":
                missing = [o for o in ("time_col", "event_col", "covariates", "out") if not getattr(args, o)]
                if missing:
                    parser.error("tabular fit needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
                return fit_tabular(args)
            return evaluate_tabular(args)
        if not args.config or not args.out:
            parser.error("give --config and --out (cohort mode) or --csv (tabular mode)")
        config = load_config(args.config)
        return fit_cohort(args, config) if args.command == "fit" else evaluate_cohort(args, config)
    except BrainTumorAIError as error:
        print(f"training.prognosis {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
