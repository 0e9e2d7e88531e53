#!/usr/bin/env python3
"""Reference side of the speed benchmark: llama.cpp (through llama-cpp-python) on the same GGUF.

Measures what `kvc-bench` measures for our engine, with the same token ids and thread count:
- prefill tokens/s for prompts of 512, 2048 and 8192 tokens (`llm.eval(tokens)` after `llm.reset()`);
- decode tokens/s at batch 1: single-token evals after a short prompt (`llm.eval([token])`);
- decode tokens/s at larger batches: llama-cpp-python's high-level `Llama` object drives one sequence,
  so these go through its low-level binding of llama.cpp's C API (`llama_batch` with one sequence id
  per row, `llama_decode`), on a second context of the same loaded model.

Every figure: one warm-up run, then the median of `--repetitions` timed runs. Writes JSON (the input of
`kvc-bench --reference`) and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def benchmark_tokens(count: int, offset: int = 0) -> list[int]:
    """The benchmark's prompt: `count` token ids from index `offset`, the same formula as
    `BenchmarkPrompt` in Experiments/Benchmark. Speed does not depend on which ids are fed, only on
    how many; a fixed formula keeps both engines on identical input without a shared data file."""
    return [1000 + (i * 7919) % 40000 for i in range(offset, offset + count)]


class BatchedDecoder:
    """Decodes `batch` sequences together through llama.cpp's C API: each sequence is prefilled with
    its own prompt (sequence s gets `benchmark_tokens(prompt, offset=s)`, as `kvc-bench` does), then
    every step feeds one token per sequence in one `llama_decode` call, logits for every row."""

    def __init__(self, llama_cpp, llm, batch: int, prompt: int, steps: int, threads: int):
        self.api, self.batch, self.prompt, self.steps = llama_cpp, batch, prompt, steps
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = batch * (prompt + steps) + 256
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = batch
        params.n_threads = params.n_threads_batch = threads
        self.context = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self.context:
            raise RuntimeError(f"llama.cpp could not create a context for batch {batch}")
        self.rows = llama_cpp.llama_batch_init(max(512, batch), 0, batch)

    def close(self) -> None:
        self.api.llama_batch_free(self.rows)
        self.api.llama_free(self.context)

    def _decode(self, entries) -> None:
        """entries: (token, position, sequence, wants logits) per row."""
        self.rows.n_tokens = len(entries)
        for i, (token, position, sequence, logits) in enumerate(entries):
            self.rows.token[i], self.rows.pos[i], self.rows.n_seq_id[i] = token, position, 1
            self.rows.seq_id[i][0], self.rows.logits[i] = sequence, logits
        status = self.api.llama_decode(self.context, self.rows)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status}")

    def timed_run(self) -> float:
        """Prefills every sequence (untimed), then returns the seconds of `steps` batched steps."""
        self.api.llama_memory_clear(self.api.llama_get_memory(self.context), True)
        for sequence in range(self.batch):
            tokens = benchmark_tokens(self.prompt, offset=sequence)
            for start in range(0, self.prompt, 512):
                end = min(self.prompt, start + 512)
                self._decode([(tokens[i], i, sequence, i == self.prompt - 1) for i in range(start, end)])
        fed = benchmark_tokens(self.steps, offset=self.prompt)
        self.api.llama_synchronize(self.context)
        start = time.perf_counter()
        for step, token in enumerate(fed):
            self._decode([(token, self.prompt + step, sequence, True) for sequence in range(self.batch)])
        self.api.llama_synchronize(self.context)
        return time.perf_counter() - start


def measure_busy_cores(seconds: float = 1.0) -> float | None:
    """Cores other work kept busy over the next `seconds` (two samples of /proc/stat's `cpu` line),
    as `BenchmarkResults.measureBusyCores` does on our side."""
    def sample():
        try:
            with open("/proc/stat") as stat:
                ticks = [float(t) for t in stat.readline().split()[1:]]
        except OSError:
            return None
        idle = ticks[3] + ticks[4]
        return sum(ticks) - idle, sum(ticks)

    before = sample()
    time.sleep(seconds)
    after = sample()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * os.cpu_count()


def median_time(run, repetitions: int) -> float:
    run()  # warm-up: page in weights, size buffers
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prefill", type=int, nargs="+", default=[512, 2048, 8192], metavar="TOKENS")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32], metavar="SEQUENCES", help="decode batch sizes")
    parser.add_argument("--decode-prompt", type=int, default=128, help="prompt tokens before decoding")
    parser.add_argument("--decode-steps", type=int, default=64, help="timed single-token evals")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--out", default="results/bench-llamacpp.json")
    args = parser.parse_args()

    if not Path(args.model).is_file():
        print(f"error: model not found at {args.model}; fetch it with scripts/fetch-model.sh", file=sys.stderr)
        return 1
    try:
        import llama_cpp
        from llama_cpp import Llama
    except ImportError:
        print("error: llama-cpp-python is not installed; run scripts/setup-bench.sh", file=sys.stderr)
        return 1

    busy_cores = measure_busy_cores()
    if busy_cores is not None and busy_cores > 0.3:
        print(f"warning: other work kept {busy_cores:.1f} cores busy before the start: figures will be low", file=sys.stderr)
    context = max(args.prefill + [args.decode_prompt + args.decode_steps]) + 64
    llm = Llama(
        model_path=args.model, n_ctx=context, n_threads=args.threads, n_threads_batch=args.threads,
        n_batch=512, verbose=False)

    prefill: dict[str, float] = {}
    for count in args.prefill:
        tokens = benchmark_tokens(count)

        def run_prefill() -> None:
            llm.reset()
            llm.eval(tokens)

        seconds = median_time(run_prefill, args.repetitions)
        prefill[str(count)] = count / seconds
        print(f"llama.cpp prefill {count:>5} tokens: {count / seconds:8.1f} tok/s", file=sys.stderr)

    prompt = benchmark_tokens(args.decode_prompt)
    # Decode feeds back fixed ids: sampling is not what is measured, the forward step is.
    steps = benchmark_tokens(args.decode_prompt + args.decode_steps)[args.decode_prompt:]

    def run_decode() -> None:
        for token in steps:
            llm.eval([token])

    def timed_decode() -> float:
        llm.reset()
        llm.eval(prompt)
        start = time.perf_counter()
        run_decode()
        return time.perf_counter() - start

    timed_decode()  # warm-up
    decode_seconds = statistics.median(timed_decode() for _ in range(args.repetitions))
    decode = {"1": args.decode_steps / decode_seconds}
    print(f"llama.cpp decode batch 1: {decode['1']:8.1f} tok/s", file=sys.stderr)

    for batch in (b for b in args.batch if b > 1):
        decoder = BatchedDecoder(llama_cpp, llm, batch, args.decode_prompt, args.decode_steps, args.threads)
        try:
            decoder.timed_run()  # warm-up
            seconds = statistics.median(decoder.timed_run() for _ in range(args.repetitions))
        finally:
            decoder.close()
        decode[str(batch)] = batch * args.decode_steps / seconds
        print(f"llama.cpp decode batch {batch}: {decode[str(batch)]:8.1f} tok/s", file=sys.stderr)

    result = {
        "engine": f"llama.cpp via llama-cpp-python {llama_cpp.__version__}",
        "model": os.path.basename(args.model),
        "threads": args.threads,
        "repetitions": args.repetitions,
        "decode_prompt_tokens": args.decode_prompt,
        "decode_steps": args.decode_steps,
        "prefill_tokens_per_second": prefill,
        "decode_tokens_per_second": decode,
        "busy_cores_before_start": busy_cores,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".partial")
    partial.write_text(json.dumps(result, indent=2) + "\n")
    partial.replace(out)

    print("| llama.cpp | tokens/s |")
    print("|---|---:|")
    for count, rate in prefill.items():
        print(f"| prefill {count} | {rate:.1f} |")
    for batch, rate in decode.items():
        print(f"| decode batch {batch} | {rate:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
