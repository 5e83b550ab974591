#!/usr/bin/env bash
# Reproduce the bundled classifier from scratch: phantom caches, pretraining and fine-tuning,
# calibration and out-of-distribution statistics, the from-scratch baseline, the evaluation
# stored in the model card, and the copy into braintumorai/models/ with its sha256.
#
#   bash training/bundled_model.sh [RUN_FOLDER] [CACHE_FOLDER]
#
# One thread per process (the phantom caches use the config's "workers"); on the 2-core
# reference machine the whole run takes a few hours. Needs: pip install -e ".[training]".
set -euo pipefail
run=${1:-runs/bundled}
cache=${2:-cache}
config=training/configs/bundled_classifier.json
export OMP_NUM_THREADS=1
python -m training.classifier cache --config "$config" --cache "$cache" \
    --splits train calibration test test_followup test_shifted
python -m training.classifier fit --config "$config" --out "$run" --cache "$cache" --threads 1
python -m training.classifier fit --config "$config" --out "$run" --cache "$cache" --threads 1 --from-scratch
python -m training.classifier evaluate --config "$config" --cache "$cache" --out "$run" \
    --checkpoint "$run/braintumorai-phantom-classifier.pt" \
    --baseline "$run/braintumorai-phantom-classifier-scratch.pt" --update-card
python -m training.bundle_model "$run/braintumorai-phantom-classifier.pt"
