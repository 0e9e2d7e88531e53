#!/usr/bin/env bash
# Makes llama-cpp-python (the reference engine of the benchmark) importable and prints the python
# interpreter to run Experiments/bench_llamacpp.py with. Uses the python3 on PATH when it already has
# llama_cpp; otherwise builds llama-cpp-python 0.3.36 into .venv (a C++ build: ~20-30 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

if python3 -c 'import llama_cpp' 2>/dev/null; then command -v python3; exit 0; fi
if [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
  echo "$PWD/.venv/bin/python"; exit 0
fi

packages=(build-essential cmake python3-venv python3-dev)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
echo "setup-bench: building llama-cpp-python 0.3.36 into .venv (slow: a C++ build)" >&2
python3 -m venv .venv >&2
.venv/bin/python -m pip install --quiet 'llama-cpp-python==0.3.36' >&2
echo "$PWD/.venv/bin/python"
