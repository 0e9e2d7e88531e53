#!/usr/bin/env bash
# The demo behind `make demo`: the default model answers a question about a short story, once with the
# full KV cache and once with KV-Compress keeping about a quarter of the prompt's KVs, chosen per head.
# The second run prints the retention grid (the share of KVs each KV head of each layer kept).
# Expects the release build (`make release`) and the model (`scripts/fetch-model.sh`).
set -euo pipefail
cd "$(dirname "$0")/.."
kvc=.build/release/kvc
[[ -x $kvc ]] || { echo "error: $kvc is missing; run \`make release\` first" >&2; exit 1; }
document=scripts/demo/lighthouse.txt
common=(generate --prompt-file "$document" --chat --max-tokens 64 --threads "${THREADS:-2}")

banner() { printf '\n\033[1m== %s\033[0m\n' "$1" >&2; }

banner "Prompt: $document (a story, then a question about it)"
tail -n 1 "$document" >&2

banner "1. Full KV cache"
"$kvc" "${common[@]}"
echo

banner "2. KV-Compress, rate 4: each head keeps its own share of the prompt's KVs (L2 attention metric, last 8 queries)"
"$kvc" "${common[@]}" --compression kvcompress --rate 4
echo
