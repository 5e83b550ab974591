"""Train and evaluate the modality-attention classifier.

    python -m training.classifier fit --config training/configs/bundled_classifier.json --out runs/bundled
    python -m training.classifier evaluate --checkpoint runs/bundled/braintumorai-phantom-classifier.pt \
        --config training/configs/bundled_classifier.json --out runs/bundled

``fit``: build (or reuse) the data caches, pretrain the encoder by masked-patch
reconstruction on unlabelled volumes, fine-tune freeze-then-unfreeze, fit the
temperature and the conformal threshold on a held-out calibration split, and write
the checkpoint with its model card. ``fit --from-scratch`` trains the same network
without pretraining and with the same supervised budget: the baseline of the card's
transfer-learning gain (``evaluate --baseline``). ``calibrate`` refits the temperatures
and conformal thresholds of a checkpoint (per modality subset) and rewrites its card.
Runs on the CPU, on CUDA with mixed precision, and under ``torchrun`` on several GPUs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from braintumorai.calibration import apply_temperature, subset_key
from braintumorai.checkpoints import load_checkpoint, save_checkpoint
from braintumorai.datasets.manifest import atomic_write_text
from braintumorai.models import ModalityAttentionNet
from braintumorai.normalization import describe as normalisation_description
from braintumorai.results import write_json_atomic

from . import distributed
from .calibration_fit import conformal_threshold, fit_temperature
from .evaluation import (all_subsets, encode, evaluate_subsets, evaluation_subsets, modality_weight_agreement,
                         presence_for, subset_outputs)
from .fit import finetune, pretrain_encoder
from .metrics import markdown_table
from .ood_fit import fit_ood
from .phantom_cache import CachedSet
from .sources import prepare_caches


def load_config(path: str) -> dict:
    config = json.loads(Path(path).read_text())
    config.setdefault("seed", 0)
    config.setdefault("augment", True)
    config.setdefault("conformal_coverage", 0.9)
    return config


# Fewest calibration cases a modality subset needs for a temperature and threshold of its own.
MIN_CASES_PER_SUBSET = 30


def _calibrate(model, cached: CachedSet, modalities, coverage: float) -> dict:
    """Temperature and conformal threshold on the calibration split: one pair for every
    non-empty modality subset (the split reduced to that subset), and one pooled over
    the evaluated subsets for studies whose subset the table lacks."""
    feats, scores = encode(model, cached.channels)

    def fit(logits, labels) -> dict:
        temperature = fit_temperature(logits, labels)
        threshold = conformal_threshold(apply_temperature(logits, temperature), labels, coverage=coverage)
        return {"temperature": float(temperature), "conformal_threshold": float(threshold), "cases": int(len(labels))}

    per_subset, pooled_logits, pooled_labels = {}, [], []
    evaluated = set(evaluation_subsets(modalities).values())
    for subset in all_subsets(modalities):
        present = presence_for(subset, modalities, cached.present)
        if subset in evaluated:  # as evaluated: every case with at least one of the subset
            rows = present.any(1)
            if rows.any():
                keep = torch.from_numpy(rows)
                logits, _ = subset_outputs(model, feats[keep], scores[keep], present[rows])
                pooled_logits.append(logits)
                pooled_labels.append(cached.labels[rows])
        # A subset's own numbers come from the cases that have all of it, and only from
        # enough of them; a study with another subset gets the pooled numbers.
        wanted = presence_for(subset, modalities, np.ones_like(cached.present))[0]
        rows = np.all(present == wanted, axis=1)
        if rows.sum() >= MIN_CASES_PER_SUBSET:
            keep = torch.from_numpy(rows)
            logits, _ = subset_outputs(model, feats[keep], scores[keep], present[rows])
            per_subset[subset_key(subset)] = fit(logits, cached.labels[rows])
    pooled = fit(np.concatenate(pooled_logits), np.concatenate(pooled_labels))
    return {"temperature": pooled["temperature"], "conformal_threshold": pooled["conformal_threshold"],
            "coverage": coverage, "per_subset": per_subset,
            "fitted_on": f"{len(cached)} calibration phantoms, reduced to each of {len(per_subset)} modality "
                         f"subsets; the pooled values over the {len(evaluated)} evaluated subsets"}


def _summary(results: dict) -> dict:
    """All-six figures and the mean accuracy over the 15 MRI subsets."""
    mri_subsets = [k for k in results if k not in ("all", "MRI only", "CT only", "PET only")]
    return {
        "all_accuracy": results["all"]["accuracy"],
        "all_macro_auc": results["all"]["auc_macro_ovr"],
        "all_ece": results["all"]["ece"],
        "mri_only_accuracy": results.get("MRI only", {}).get("accuracy"),
        "mean_accuracy_15_mri_subsets": float(np.mean([results[k]["accuracy"] for k in mri_subsets])),
    }


def subset_table(results: dict) -> str:
    rows = []
    for name, r in results.items():
        ci = r.get("ci95") or {}
        rows.append({
            "modalities": name,
            "accuracy": f"{r['accuracy']:.3f}" + (f" [{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}]" if ci.get("accuracy") else ""),
            "balanced acc.": f"{r['balanced_accuracy']:.3f}",
            "macro AUC": f"{r['auc_macro_ovr']:.4f}",
            "ECE": f"{r['ece']:.3f}",
            "Brier": f"{r['brier']:.3f}",
            "conformal coverage (set size)": f"{r.get('conformal_coverage', float('nan')):.3f} ({r.get('mean_set_size', float('nan')):.2f})",
        })
    return markdown_table(rows, list(rows[0]))


def command_fit(args) -> int:
    config = load_config(args.config)
    if args.from_scratch:
        # The transfer-learning baseline: same network, data and supervised budget, no pretraining.
        config["pretrain"] = None
        config["name"] += "-scratch"
    initial = None
    if args.init:
        # A second stage: continue fine-tuning a checkpoint (no pretraining, no frozen epoch).
        initial = load_checkpoint(args.init, device="cpu")
        config["pretrain"] = None
        config["finetune"] = dict(config["finetune"], frozen_epochs=0)
    if args.epochs:
        config["finetune"] = dict(config["finetune"], epochs=args.epochs)
    if args.threads:
        torch.set_num_threads(args.threads)
    rank, world, device = distributed.setup()
    if args.device and world == 1:  # under torchrun each rank keeps its own GPU
        device = args.device
    torch.manual_seed(config["seed"])
    np.random.seed(config["seed"])
    log = print if rank == 0 else (lambda *a, **k: None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    # Under torchrun, rank 0 builds the caches while the others wait, then all open them.
    if rank == 0:
        caches, classes, data_card = prepare_caches(config, Path(args.cache), log=log, splits=("train", "calibration"))
    distributed.barrier(world)
    if rank != 0:
        caches, classes, data_card = prepare_caches(config, Path(args.cache), log=log, splits=("train", "calibration"))
    train, calibration = CachedSet.open(caches["train"]), CachedSet.open(caches["calibration"])
    modalities = tuple(config["modalities"])
    log(f"data ready in {time.time() - start:.0f} s: {len(train)} train, {len(calibration)} calibration cases")

    def new_model():
        torch.manual_seed(config["seed"])
        return ModalityAttentionNet(classes, modalities, **config["model"])

    model = new_model()
    if initial is not None:
        model.load_state_dict(initial[0].state_dict())
    pretraining = None
    if config.get("pretrain"):
        log("pretraining the encoder (masked-patch reconstruction, no labels)")
        pretraining = pretrain_encoder(model, train, config["pretrain"], device, world, rank, config["seed"])
        log(f"  pretraining: {pretraining['steps']} steps, loss {pretraining['final_loss']:.4f}, {pretraining['seconds']:.0f} s")
    log("fine-tuning (freeze-then-unfreeze)" if pretraining else "training from scratch")
    history = finetune(model, train, np.arange(len(train)), config["finetune"], device,
                       pretrained=pretraining is not None or (initial is not None and not args.from_scratch),
                       augment=config["augment"], world=world, rank=rank, seed=config["seed"] + (1 if initial else 0),
                       log=log)
    if initial is not None:
        # The card keeps the whole history: the first stage's training, then this one.
        pretraining = initial[1]["training"].get("pretraining")
        history = {"first_stage": initial[1]["training"]["finetuning"], "initialised_from": str(args.init),
                   **history}
    if rank != 0:
        distributed.teardown(world)
        return 0
    model = model.cpu().eval()
    calibration_card = _calibrate(model, calibration, modalities, config["conformal_coverage"])
    log(f"calibration: temperature {calibration_card['temperature']:.3f}, "
        f"conformal threshold {calibration_card['conformal_threshold']:.3f}")
    ood = fit_ood(model, train, calibration, modalities, config["spacing_mm"])
    log(f"out-of-distribution statistics: threshold {ood['threshold']:.3f}" if ood
        else "out-of-distribution statistics: too few training cases, none stored")
    card = {
        "name": config["name"], "version": config["version"], "description": config.get("description", ""),
        "classes": list(classes), "modalities": list(modalities),
        "spacing_mm": config["spacing_mm"], "grid_size": config["grid_size"],
        "normalisation": normalisation_description(),
        "training_data": data_card,
        "training": {"pretraining": pretraining, "finetuning": history, "config": config,
                     "device": device, "seconds": time.time() - start},
        "calibration": calibration_card,
        "ood": ood,
    }
    save_checkpoint(model, out / f"{config['name']}.pt", card)
    log(f"wrote {out / (config['name'] + '.pt')} and its card")
    log(f"done in {time.time() - start:.0f} s")
    distributed.teardown(world)
    return 0


def command_calibrate(args) -> int:
    """Refit the temperatures, conformal thresholds and out-of-distribution statistics of a
    checkpoint on the config's training and calibration splits, and store them in its card
    (the weights are not touched)."""
    config = load_config(args.config)
    model, card = load_checkpoint(args.checkpoint, device="cpu")
    caches, classes, _ = prepare_caches(config, Path(args.cache), log=print, splits=("train", "calibration"))
    if list(classes) != list(card["classes"]):
        print(f"The checkpoint's classes {card['classes']} differ from the data's {list(classes)}.", file=sys.stderr)
        return 2
    coverage = args.coverage if args.coverage is not None else config["conformal_coverage"]
    card = {k: v for k, v in card.items() if not k.startswith("_")}
    calibration = CachedSet.open(caches["calibration"])
    card["calibration"] = _calibrate(model, calibration, tuple(card["modalities"]), coverage)
    card["ood"] = fit_ood(model, CachedSet.open(caches["train"]), calibration, tuple(card["modalities"]),
                          card["spacing_mm"])
    save_checkpoint(model, args.checkpoint, card)
    print(f"calibration: pooled temperature {card['calibration']['temperature']:.3f}, "
          f"{len(card['calibration']['per_subset'])} modality subsets; card updated: {args.checkpoint}")
    return 0


def command_evaluate(args) -> int:
    from .saliency_evaluation import evaluate_saliency

    config = load_config(args.config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, card = load_checkpoint(args.checkpoint, device="cpu")
    caches, classes, _ = prepare_caches(config, Path(args.cache), log=print, splits=("test",))
    if list(classes) != list(card["classes"]):
        print(f"The checkpoint's classes {card['classes']} differ from the data's {list(classes)}.", file=sys.stderr)
        return 2
    test = CachedSet.open(caches["test"])
    modalities = tuple(card["modalities"])
    calibration = card.get("calibration", {})
    start = time.time()
    feats, scores = encode(model, test.channels)
    results = evaluate_subsets(model, feats, scores, test, modalities, classes, calibration,
                               n_bootstrap=args.bootstrap)
    agreement = modality_weight_agreement(model, feats, scores, test, modalities, calibration)
    print(f"classification evaluated in {time.time() - start:.0f} s")
    evaluation = {"test_cases": len(test), "test_seeds": f"{min(test.seeds)}..{max(test.seeds)}",
                  "subsets": results, "summary": _summary(results), "modality_weight_agreement": agreement}
    markdown = [f"## {card['name']} {card['version']} on {len(test)} fresh phantoms\n", subset_table(results), ""]
    if args.saliency_cases:
        saliency = evaluate_saliency(model, test, calibration.get("temperature", 1.0), cases=args.saliency_cases,
                                     seed=0, methods=tuple(args.saliency_methods))
        evaluation["saliency"] = saliency
        markdown += ["### Saliency (predicted class, model grid)\n", saliency["table"], ""]
    extra = _evaluate_extra_sets(args, config, model, card, test, modalities, classes, calibration)
    evaluation.update(extra["json"])
    markdown += extra["markdown"]
    if args.baseline:
        baseline, baseline_card = load_checkpoint(args.baseline, device="cpu")
        b_feats, b_scores = encode(baseline, test.channels)
        b_results = evaluate_subsets(baseline, b_feats, b_scores, test, modalities, classes,
                                     baseline_card.get("calibration", {}), n_bootstrap=0)
        evaluation["transfer_learning"] = {"pretrained_then_finetuned": _summary(results),
                                           "from_scratch_baseline": _summary(b_results)}
        rows = [{"model": name, **{k: f"{v:.4f}" for k, v in s.items() if v is not None}}
                for name, s in evaluation["transfer_learning"].items()]
        markdown += ["### Transfer learning: pretrained vs from scratch\n", markdown_table(rows, list(rows[0])), ""]
    write_json_atomic(evaluation, out / "evaluation.json")
    atomic_write_text(out / "evaluation.md", "\n".join(markdown))
    print("\n".join(markdown))
    if args.update_card:
        card = {k: v for k, v in card.items() if not k.startswith("_")}  # "_path" is the loader's, not the card's
        card["metrics"] = evaluation
        card["normalisation"] = normalisation_description()
        save_checkpoint(model, args.checkpoint, card)
        print(f"model card updated: {args.checkpoint}")
    return 0


def command_cache(args) -> int:
    """Build the data caches of the config's splits (``fit`` and ``evaluate`` reuse them)."""
    config = load_config(args.config)
    prepare_caches(config, Path(args.cache), log=print, splits=tuple(args.splits))
    return 0


def _evaluate_extra_sets(args, config, model, card, test, modalities, classes, calibration) -> dict:
    """First visits against follow-ups, the held-out shifted set and the out-of-distribution
    score, for the sets the config names."""
    from .ood_evaluation import evaluate_ood

    out = {"json": {}, "markdown": []}
    splits = tuple(s for s in ("test_followup", "test_shifted") if f"{s}_per_class" in config["data"])
    if not splits:
        return out
    caches, _, _ = prepare_caches(config, Path(args.cache), log=print, splits=splits)
    sets = {s: CachedSet.open(caches[s]) for s in splits}

    def report(cached, n_bootstrap):
        feats, scores = encode(model, cached.channels)
        return evaluate_subsets(model, feats, scores, cached, modalities, classes, calibration,
                                n_bootstrap=n_bootstrap)

    if "test_followup" in sets:
        followup = sets["test_followup"]
        visits = np.array([info.get("visit", 0) for info in followup.info])
        parts = {"first visits": visits == 0, "follow-up visits": visits > 0,
                 "follow-ups after surgery": np.array(["surgery" in info.get("treatments", [])
                                                       for info in followup.info])}
        results = {name: report(followup.subset(rows), args.bootstrap if name != "follow-ups after surgery" else 0)
                   for name, rows in parts.items()}
        out["json"]["followup"] = {name: {"cases": int(parts[name].sum()), "summary": _summary(r), "subsets": r}
                                   for name, r in results.items()}
        rows = [{"visits": name, "cases": str(int(parts[name].sum())),
                 **{k: f"{v:.3f}" for k, v in _summary(r).items() if v is not None}} for name, r in results.items()]
        out["markdown"] += ["### First visits and follow-up visits (same patients, plain phantoms)\n",
                            markdown_table(rows, list(rows[0])), ""]
    shifted = sets.get("test_shifted")
    if shifted is not None:
        results = report(shifted, args.bootstrap)
        out["json"]["shifted"] = {"cases": len(shifted), "setting": config["data"]["mix"]["test_shifted"],
                                  "summary": _summary(results), "subsets": results}
        out["markdown"] += ["### Held-out shifted set (7-8 mm sagittal slices, strong bias, sigmoid contrast, "
                            "Rician noise)\n", subset_table(results), ""]
    if card.get("ood"):
        ood = evaluate_ood(model, card, test, shifted)
        out["json"]["ood"] = ood
        out["markdown"] += ["### Out-of-distribution score\n", ood["table"], ""]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.classifier", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="train a classifier")
    fit.add_argument("--config", required=True)
    fit.add_argument("--out", required=True, help="folder for the checkpoint and its card")
    fit.add_argument("--cache", default="cache", help="folder for the data caches")
    fit.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    fit.add_argument("--from-scratch", action="store_true",
                     help="the baseline: no pretraining, same supervised budget; writes NAME-scratch.pt")
    fit.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    fit.add_argument("--init", help="continue fine-tuning this checkpoint (a second stage; no pretraining)")
    fit.add_argument("--epochs", type=int, help="fine-tuning epochs (default: the config's)")
    fit.set_defaults(run=command_fit)
    calibrate = sub.add_parser("calibrate", help="refit a checkpoint's calibration on the calibration split")
    calibrate.add_argument("--checkpoint", required=True)
    calibrate.add_argument("--config", required=True)
    calibrate.add_argument("--cache", default="cache")
    calibrate.add_argument("--coverage", type=float, help="nominal conformal coverage (default: the config's)")
    calibrate.set_defaults(run=command_calibrate)
    cache = sub.add_parser("cache", help="build the data caches only")
    cache.add_argument("--config", required=True)
    cache.add_argument("--cache", default="cache")
    cache.add_argument("--splits", nargs="+", default=["train", "calibration", "test"])
    cache.set_defaults(run=command_cache)
    evaluate = sub.add_parser("evaluate", help="evaluate a checkpoint on the test split")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--config", required=True)
    evaluate.add_argument("--out", required=True)
    evaluate.add_argument("--cache", default="cache")
    evaluate.add_argument("--baseline", help="a from-scratch checkpoint to compare with")
    evaluate.add_argument("--bootstrap", type=int, default=1000)
    evaluate.add_argument("--saliency-cases", type=int, default=60)
    evaluate.add_argument("--saliency-methods", nargs="+", default=["layercam", "gradcam", "gradcam++"],
                          choices=["layercam", "layercam-ungated", "gradcam", "gradcam++"],
                          help="maps to evaluate (default: layercam, gradcam, gradcam++)")
    evaluate.add_argument("--update-card", action="store_true", help="store the figures in the model card")
    evaluate.set_defaults(run=command_evaluate)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
