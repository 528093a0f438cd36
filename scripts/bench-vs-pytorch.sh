#!/usr/bin/env bash
# One meta-iteration at the official MNIST config (base_fc learner, full curriculum, B = 128), timed
# in GTN (`gtn-bench meta`, release build, default checkpointing) and in the lean PyTorch reference
# (scripts/bench_pytorch.py, 2 threads, whole graph kept) back to back on this machine, so that the
# ratio does not depend on the day's VM speed.
#
#   scripts/bench-vs-pytorch.sh STEPS [ITERATIONS] [-- extra gtn-bench meta flags]
#
# Prints both programs' output, then one line:
#   ratio <ours/pytorch> ours <s> <GB> pytorch <s> <GB>
# (median seconds per meta-iteration after a warm-up iteration, peak resident memory).
# PyTorch comes from PyPI into a venv ($TORCH_VENV, default ~/.cache/gtn/torch-venv) made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:?usage: scripts/bench-vs-pytorch.sh STEPS [ITERATIONS] [-- gtn-bench meta flags]}
iterations=${2:-4}
shift $(( $# >= 2 ? 2 : 1 ))
[ "${1:-}" = "--" ] && shift
case "$steps$iterations" in *[!0-9]*) echo "bench-vs-pytorch: STEPS and ITERATIONS must be whole numbers, got '$steps' '$iterations'" >&2; exit 2;; esac

venv=${TORCH_VENV:-$HOME/.cache/gtn/torch-venv}
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "bench-vs-pytorch: installing torch into $venv (once)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch numpy
fi

swift build -c release --product gtn-bench >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Each program's whole output goes to stderr (as it finishes), its last line is parsed.
.build/release/gtn-bench meta --steps "$steps" --iterations "$iterations" "$@" >"$log"
cat "$log" >&2
ours=$(tail -n 1 "$log")
"$venv/bin/python" scripts/bench_pytorch.py --steps "$steps" --iterations "$iterations" --threads 2 >"$log"
cat "$log" >&2
theirs=$(tail -n 1 "$log")

# "... median 18.35 s per meta-iteration, peak memory 2.18 GB" / "... median 9.89 s ..., peak RSS 11.54 GB"
ours_s=$(sed -E 's/.*median ([0-9.]+) s.*/\1/' <<<"$ours")
ours_gb=$(sed -E 's/.*peak memory ([0-9.]+) GB.*/\1/' <<<"$ours")
theirs_s=$(sed -E 's/.*median ([0-9.]+) s.*/\1/' <<<"$theirs")
theirs_gb=$(sed -E 's/.*peak RSS ([0-9.]+) GB.*/\1/' <<<"$theirs")
awk -v a="$ours_s" -v b="$theirs_s" -v ag="$ours_gb" -v bg="$theirs_gb" -v t="$steps" \
    'BEGIN { printf "ratio %.3f ours %.2f s %.2f GB pytorch %.2f s %.2f GB (T=%d)\n", a / b, a, ag, b, bg, t }'
