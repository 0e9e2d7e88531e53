#!/usr/bin/env bash
# Regenerates notebooks-export/task-suite-grid.{ipynb,html} from the whole task-suite grid
# (Experiments/sweeps/task-suite.yaml): results/task-suite.h5, plus any parts run beside it into
# results/task-suite.part*.h5 (the same specification over other documents, e.g. another --only),
# joined by `kvc sweep merge` into results/task-suite-grid.h5 (missing documents are listed, not an
# error: the notebook plots what exists). The grid itself takes many CPU-hours; run or resume it with
#   ONLY="length=2000" Experiments/sweeps/results.sh task-suite      # or kvc sweep slurm (see the spec)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
kvc=${KVC:-.build/release/kvc}
[[ -x $kvc ]] || swift build -c release --product kvc >&2
[[ -f results/task-suite.h5 ]] || {
  echo "error: results/task-suite.h5 is missing: run the grid first (ONLY=\"length=2000\" Experiments/sweeps/results.sh task-suite)" >&2
  exit 1
}
parts=(results/task-suite.h5)
for part in results/task-suite.part*.h5; do [[ -f $part ]] && parts+=("$part"); done
rm -f results/task-suite-grid.h5 results/task-suite-grid.h5.journal
status=0
"$kvc" sweep merge --out results/task-suite-grid.h5 "${parts[@]}" 2>results/task-suite-grid.missing || status=$?
# Exit 2: merged, with documents still missing (listed in results/task-suite-grid.missing).
if ((status != 0 && status != 2)); then cat results/task-suite-grid.missing >&2; exit "$status"; fi
echo "merged ${#parts[@]} file(s) into results/task-suite-grid.h5 ($(grep -c 'missing: document' results/task-suite-grid.missing || true) documents missing)" >&2
"$python" -m jupyter nbconvert --to notebook --execute --inplace notebooks-export/task-suite-grid.ipynb
"$python" -m jupyter nbconvert --to html notebooks-export/task-suite-grid.ipynb
