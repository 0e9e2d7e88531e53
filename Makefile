# Entry points of KV-Compress lab. Every target runs scripts/setup.sh first (idempotent: installs the
# C libraries and fetches the default model only when missing).
SWIFT ?= swift
THREADS ?= 2

.PHONY: setup build release demo test fuzz bench bench-kernels bench-attention cuda-info cuda-check clean

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
	scripts/fuzz.sh $(FUZZ_SECONDS)

# libFuzzer over GGUF headers/metadata and tokenizer input, from the committed seed corpus.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Speed against llama.cpp on the same GGUF and threads; writes results/bench-*.json.
bench: setup
	@THREADS=$(THREADS) scripts/bench.sh

# The quantized matrix kernel alone, on 1 and on $(THREADS) threads at once (no model needed).
bench-kernels:
	@THREADS=$(THREADS) scripts/bench-kernels.sh

# The decode attention kernels alone, per cached KV, in cache and scattered over memory (no model).
bench-attention:
	@scripts/bench-attention.sh

# The CUDA kernels compiled with NVRTC for sm_80, sm_90 and the GPU present (no GPU needed).
cuda-info: setup
	$(SWIFT) build -c release --product kvc-cuda
	$$($(SWIFT) build -c release --show-bin-path)/kvc-cuda info

# On a machine with an NVIDIA GPU: every kernel against its CPU reference, then their timings
# (results/cuda-*.json). Without Swift there: `scripts/cuda-device-check.sh stage` here, copy the
# repository with .device-run/, and run `scripts/cuda-device-check.sh run results` there.
cuda-check: setup
	$(SWIFT) build -c release --product kvc-cuda
	mkdir -p results
	$$($(SWIFT) build -c release --show-bin-path)/kvc-cuda check --json results/cuda-check.json
	$$($(SWIFT) build -c release --show-bin-path)/kvc-cuda bench --json results/cuda-bench.json

clean:
	$(SWIFT) package clean
