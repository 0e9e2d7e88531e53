#!/usr/bin/env bash
# Throughput of the quantized matrix kernel alone (Experiments/KernelThroughput), on one thread and
# on THREADS threads at once: the ceiling of a batched decode step on this machine.
# Env: THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
out=.build/kernel-throughput
mkdir -p .build
clang -O3 -ffp-contract=off -I Sources/CKernels/include -I Sources/CKernels \
  Experiments/KernelThroughput/kernel_throughput.c Sources/CKernels/matrix.c Sources/CKernels/portable.c \
  Sources/CKernels/avx2.c Sources/CKernels/avx512.c -lm -lpthread -o "$out"
taskset -c "0-$((threads - 1))" "$out" "$threads"
