#!/usr/bin/env python3
"""How well llama.cpp agrees with its own stored reference logits when only the machine, the thread
count or the batch size changes: the noise floor under the top-1 / KL agreement tests
(Tests/LlamaInferenceTests/*AgreementTests.swift), which compare our logits with the same fixtures.

For each setting it re-runs llama.cpp (llama-cpp-python, F16 KV cache as the fixtures) on a fixture's
tokens and prints top-1 agreement and the coarse mean KL exactly as ReferenceLogits.compare computes
them (llama.cpp's stored top 20 as buckets, plus the rest of the mass).

Usage: .venv/bin/python Experiments/fidelity/llamacpp_noise_floor.py [fixture] [model]
Defaults: Tests/LlamaInferenceTests/Fixtures/gemma3-long.logits, models/gemma-3-270m-q4_k_m.gguf.
Settings: (n_batch, n_threads) in SETTINGS below; the fixtures were made with (512, 2).
"""
import struct
import sys

import numpy as np
from llama_cpp import Llama

SETTINGS = [(512, 2), (512, 1), (64, 2), (1600, 2)]


def read_fixture(path):
    with open(path, "rb") as f:
        if f.read(8) != b"KVCLOGIT":
            sys.exit(f"{path}: not a KVCLOGIT fixture")
        _, n, k, vocab = struct.unpack("<IIII", f.read(16))
        tokens = np.frombuffer(f.read(4 * n), dtype="<i4").tolist()
        lse, ids, logits = np.empty(n), np.empty((n, k), dtype=np.int64), np.empty((n, k))
        for p in range(n):
            lse[p] = struct.unpack("<f", f.read(4))[0]
            ids[p] = np.frombuffer(f.read(4 * k), dtype="<i4")
            logits[p] = np.frombuffer(f.read(4 * k), dtype="<f4")
    return tokens, lse, ids, logits, vocab


def compare(rows, lse, ids, logits):
    """Top-1 agreement and coarse mean KL(reference ‖ rows), as ReferenceLogits.compare."""
    n = len(lse)
    agree, kl = 0, 0.0
    for p in range(n):
        row = rows[p].astype(np.float64)
        agree += int(np.argmax(row) == ids[p, 0])
        m = row.max()
        ours_lse = m + np.log(np.exp(row - m).sum())
        p_ref = np.exp(logits[p] - lse[p])
        p_ours = np.exp(row[ids[p]] - ours_lse)
        kl += float((p_ref * np.log(p_ref / p_ours)).sum())
        rest_ref, rest_ours = max(0.0, 1 - p_ref.sum()), max(1e-12, 1 - p_ours.sum())
        if rest_ref > 0:
            kl += rest_ref * np.log(rest_ref / rest_ours)
    return agree / n, kl / n


def main():
    fixture = sys.argv[1] if len(sys.argv) > 1 else "Tests/LlamaInferenceTests/Fixtures/gemma3-long.logits"
    model = sys.argv[2] if len(sys.argv) > 2 else "models/gemma-3-270m-q4_k_m.gguf"
    tokens, lse, ids, logits, _ = read_fixture(fixture)
    print(f"{fixture}: {len(tokens)} tokens; llama.cpp against its stored logits")
    print("| n_batch | n_threads | top-1 | mean KL |")
    print("|--:|--:|--:|--:|")
    for n_batch, threads in SETTINGS:
        llm = Llama(model_path=model, logits_all=True, n_ctx=len(tokens) + 64, n_batch=min(n_batch, len(tokens)),
                    n_ubatch=min(n_batch, len(tokens)), n_threads=threads, verbose=False)
        llm.eval(tokens)
        rows = np.array(llm.scores[: len(tokens)], dtype=np.float32)
        top1, kl = compare(rows, lse, ids, logits)
        print(f"| {n_batch} | {threads} | {top1:.4f} | {kl:.5f} |", flush=True)
        del llm, rows


if __name__ == "__main__":
    main()
