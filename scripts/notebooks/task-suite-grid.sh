#!/usr/bin/env bash
# Regenerates notebooks-export/task-suite-grid.{ipynb,html} and the tables of RESULTS.md's "whole grid"
# section from the whole task-suite grid
# (Experiments/sweeps/task-suite.yaml): results/task-suite.h5 and/or parts run beside it into
# results/task-suite.part*.h5 (the same specification over other documents, e.g. another --only),
# joined by `kvc sweep merge` into results/task-suite-grid.h5 (missing documents are listed, not an
# error: the notebook plots what exists). The grid itself takes many CPU-hours; run or resume it with
#   ONLY="length=2000" Experiments/sweeps/results.sh task-suite      # or kvc sweep slurm (see the spec)
# PARTS (a glob) and NAME narrow it to some of the parts, e.g. one length run in its own files:
#   PARTS='results/task-suite.part-*-2k-s*.h5' NAME=task-suite-2k NOTEBOOK=0 scripts/notebooks/task-suite-grid.sh
# writes results/task-suite-2k.h5 and results/task-suite-2k*.md (the report's Holm correction then
# spans that length only).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
kvc=${KVC:-.build/release/kvc}
[[ -x $kvc ]] || swift build -c release --product kvc >&2
# The grid is often run in shares (one document per job, on several machines): any of the files will
# do, results/task-suite.h5 itself is not required.
name=${NAME:-task-suite-grid}
[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "error: NAME='$name' must be a plain file stem (letters, digits, . _ -)" >&2; exit 1; }
parts=()
for part in ${PARTS:-results/task-suite.h5 results/task-suite.part*.h5}; do [[ -f $part ]] && parts+=("$part"); done
((${#parts[@]} > 0)) || {
  echo "error: no results file matches ${PARTS:-results/task-suite.h5 nor results/task-suite.part*.h5}: run the grid first (ONLY=\"length=2000\" Experiments/sweeps/results.sh task-suite)" >&2
  exit 1
}
out=results/$name
rm -f "$out.h5" "$out.h5.journal"
status=0
"$kvc" sweep merge --out "$out.h5" "${parts[@]}" 2>"$out.missing" || status=$?
# Exit 2: merged, with documents still missing (listed in $out.missing).
if ((status != 0 && status != 2)); then cat "$out.missing" >&2; exit "$status"; fi
# merge lists the first 20 missing documents, then "missing N documents and M trials in all".
missing=$(sed -n 's/^missing \([0-9]*\) documents.*/\1/p' "$out.missing")
echo "merged ${#parts[@]} file(s) into $out.h5 (${missing:-0} documents missing)" >&2
# The tables of Experiments/RESULTS.md ("The whole grid"): the report (Wilson intervals, Holm-corrected
# exact sign tests on paired scores against each cell's full cache), the same against kvcompress and
# uniform, and matrix.py's tables.
"$kvc" sweep report "$out.h5" >"$out.md"
"$kvc" sweep report "$out.h5" --baseline kvcompress >"$out-vs-kvcompress.md"
"$kvc" sweep report "$out.h5" --baseline uniform >"$out-vs-uniform.md"
"$python" Experiments/sweeps/matrix.py "$out.h5" --wide >"$out-wide.md"
"$python" Experiments/sweeps/matrix.py "$out.h5" --wide --score >"$out-wide-score.md"
"$python" Experiments/sweeps/matrix.py "$out.h5" --average >"$out-average.md"
"$python" Experiments/sweeps/matrix.py "$out.h5" --costs >"$out-costs.md"
echo "tables: $out{,-vs-kvcompress,-vs-uniform,-wide,-wide-score,-average,-costs}.md" >&2
# NOTEBOOK=0: tables only, the committed notebook kept (a run over other tasks than the notebook's
# plots, e.g. one --only share of the grid, would otherwise replace them).
if [[ ${NOTEBOOK:-1} == 0 ]]; then echo "notebook not re-executed (NOTEBOOK=0)" >&2; exit 0; fi
# The notebook reads results/task-suite-grid.h5: another NAME leaves it as committed.
if [[ $name != task-suite-grid ]]; then echo "notebook not re-executed (it reads results/task-suite-grid.h5, not $out.h5)" >&2; exit 0; fi
"$python" -m jupyter nbconvert --to notebook --execute --inplace notebooks-export/task-suite-grid.ipynb
"$python" -m jupyter nbconvert --to html notebooks-export/task-suite-grid.ipynb
