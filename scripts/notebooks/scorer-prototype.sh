#!/usr/bin/env bash
# Regenerates notebooks-export/scorer-prototype.{ipynb,html}: dumps one compression of the demo story
# with the LagKV scorer (keys, values, queries and the window's attention included), then executes the
# notebook, which re-implements LagKV in numpy from the dump and compares it with the Swift plug-in.
# Needs the Python packages of notebooks-export/README.md in .venv (h5py numpy matplotlib nbconvert ipykernel).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
swift build -c release --product kvc >&2
mkdir -p results
.build/release/kvc compress --prompt-file scripts/demo/lighthouse.txt --scorer lagkv --compression kvcompress \
  --option lagkv.lag_size=64 --rate 4 --dump results/scorer-prototype.h5 --dump-tensors --dump-layers 0,7,15,29 >&2
"$python" -m jupyter nbconvert --to notebook --execute --inplace notebooks-export/scorer-prototype.ipynb
"$python" -m jupyter nbconvert --to html notebooks-export/scorer-prototype.ipynb
