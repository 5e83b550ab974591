#!/usr/bin/env bash
# Reproduce the bundled classifier from scratch, in two stages:
#   1. plain phantoms (training/configs/bundled_classifier_plain.json): masked-patch pretraining,
#      then freeze-then-unfreeze fine-tuning (this was the bundled model 0.1.0);
#   2. domain-randomised phantoms with follow-up visits (training/configs/bundled_classifier.json):
#      fine-tuning continued from stage 1 (`fit --init`), calibration and out-of-distribution
#      statistics; the from-scratch baseline on the same data; the evaluation stored in the card;
#      the copy into braintumorai/models/ with its sha256.
#
#   bash training/bundled_model.sh [RUN_FOLDER] [CACHE_FOLDER]
#
# On the 2-core reference machine: about 40 min for stage 1, 25 min for stage 2, plus the caches.
# Needs: pip install -e ".[training]".
set -euo pipefail
run=${1:-runs/bundled}
cache=${2:-cache}
plain=training/configs/bundled_classifier_plain.json
config=training/configs/bundled_classifier.json
python -m training.classifier cache --config "$plain" --cache "$cache" --splits train calibration
python -m training.classifier cache --config "$config" --cache "$cache" \
    --splits train calibration test test_followup test_shifted
python -m training.classifier fit --config "$plain" --out "$run/plain" --cache "$cache" --threads 2
python -m training.classifier fit --config "$config" --out "$run" --cache "$cache" --threads 2 \
    --init "$run/plain/braintumorai-phantom-classifier.pt" --epochs 10
python -m training.classifier fit --config "$config" --out "$run" --cache "$cache" --threads 2 --from-scratch
python -m training.classifier evaluate --config "$config" --cache "$cache" --out "$run" \
    --checkpoint "$run/braintumorai-phantom-classifier.pt" \
    --baseline "$run/braintumorai-phantom-classifier-scratch.pt" --update-card
python -m training.bundle_model "$run/braintumorai-phantom-classifier.pt"
