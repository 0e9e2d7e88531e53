#!/usr/bin/env bash
# Speed benchmark: llama.cpp (llama-cpp-python) and kvc-bench on the same GGUF, token ids and thread
# count; prints one markdown table and keeps both JSON records under results/ (git-ignored).
# Env: THREADS (default 2), REPETITIONS (default 3), MODEL (default the fetched SmolLM2-135M).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
repetitions=${REPETITIONS:-3}
model=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}

python=$(scripts/setup-bench.sh)
swift build -c release --product kvc-bench >&2

# Both engines are pinned to the same cores: llama.cpp also gets n_threads=$threads; our model runs a
# worker pool as wide as the CPUs it may use.
(( threads <= $(nproc) )) || { echo "error: THREADS=$threads but only $(nproc) CPUs" >&2; exit 1; }
pin=(taskset -c "0-$((threads - 1))")

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p results
echo "bench: llama.cpp side ($threads threads)" >&2
"${pin[@]}" "$python" Experiments/bench_llamacpp.py --model "$model" --threads "$threads" --repetitions "$repetitions" \
  --out "results/bench-llamacpp-$stamp.json" >/dev/null
echo "bench: kvc side ($threads threads)" >&2
"${pin[@]}" .build/release/kvc-bench --model "$model" --threads "$threads" --repetitions "$repetitions" \
  --reference "results/bench-llamacpp-$stamp.json" --out "results/bench-kvc-$stamp.json"
