#!/usr/bin/env bash
# Re-executes the sweep-analysis notebook (notebooks-export/passkey.ipynb, "Needle retrieval sweeps") on
# kvc-sweep/2 results files and exports it to HTML (notebooks-export/passkey.html).
#
#   scripts/export-notebooks.sh [SWEEP_H5 ...]
#   SWEEP_FILES=results/all-methods.h5 scripts/export-notebooks.sh
#
# Inputs: the arguments, else $SWEEP_FILES (comma-separated), else
# results/all-methods.h5,results/prose-needle.h5,results/passkey.h5 (written by `kvc sweep`); missing files
# are skipped by the notebook, but at least one must exist. DUMP_FILE (default results/passkey-dump.h5,
# from `kvc compress --dump`) is plotted when it exists. Needs h5py numpy matplotlib nbconvert ipykernel:
# `jupyter` on PATH, else .venv/bin/jupyter (set JUPYTER to use another).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  SWEEP_FILES="$(IFS=,; echo "$*")"
else
  SWEEP_FILES="${SWEEP_FILES:-results/all-methods.h5,results/prose-needle.h5,results/passkey.h5}"
fi
export SWEEP_FILES DUMP_FILE="${DUMP_FILE:-results/passkey-dump.h5}" KVC_ROOT="$PWD"
found=0
IFS=, read -r -a files <<< "$SWEEP_FILES"
for f in "${files[@]}"; do
  [ -n "$f" ] || continue
  if [ -f "$f" ]; then found=$((found + 1)); else echo "note: $f is missing; the notebook skips it" >&2; fi
done
if [ "$found" -eq 0 ]; then
  echo "error: none of the sweep files exists ($SWEEP_FILES): run kvc sweep first (see the notebook's first cell)" >&2
  exit 1
fi
JUPYTER="${JUPYTER:-$(command -v jupyter || echo .venv/bin/jupyter)}"
if ! [ -x "$JUPYTER" ] && ! command -v "$JUPYTER" > /dev/null; then
  echo "error: no jupyter (not on PATH, no $JUPYTER): python3 -m venv .venv && .venv/bin/pip install h5py numpy matplotlib jupyter nbconvert" >&2
  exit 1
fi
for nb in notebooks-export/passkey.ipynb; do
  "$JUPYTER" nbconvert --to notebook --execute --inplace "$nb"
  "$JUPYTER" nbconvert --to html "$nb"
  echo "exported ${nb%.ipynb}.html ($(du -h "${nb%.ipynb}.html" | cut -f1))"
done
