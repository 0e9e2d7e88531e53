# Entry points of KV-Compress lab. Every target runs scripts/setup.sh first (idempotent: installs the
# C libraries and fetches the default model only when missing).
SWIFT ?= swift
THREADS ?= 2

.PHONY: setup build release demo test fuzz bench bench-throughput bench-kernels bench-attention cuda-info cuda-check slurm-check sweep-smoke sweep-bench clean

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
# of the pip wheel setup installs (scripts/find-nvrtc.sh). KVC_REQUIRE_MODEL=1: the tests that run the
# real model fail (not skip) when models/ lacks it.
test: setup
	$(SWIFT) build
	KVC_REQUIRE_MODEL=1 KVC_REQUIRE_NVRTC=1 KVC_NVRTC_LIBRARY="$$(scripts/find-nvrtc.sh)" $(SWIFT) test
	scripts/fuzz.sh $(FUZZ_SECONDS)

# libFuzzer over GGUF headers/metadata and tokenizer input, from the committed seed corpus.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Speed against llama.cpp on the same GGUF and threads; writes results/bench-*.json.
bench: setup
	@THREADS=$(THREADS) scripts/bench.sh

# Serving throughput in a fixed KV memory (the paper's throughput experiment, scaled down): the default
# workload of `kvc-bench throughput` without compression, at rates 2-64 and with unlimited memory, on
# $(THREADS) cores; writes results/throughput.json.
bench-throughput: setup
	$(SWIFT) build -c release --product kvc-bench
	mkdir -p results
	taskset -c 0-$$(($(THREADS) - 1)) $$($(SWIFT) build -c release --show-bin-path)/kvc-bench throughput --out results/throughput.json

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

# Experiments/sweeps/smoke.yaml on a one-node Slurm cluster started here (slurm-wlm and munge are
# installed when missing): a 2-task job array and its dependent merge, compared with a local run.
slurm-check: release
	@scripts/slurm-check.sh

# The smoke sweep locally (results/smoke.h5; a second run needs --resume or another --out).
sweep-smoke: release
	mkdir -p results
	$$($(SWIFT) build -c release --show-bin-path)/kvc sweep --spec Experiments/sweeps/smoke.yaml --out results/smoke-$$(date +%s).h5 --threads $(THREADS)

# Sweep wall time against its prefill, compression and decoding time (Experiments/sweeps/benchmark.sh).
sweep-bench: release
	@THREADS=$(THREADS) Experiments/sweeps/benchmark.sh

clean:
	$(SWIFT) package clean
