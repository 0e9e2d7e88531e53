#!/usr/bin/env python3
"""Reference logits from llama.cpp (through llama-cpp-python) for the Swift forward-pass tests.

For each prompt (real English text, tokenized by llama.cpp and stored as token ids so the Swift test
needs no tokenizer), llama.cpp evaluates the whole prompt with logits for every position. Per
position we keep the top-k logits with their token ids and the log-sum-exp of the full row: enough
to compare top-1 agreement and a KL divergence over the top-k mass plus a remainder bucket, at
~164 bytes per position instead of 192 KiB.

File format (little-endian), one file per prompt, `<name>.logits`:
    magic   8 bytes  b"KVCLOGIT"
    version u32      1
    n       u32      number of tokens (= positions)
    k       u32      logits kept per position
    vocab   u32      vocabulary size of the model
    tokens  i32[n]   prompt token ids
    then per position p in 0..<n:
        lse     f32      log-sum-exp of the full row of logits
        ids     i32[k]   token ids of the k largest logits, largest first
        logits  f32[k]   their logits
A JSON manifest (`manifest.json`) records the model file, its SHA-256, llama-cpp-python's version
and where each text came from.

Usage: python3 scripts/reference/make_logit_fixtures.py [model.gguf] [output-dir]
Defaults: models/SmolLM2-135M-Instruct.Q4_1.gguf, Tests/LlamaInferenceTests/Fixtures.
"""

import hashlib
import json
import os
import struct
import sys

import numpy as np
from llama_cpp import Llama
import llama_cpp

TOP_K = 20

# Real English prose available on any Debian/Ubuntu system with Python 3 (both texts may be copied
# verbatim; only token ids are stored).
SOURCES = {
    # ~300 tokens: the history of Python from CPython's LICENSE.txt.
    "short": ("/usr/lib/python3.11/LICENSE.txt", 300),
    # ~2000 tokens: the GNU GPL v3 text (preamble and first sections).
    "long": ("/usr/share/common-licenses/GPL-3", 2000),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_fixture(path, tokens, logits):
    n, vocab = logits.shape
    rows = logits.astype(np.float64)
    top = np.argsort(-rows, axis=1, kind="stable")[:, :TOP_K]
    maxima = rows.max(axis=1, keepdims=True)
    lse = (maxima[:, 0] + np.log(np.exp(rows - maxima).sum(axis=1))).astype(np.float32)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(b"KVCLOGIT")
        f.write(struct.pack("<IIII", 1, n, TOP_K, vocab))
        f.write(np.asarray(tokens, dtype="<i4").tobytes())
        for p in range(n):
            f.write(struct.pack("<f", float(lse[p])))
            f.write(top[p].astype("<i4").tobytes())
            f.write(logits[p, top[p]].astype("<f4").tobytes())
    os.replace(tmp, path)


def main():
    model_path = sys.argv[1] if len(sys.argv) > 1 else "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "Tests/LlamaInferenceTests/Fixtures"
    if not os.path.exists(model_path):
        sys.exit(f"model not found: {model_path} (run scripts/fetch-model.sh)")
    os.makedirs(out_dir, exist_ok=True)
    llm = Llama(model_path=model_path, logits_all=True, n_ctx=4096, n_batch=512, n_threads=2, verbose=False)
    manifest = {
        "model": os.path.basename(model_path),
        "model_sha256": sha256(model_path),
        "llama_cpp_python": llama_cpp.__version__,
        "top_k": TOP_K,
        "prompts": {},
    }
    for name, (source, count) in SOURCES.items():
        with open(source, encoding="utf-8") as f:
            text = f.read()
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:count]
        if len(tokens) < count:
            sys.exit(f"{source} gives only {len(tokens)} tokens, {count} wanted")
        llm.reset()
        llm.eval(tokens)
        logits = np.array(llm.scores[: len(tokens)], dtype=np.float32)
        path = os.path.join(out_dir, f"{name}.logits")
        write_fixture(path, tokens, logits)
        manifest["prompts"][name] = {"file": os.path.basename(path), "source": source, "tokens": len(tokens)}
        print(f"{name}: {len(tokens)} tokens from {source} -> {path} ({os.path.getsize(path)} bytes)")
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
