#!/usr/bin/env bash
# Re-executes the analysis notebooks on results files and exports them to HTML (notebooks-export/).
#
#   scripts/export-notebooks.sh [SWEEP_H5 ...]
#
# Default inputs: results/passkey.h5 and results/prose-needle.h5 (kvc sweep), results/passkey-dump.h5
# (kvc compress --dump); set DUMP_FILE to use another dump. Needs: h5py numpy matplotlib nbconvert
# ipykernel (pip install them, or use .venv/bin/jupyter).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  SWEEP_FILES="$(IFS=,; echo "$*")"
else
  SWEEP_FILES="results/passkey.h5,results/prose-needle.h5"
fi
export SWEEP_FILES DUMP_FILE="${DUMP_FILE:-results/passkey-dump.h5}" KVC_ROOT="$PWD"
for f in ${SWEEP_FILES//,/ }; do
  [ -f "$f" ] || { echo "missing $f: run kvc sweep first (see Experiments/RESULTS.md)" >&2; exit 1; }
done
JUPYTER="${JUPYTER:-$(command -v jupyter || echo .venv/bin/jupyter)}"
for nb in notebooks-export/passkey.ipynb; do
  "$JUPYTER" nbconvert --to notebook --execute --inplace "$nb"
  "$JUPYTER" nbconvert --to html "$nb"
  echo "exported ${nb%.ipynb}.html ($(du -h "${nb%.ipynb}.html" | cut -f1))"
done
