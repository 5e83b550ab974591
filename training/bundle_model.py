"""Ship a trained checkpoint as the bundled default model.

    python -m training.bundle_model runs/bundled/braintumorai-phantom-classifier.pt

Copies the weights and the card into ``braintumorai/models/`` and makes it the
registry's default for its task (``default``: the classifier, ``default_prognosis``: the
prognosis model), with the sha256 that ``resolve_model`` checks at load time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from braintumorai.checkpoints import REGISTRY_PATH, load_checkpoint, read_card

MAX_BYTES = 20 * 2**20  # the extension must stay small


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="the .pt (its .json card beside it)")
    args = parser.parse_args(argv)
    weights = Path(args.checkpoint).with_suffix(".pt")
    card_path = weights.with_suffix(".json")
    load_checkpoint(card_path)  # refuses a checkpoint whose hash or keys do not match its card
    if weights.stat().st_size > MAX_BYTES:
        print(f"{weights} is {weights.stat().st_size / 2**20:.1f} MB; the bundled model must stay under 20 MB.",
              file=sys.stderr)
        return 2
    card = read_card(card_path)
    folder = REGISTRY_PATH.parent
    shutil.copyfile(weights, folder / weights.name)
    shutil.copyfile(card_path, folder / card_path.name)
    registry = json.loads(REGISTRY_PATH.read_text())
    task = "prognosis" if card["architecture"] == "PrognosisGRU" else "classification"
    entry = {"name": card["name"], "task": task, "card": card_path.name, "weights": weights.name,
             "sha256": card["sha256"], "url": None, "description": card.get("description", "")}
    registry["models"] = [m for m in registry["models"] if m.get("name") != card["name"]] + [entry]
    registry["default" if task == "classification" else f"default_{task}"] = card["name"]
    REGISTRY_PATH.write_text(json.dumps(registry, indent=2) + "\n")
    print(f"bundled {card['name']} ({weights.stat().st_size / 2**20:.2f} MB, sha256 {card['sha256'][:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
