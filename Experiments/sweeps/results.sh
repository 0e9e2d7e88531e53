#!/usr/bin/env bash
# Runs the sweeps whose tables are in Experiments/RESULTS.md and writes each report next to its
# results file: results/NAME.h5 (trials, resumable) and results/NAME.md (`kvc sweep report`, the
# tables as pasted into RESULTS.md). A sweep already complete is only reported again; one that was
# interrupted is resumed (`--resume` reuses every finished trial), so this command can be re-run
# after a crash or a kill and loses at most the trials in flight.
#
#   Experiments/sweeps/results.sh [NAME ...]   # default: every sweep RESULTS.md shows, in this order
#   THREADS=2 KVC=.build/release/kvc ...        # (defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
KVC=${KVC:-.build/release/kvc}
THREADS=${THREADS:-2}
[[ -x $KVC ]] || { echo "error: $KVC is missing: run 'swift build -c release --product kvc' first" >&2; exit 1; }
NAMES=("$@")
if [[ ${#NAMES[@]} -eq 0 ]]; then
  NAMES=(all-methods new-presets prose-needle passkey multikey-agnostic task-suite-quick gemma-task-suite)
fi
mkdir -p results
for name in "${NAMES[@]}"; do
  spec=Experiments/sweeps/$name.yaml
  [[ -f $spec ]] || { echo "error: no sweep spec $spec" >&2; exit 1; }
  out=results/$name.h5
  resume=()
  if [[ -e $out || -e $out.journal ]]; then resume=(--resume); fi
  echo "== $name ($spec -> $out${resume:+, resumed})" >&2
  start=$(date +%s)
  "$KVC" sweep --spec "$spec" --out "$out" --threads "$THREADS" "${resume[@]}" >/dev/null
  echo "   $(( $(date +%s) - start )) s" >&2
  "$KVC" sweep report "$out" >"results/$name.md"
  echo "   report: results/$name.md" >&2
done
