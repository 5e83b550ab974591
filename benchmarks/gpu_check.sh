#!/usr/bin/env bash
# The GPU checks in one go, for the first machine that has a CUDA GPU (about 6 minutes on an H200):
#   1. classify a generated BraTS-sized study on cuda (float16 autocast), result and maps written;
#   2. prognose it with its two follow-up visits on cuda;
#   3. braintumorai bench --device cuda (float32 / float16 / bfloat16, synchronised times, peak GPU memory);
#   4. the GPU-only tests (pytest -m gpu), which skip on a machine without CUDA.
# Usage, from the repository root:  bash benchmarks/gpu_check.sh [OUT_DIR]   (default: a temporary folder)
# Each step's output goes to OUT_DIR/<step>.txt; the script stops at the first failing step.
# A dry run of the same steps on a machine without a GPU:
#   DEVICE=cpu BENCH_ARGS="--size 64,64,64 --repeats 1" bash benchmarks/gpu_check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$(mktemp -d)}"
mkdir -p "$OUT"
PYTHON="${PYTHON:-python}"
DEVICE="${DEVICE:-cuda}"
BENCH_ARGS="${BENCH_ARGS:---repeats 1}"
export PYTHONPATH="$ROOT/BrainTumorAI:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"

if [ "$DEVICE" = cuda ]; then
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU is usable here: nothing to check')"
  "$PYTHON" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)" | tee "$OUT/device.txt"
fi

echo "== 1. classify on $DEVICE"
"$PYTHON" - "$OUT/study" <<'PY'
import sys
from pathlib import Path
from braintumorai.benchmark import write_study
folder = Path(sys.argv[1]); folder.mkdir(parents=True, exist_ok=True)
write_study(folder)
PY
STUDY=("$OUT"/study/BENCH-t1n.nii.gz "$OUT"/study/BENCH-t1c.nii.gz "$OUT"/study/BENCH-t2w.nii.gz "$OUT"/study/BENCH-t2f.nii.gz)
time timeout 120 "$PYTHON" -m braintumorai classify "${STUDY[@]}" --device "$DEVICE" --out "$OUT/classify" --json \
  | tee "$OUT/classify.txt"
ls "$OUT/classify" | tee -a "$OUT/classify.txt"

echo "== 2. prognose on $DEVICE (three visits: the study and its follow-ups on days 90 and 180)"
VISITS=(--visit "0:$(IFS=,; echo "${STUDY[*]}")")
for day in 90 180; do
  VISIT=("${STUDY[@]/#"$OUT/study/"/"$OUT/study/day$day/"}")
  VISITS+=(--visit "$day:$(IFS=,; echo "${VISIT[*]}")")
done
time timeout 120 "$PYTHON" -m braintumorai prognose "${VISITS[@]}" --device "$DEVICE" --out "$OUT/prognose" --json \
  | tee "$OUT/prognose.txt" || echo "prognose: see $OUT/prognose.txt (no prognosis model installed?)"

echo "== 3. bench on $DEVICE"
time timeout 240 "$PYTHON" -m braintumorai bench --device "$DEVICE" $BENCH_ARGS | tee "$OUT/bench.txt"

echo "== 4. GPU-only tests"
# Only the files that hold GPU tests: the others need the test extras (slicer-core, ...).
timeout 90 "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu $(grep -l "mark.gpu" Testing/test_*.py) | tee "$OUT/tests.txt"
echo "all GPU checks passed; outputs in $OUT"
