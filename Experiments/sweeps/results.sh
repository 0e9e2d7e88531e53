#!/usr/bin/env bash
# Runs the sweeps whose tables are in Experiments/RESULTS.md and writes each report next to its
# results file: results/NAME.h5 (trials, resumable) and results/NAME.md (`kvc sweep report`, the
# tables as pasted into RESULTS.md). A sweep already complete is only reported again; one that was
# interrupted is resumed (`--resume` reuses every finished trial), so this command can be re-run
# after a crash or a kill and loses at most the trials in flight.
#
#   Experiments/sweeps/results.sh [NAME ...]   # default: every sweep RESULTS.md shows, in this order
#   THREADS=2 KVC=.build/release/kvc PYTHON=.venv/bin/python ...   # (defaults)
#   ONLY="length=2000" Experiments/sweeps/results.sh task-suite      # run only those documents (kvc sweep --only), report the file
#
# Also written, when both task-suite-quick and task-suite-rates have run: results/task-suite-all-rates-wide{,-score}.md
# (their six methods over rates 1-64 in one table). And: results/NAME-matrix.md (method × rate, k/n), results/NAME-score.md (the same with
# the mean task score, RULER's fraction of expected strings, for tasks no method fully solves), results/NAME-wide.md and
# results/NAME-wide-score.md (the same with both question placements side by side) and results/NAME-costs.md (each method's
# compression cost), by Experiments/sweeps/matrix.py; results/NAME-evidence.md (the share of the
# needle's KVs kept, for tasks with a needle), by Experiments/sweeps/retention.py; results/NAME-f16-vs-f32.md
# for sweeps over kv_type, by Experiments/sweeps/compare_axis.py (all need h5py, as in .venv from
# scripts/setup-bench.sh); and, for sweeps with kvcompress among several methods,
# results/NAME-vs-kvcompress.md (the report paired against kvcompress's same cell); for the KVzip-variant
# sweeps, results/NAME-vs-kvzip.md (paired against the kvzip preset's same cell).
set -euo pipefail
cd "$(dirname "$0")/../.."
KVC=${KVC:-.build/release/kvc}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-.venv/bin/python}
only=()
for term in ${ONLY:-}; do only+=(--only "$term"); done
[[ -x $PYTHON ]] || PYTHON=python3
[[ -x $KVC ]] || { echo "error: $KVC is missing: run 'swift build -c release --product kvc' first" >&2; exit 1; }
NAMES=("$@")
if [[ ${#NAMES[@]} -eq 0 ]]; then
  NAMES=(all-methods new-presets prose-needle passkey multikey-agnostic task-suite-quick gemma-task-suite
    gemma-multikey-agnostic gemma-long kvzip-protected-window task-suite-rest multikey-agnostic-parity
    multikey-agnostic-sinks multikey-agnostic-confirm task-suite-4k task-suite-rates)
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
  "$KVC" sweep --spec "$spec" --out "$out" --threads "$THREADS" "${resume[@]}" "${only[@]}" >/dev/null
  echo "   $(( $(date +%s) - start )) s" >&2
  "$KVC" sweep report "$out" >"results/$name.md"
  echo "   report: results/$name.md" >&2
  if grep -qE "^methods: \[kvcompress, |^  - \{name: kvcompress, " "$spec"; then
    "$KVC" sweep report "$out" --baseline kvcompress >"results/$name-vs-kvcompress.md"
  fi
  # The KVzip-variant sweeps: each variant paired against the kvzip preset's same cell.
  case $name in
    multikey-agnostic-parity | multikey-agnostic-sinks | multikey-agnostic-confirm)
      "$KVC" sweep report "$out" --baseline kvzip >"results/$name-vs-kvzip.md" ;;
  esac
  if "$PYTHON" -c "import h5py" 2>/dev/null; then
    "$PYTHON" Experiments/sweeps/matrix.py "$out" >"results/$name-matrix.md"
    "$PYTHON" Experiments/sweeps/matrix.py "$out" --score >"results/$name-score.md"
    "$PYTHON" Experiments/sweeps/matrix.py "$out" --wide >"results/$name-wide.md"
    "$PYTHON" Experiments/sweeps/matrix.py "$out" --wide --score >"results/$name-wide-score.md"
    "$PYTHON" Experiments/sweeps/matrix.py "$out" --costs >"results/$name-costs.md"
    # Tasks without a needle (word counts) have no evidence to count: no file then.
    "$PYTHON" Experiments/sweeps/retention.py "$out" evidence >"results/$name-evidence.md" 2>/dev/null ||
      rm -f "results/$name-evidence.md"
    # Sweeps over the KV storage type: every cell's float16 answers paired with its float32 ones.
    if grep -qE "^  kv_type: \[f32, f16\]" "$spec"; then
      "$PYTHON" Experiments/sweeps/compare_axis.py "$out" --axis kv_type --baseline f32 --other f16 >"results/$name-f16-vs-f32.md"
    fi
  else
    echo "   (no h5py for $PYTHON: results/$name-matrix.md not written)" >&2
  fi
done
# The six methods of task-suite-quick over rates 1-64 (the same documents in two sweeps), one table.
if [[ -f results/task-suite-quick.h5 && -f results/task-suite-rates.h5 ]] && "$PYTHON" -c "import h5py" 2>/dev/null; then
  "$PYTHON" Experiments/sweeps/matrix.py results/task-suite-quick.h5 results/task-suite-rates.h5 --wide >results/task-suite-all-rates-wide.md
  "$PYTHON" Experiments/sweeps/matrix.py results/task-suite-quick.h5 results/task-suite-rates.h5 --wide --score \
    >results/task-suite-all-rates-wide-score.md
  echo "   tables: results/task-suite-all-rates-wide{,-score}.md" >&2
fi
