#!/usr/bin/env bash
# Regenerates notebooks-export/throughput.{ipynb,html} from results/throughput.json, running
# `make bench-throughput` first when that file is missing (release kvc-bench, a few minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
[[ -f results/throughput.json ]] || make bench-throughput >&2
export KVC_ROOT="$PWD"
"$python" -m jupyter nbconvert --to notebook --execute --inplace notebooks-export/throughput.ipynb
"$python" -m jupyter nbconvert --to html notebooks-export/throughput.ipynb
