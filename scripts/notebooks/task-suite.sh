#!/usr/bin/env bash
# Regenerates notebooks-export/task-suite.{ipynb,html} from the sweeps it plots, running each sweep
# (release kvc) when its results file is missing, resuming it when it is incomplete.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
swift build -c release --product kvc >&2
mkdir -p results
for spec in task-suite-quick task-suite-rates multikey-agnostic task-suite-4k multikey-agnostic-parity multikey-agnostic-sinks \
  multikey-agnostic-confirm; do
  if [[ -f results/$spec.h5 ]]; then
    .build/release/kvc sweep --spec Experiments/sweeps/$spec.yaml --out results/$spec.h5 --resume >&2
  else
    .build/release/kvc sweep --spec Experiments/sweeps/$spec.yaml --out results/$spec.h5 >&2
  fi
done
"$python" -m jupyter nbconvert --to notebook --execute --inplace notebooks-export/task-suite.ipynb
"$python" -m jupyter nbconvert --to html notebooks-export/task-suite.ipynb
