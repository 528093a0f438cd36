#!/usr/bin/env bash
# The issue-4 comparison: GTN with each curriculum (and the full curriculum without weight
# normalisation), real data and dataset distillation, all meta-trained for the same number of
# meta-iterations (default 50) with the main job's other defaults, evaluated every ITERATIONS/4
# meta-iterations during training (the curves of paper Fig. 2a), then evaluated with 5 fresh
# learners each (plus the plain-SGD real-data control).
# Usage: scripts/compare-teachers.sh [ITERATIONS] [OUTPUT_DIR]
set -euo pipefail
iterations=${1:-50}
out=${2:-runs/compare}
gtn=${GTN:-.build/release/gtn}
every=$(( iterations >= 4 ? iterations / 4 : 1 ))
mkdir -p "$out"
run() {
    local name=$1; shift
    if [ ! -f "$out/$name/checkpoint.safetensors" ]; then
        # --overwrite: a run of this script stopped before its first checkpoint starts again.
        "$gtn" train --iterations "$iterations" --eval-every "$every" --eval-examples 1000 --samples-every "$iterations" --overwrite -o "$out/$name" "$@"
    fi
    "$gtn" evaluate "$out/$name" --learners 5 --real-data-control | tee "$out/$name/evaluate.txt"
}
run gtn-full --teacher gtn --curriculum full
run gtn-shuffled-batch --teacher gtn --curriculum shuffled_batch
run gtn-all-shuffled --teacher gtn --curriculum all_shuffled
run gtn-none --teacher gtn --curriculum none
run gtn-full-no-weight-norm --teacher gtn --curriculum full --no-weight-norm
run real --teacher real
run distillation --teacher distillation
"$gtn" report "$out"/*/ -o "$out/report.html"
