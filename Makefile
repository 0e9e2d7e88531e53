# Entry points of KV-Compress lab. Every target runs scripts/setup.sh first (idempotent: installs the
# C libraries and fetches the default model only when missing).
SWIFT ?= swift
THREADS ?= 2

.PHONY: setup build release demo test bench bench-kernels bench-attention clean

setup:
	@scripts/setup.sh

# Debug build of everything (library targets, kvc, kvc-bench).
build: setup
	$(SWIFT) build

# Optimised kvc, what the demo and real use want.
release: setup
	$(SWIFT) build -c release --product kvc

# A short generation on the default model, with and without KV-Compress.
demo: release
	@scripts/demo.sh

# The test suite (debug build; a few tests run the real model).
# KVC_REQUIRE_NVRTC=1: the CUDA kernel tests fail (not skip) when NVRTC is missing; they use the NVRTC
# of the pip wheel setup installs (scripts/find-nvrtc.sh).
test: setup
	$(SWIFT) build
	KVC_REQUIRE_NVRTC=1 KVC_NVRTC_LIBRARY="$$(scripts/find-nvrtc.sh)" $(SWIFT) test

# Speed against llama.cpp on the same GGUF and threads; writes results/bench-*.json.
bench: setup
	@THREADS=$(THREADS) scripts/bench.sh

# The quantized matrix kernel alone, on 1 and on $(THREADS) threads at once (no model needed).
bench-kernels:
	@THREADS=$(THREADS) scripts/bench-kernels.sh

# The decode attention kernels alone, per cached KV, in cache and scattered over memory (no model).
bench-attention:
	@scripts/bench-attention.sh

clean:
	$(SWIFT) package clean
