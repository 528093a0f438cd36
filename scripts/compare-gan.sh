#!/usr/bin/env bash
# The issue-13 comparison (paper Figs. 9 and 10): a plain conditional GAN, a GTN, and GTN + GAN at
# two or three loss weights, each scored for realism and coverage by one frozen reference
# classifier during training (scores.jsonl at every sample grid) and at the end (gtn score), and
# for how well its images teach (gtn evaluate, 5 fresh learners, the GTN's T steps). One report
# charts them together. Resumable: finished runs are kept.
# Usage: scripts/compare-gan.sh [GTN_ITERATIONS] [GAN_ITERATIONS] [OUTPUT_DIR] [LAMBDAS...]
# Environment: GTN (the binary), DATA (an IDX directory; default Fashion-MNIST).
set -euo pipefail
iterations=${1:-60}
gan_iterations=${2:-1500}
out=${3:-runs/compare-gan}
if [ $# -gt 3 ]; then lambdas=("${@:4}"); else lambdas=(0.03 0.1 0.3); fi
gtn=${GTN:-.build/release/gtn}
data=()
[ -n "${DATA:-}" ] && data=(--data "$DATA")
mkdir -p "$out"
classifier="$out/classifier.safetensors"
[ -f "$classifier" ] || "$gtn" classifier train "${data[@]}" -o "$classifier"
run() {
    local name=$1 n=$2; shift 2
    local every=$(( n >= 6 ? n / 6 : 1 ))
    if [ ! -f "$out/$name/checkpoint.safetensors" ]; then
        "$gtn" train "${data[@]}" --iterations "$n" --eval-every "$n" --samples-every "$every" \
            --classifier "$classifier" --overwrite -o "$out/$name" "$@"
    else
        "$gtn" train --resume "$out/$name" --classifier "$classifier"  # finishes a stopped run; says so if complete
    fi
    "$gtn" score "$out/$name" --classifier "$classifier" | tee "$out/$name/score.txt"
    "$gtn" evaluate "$out/$name" --learners 5 | tee "$out/$name/evaluate.txt"
}
run gan "$gan_iterations" --teacher gan
run gtn "$iterations" --teacher gtn
for l in "${lambdas[@]}"; do run "gtn-gan-$l" "$iterations" --teacher gtn --gan-weight "$l"; done
"$gtn" report "$out"/*/ -o "$out/report.html"
