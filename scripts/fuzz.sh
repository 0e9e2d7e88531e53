#!/usr/bin/env bash
# Builds the libFuzzer target over GGUF headers/metadata and tokenizer input
# (Fuzz/GGUFTokenizerFuzzer, with AddressSanitizer) and runs it for a bounded time from the
# committed seed corpus (Fuzz/corpus, made by scripts/reference/make_fuzz_corpus.py).
#
#   scripts/fuzz.sh [seconds]     # default 60; exit status non-zero on any crash, leak or timeout
#
# The seed is fixed (FUZZ_SEED, default 1) and the run starts from the committed corpus only, so
# CI explores the same inputs on every clone (a slower machine explores a prefix of them) and a
# failure reproduces: `FUZZ_SEED=1 scripts/fuzz.sh 600` covers what CI runs, and more. Set
# FUZZ_SEED=0 for a random seed when hunting. Inputs that once crashed are kept in Fuzz/corpus
# as regression-* and as cases of GGUFTests' fuzzerFindingNeverCrashes.
#
# New inputs go to .build/fuzz/corpus (not committed); a crashing input is written to
# .build/fuzz/crash-* and printed. swiftc's -sanitize=fuzzer needs the Swift toolchain's
# libFuzzer runtime (present in the Linux toolchains).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
OUT=.build/fuzz
SEED=${FUZZ_SEED:-1}
# A fresh working corpus each run: what an earlier run added must not change what this one explores.
rm -rf "$OUT/corpus"
mkdir -p "$OUT/modules" "$OUT/corpus"
SWIFTC=${SWIFTC:-swiftc}
FLAGS=(-swift-version 6 -O -sanitize=fuzzer,address -parse-as-library -I "$OUT/modules")

build_module() {  # name, sources...
  local name=$1; shift
  "$SWIFTC" "${FLAGS[@]}" -module-name "$name" -emit-module -emit-module-path "$OUT/modules/$name.swiftmodule" \
    -emit-library -static -o "$OUT/lib$name.a" "$@"
}
echo "building the fuzzer (GGUF, BPETokenizer, Fuzz/GGUFTokenizerFuzzer) ..."
# The build log is shown only on failure (gold warns about ASan's local symbols on every link).
if ! {
  build_module GGUF Sources/GGUF/*.swift &&
  build_module BPETokenizer Sources/BPETokenizer/*.swift &&
  "$SWIFTC" "${FLAGS[@]}" -module-name GGUFTokenizerFuzzer Fuzz/GGUFTokenizerFuzzer/main.swift \
    "$OUT/libBPETokenizer.a" "$OUT/libGGUF.a" -o "$OUT/gguf-tokenizer-fuzzer"
} >"$OUT/build.log" 2>&1; then
  cat "$OUT/build.log" >&2; echo "error: building the fuzzer failed" >&2; exit 1
fi

echo "fuzzing for ${SECONDS_TO_RUN}s (seed $SEED) ..."
status=0
"$OUT/gguf-tokenizer-fuzzer" "$OUT/corpus" Fuzz/corpus \
  -seed="$SEED" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$OUT/" -print_final_stats=1 >"$OUT/fuzz.log" 2>&1 || status=$?
if [[ $status -ne 0 ]]; then
  # The trap's message and the frames in this project's sources, then the input as base64.
  grep -E "Fatal error|ERROR: |SUMMARY|/Sources/|Base64|Test unit written" "$OUT/fuzz.log" | head -n 40 >&2
  echo "(the whole log: $OUT/fuzz.log)" >&2
  echo "error: the fuzzer found a crash (status $status); the input is in $OUT/crash-* or $OUT/timeout-*" >&2
  exit "$status"
fi
grep -E "^stat::(number_of_executed_units|new_units_added)" "$OUT/fuzz.log" || true
echo "fuzzing: no crashes in ${SECONDS_TO_RUN}s"
