"""``braintumorai models``: the installed models and what their cards say."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list the installed models with their cards (name, version, sha256, measured figures)",
        description="List the models in the registry (bundled with BrainTumorAI) and, with --model, any checkpoint: "
                    "name, task, version, sha256 (checked against the weights), classes, modalities, training data and "
                    "the figures measured on their test sets.",
    )
    parser.add_argument("--model", action="append", default=[], metavar="CHECKPOINT",
                        help="also describe this checkpoint (.pt or .json); repeatable")
    parser.add_argument("--json", action="store_true", help="print the descriptions as JSON")
    parser.set_defaults(run=run)


def describe(card: dict, weights_ok: bool, default: bool = False) -> dict:
    """The card fields a user chooses a model by, with a few headline figures."""
    task = "prognosis" if card.get("architecture") == "PrognosisGRU" else "classification"
    metrics = card.get("metrics") or {}
    headline = {}
    if task == "classification":
        subsets = metrics.get("subsets", {})
        for name in ("all", "MRI only"):
            if name in subsets:
                headline[f"accuracy ({name})"] = round(subsets[name].get("accuracy", float("nan")), 3)
    else:
        for row in metrics.get("rows", []):
            if row["model"].startswith("GRU: visits up to the landmark (") and \
                    row.get("landmark_days") == metrics.get("headline_landmark_days"):
                headline["Harrell C"] = round(row["c_harrell"], 3)
                headline["integrated Brier 0-36 m"] = round(row["ibs_0_36m"], 3)
    training = card.get("training_data") or {}
    return {"name": card.get("name"), "task": task, "default": default, "version": card.get("version"),
            "sha256": card.get("sha256"), "weights_match_sha256": weights_ok, "architecture": card.get("architecture"),
            "classes": card.get("classes"), "modalities": card.get("modalities") or (card.get("image_model") or {}).get("modalities"),
            "image_model": (card.get("image_model") or {}).get("name"),
            "training_data": training.get("source") or training.get("note") or training,
            "figures": headline, "intended_use": card.get("intended_use"), "card": card.get("_path")}


def _entries(extra: list[str]) -> list[dict]:
    from ..checkpoints import list_models, read_card, resolve_model, sha256_of
    from pathlib import Path

    out = []
    for entry in list_models():
        card = read_card(resolve_model(entry["name"], task=entry.get("task", "classification")))
        weights = Path(card["_path"]).with_name(card["weights"])
        out.append(describe(card, weights.is_file() and sha256_of(weights) == card["sha256"], entry["default"]))
    for path in extra:
        card = read_card(path)
        weights = Path(card["_path"]).with_name(card["weights"])
        out.append(describe(card, weights.is_file() and sha256_of(weights) == card["sha256"]))
    return out


def run(args: argparse.Namespace) -> int:
    entries = _entries(args.model)
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for entry in entries:
        status = "weights match the card's sha256" if entry["weights_match_sha256"] else "WEIGHTS DO NOT MATCH THE CARD"
        print(f"{entry['name']} {entry['version'] or ''} ({entry['task']}{', default' if entry['default'] else ''})")
        print(f"  sha256 {entry['sha256']} - {status}")
        if entry["classes"]:
            print(f"  classes: {', '.join(entry['classes'])}")
        if entry["modalities"]:
            print(f"  modalities: {', '.join(entry['modalities'])}")
        if entry["image_model"]:
            print(f"  image embeddings from: {entry['image_model']}")
        print(f"  training data: {entry['training_data']}")
        if entry["figures"]:
            print("  measured: " + ", ".join(f"{k} {v}" for k, v in entry["figures"].items()))
        print(f"  {entry['intended_use']}  card: {entry['card']}")
    return 0
