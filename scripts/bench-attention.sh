#!/usr/bin/env bash
# Time per cached KV of the decode attention kernels alone (Experiments/AttentionThroughput), on one
# thread, with the head cached and with a batch-32 step's heads scattered over memory, K and V in float32
# and in float16.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/attention-throughput
mkdir -p .build
clang -O3 -ffp-contract=off -Wall -Wextra -I Sources/CKernels/include -I Sources/CKernels \
  Experiments/AttentionThroughput/attention_throughput.c Sources/CKernels/attention.c Sources/CKernels/half.c \
  Sources/CKernels/attention_avx2.c Sources/CKernels/attention_avx512.c Sources/CKernels/matrix.c \
  Sources/CKernels/portable.c Sources/CKernels/avx2.c Sources/CKernels/avx512.c -lm -lpthread -o "$out"
taskset -c 0 "$out"
