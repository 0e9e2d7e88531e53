#!/usr/bin/env bash
# Regenerates notebooks-export/task-suite-grid.{ipynb,html} and the tables of RESULTS.md's "whole grid"
# section from the whole task-suite grid
# (Experiments/sweeps/task-suite.yaml): results/task-suite.h5 and/or parts run beside it into
# results/task-suite.part*.h5 (the same specification over other documents, e.g. another --only),
# joined by `kvc sweep merge` into results/task-suite-grid.h5 (missing documents are listed, not an
# error: the notebook plots what exists). The grid itself takes many CPU-hours; run or resume it with
#   ONLY="length=2000" Experiments/sweeps/results.sh task-suite      # or kvc sweep slurm (see the spec)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
kvc=${KVC:-.build/release/kvc}
[[ -x $kvc ]] || swift build -c release --product kvc >&2
# The grid is often run in shares (one document per job, on several machines): any of the files will
# do, results/task-suite.h5 itself is not required.
parts=()
for part in results/task-suite.h5 results/task-suite.part*.h5; do [[ -f $part ]] && parts+=("$part"); done
((${#parts[@]} > 0)) || {
  echo "error: no results/task-suite.h5 nor results/task-suite.part*.h5: run the grid first (ONLY=\"length=2000\" Experiments/sweeps/results.sh task-suite)" >&2
  exit 1
}
rm -f results/task-suite-grid.h5 results/task-suite-grid.h5.journal
status=0
"$kvc" sweep merge --out results/task-suite-grid.h5 "${parts[@]}" 2>results/task-suite-grid.missing || status=$?
# Exit 2: merged, with documents still missing (listed in results/task-suite-grid.missing).
if ((status != 0 && status != 2)); then cat results/task-suite-grid.missing >&2; exit "$status"; fi
# merge lists the first 20 missing documents, then "missing N documents and M trials in all".
missing=$(sed -n 's/^missing \([0-9]*\) documents.*/\1/p' results/task-suite-grid.missing)
echo "merged ${#parts[@]} file(s) into results/task-suite-grid.h5 (${missing:-0} documents missing)" >&2
# The tables of Experiments/RESULTS.md ("The whole grid"): the report (Wilson intervals, Holm-corrected
# exact sign tests on paired scores against each cell's full cache), the same against kvcompress and
# uniform, and matrix.py's tables.
"$kvc" sweep report results/task-suite-grid.h5 >results/task-suite-grid.md
"$kvc" sweep report results/task-suite-grid.h5 --baseline kvcompress >results/task-suite-grid-vs-kvcompress.md
"$kvc" sweep report results/task-suite-grid.h5 --baseline uniform >results/task-suite-grid-vs-uniform.md
"$python" Experiments/sweeps/matrix.py results/task-suite-grid.h5 --wide >results/task-suite-grid-wide.md
"$python" Experiments/sweeps/matrix.py results/task-suite-grid.h5 --wide --score >results/task-suite-grid-wide-score.md
"$python" Experiments/sweeps/matrix.py results/task-suite-grid.h5 --average >results/task-suite-grid-average.md
"$python" Experiments/sweeps/matrix.py results/task-suite-grid.h5 --costs >results/task-suite-grid-costs.md
echo "tables: results/task-suite-grid{,-vs-kvcompress,-vs-uniform,-wide,-wide-score,-average,-costs}.md" >&2
# NOTEBOOK=0: tables only, the committed notebook kept (a run over other tasks than the notebook's
# plots, e.g. one --only share of the grid, would otherwise replace them).
if [[ ${NOTEBOOK:-1} == 0 ]]; then echo "notebook not re-executed (NOTEBOOK=0)" >&2; exit 0; fi
"$python" -m jupyter nbconvert --to notebook --execute --inplace notebooks-export/task-suite-grid.ipynb
"$python" -m jupyter nbconvert --to html notebooks-export/task-suite-grid.ipynb
