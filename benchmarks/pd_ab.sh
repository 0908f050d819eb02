#!/usr/bin/env bash
# Alternating process-level A/B of the PD run time: the same pd_race.py brainsim worker
# command in two checkouts (OLD, NEW), REPS rounds, each in a fresh process, on a quiet
# machine. Prints each process's run_s: run seconds for 1 simulated second.
#
#   benchmarks/pd_ab.sh OLD_CHECKOUT NEW_CHECKOUT [SCALE] [REPS]
#
# Each checkout needs its native kernels built (cmake, see CONTRIBUTING/README).
set -euo pipefail
old=$1 new=$2 scale=${3:-0.1} reps=${4:-3}
py=${PYTHON:-python}
for i in $(seq "$reps"); do
  for w in "$old" "$new"; do
    r=$(cd "$w" && PYTHONPATH=$w "$py" benchmarks/pd_race.py --worker brainsim --scale "$scale" \
      --duration 1000 --transient 100 2>/dev/null | grep -o '"run_s": [0-9.]*' | head -1)
    echo "$(basename "$w") round $i scale $scale: $r"
  done
done
