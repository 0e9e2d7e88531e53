#!/usr/bin/env python3
"""Reference logits from llama.cpp (through llama-cpp-python) for the Gemma 3 forward-pass tests.

Same file format as make_logit_fixtures.py (top-k logits with ids and the log-sum-exp per
position; see there), for Gemma 3 270M and prompts that start with BOS as Gemma expects:
  gemma3-short.logits  BOS + 299 tokens of CPython's LICENSE.txt
  gemma3-long.logits   BOS + 1599 tokens of the GNU GPL v3: past the 512-token sliding window,
                       so the local layers' window and the global layers are both exercised.
The manifest is written to manifest-gemma3.json.

Usage: python3 scripts/reference/make_gemma3_logit_fixtures.py [model.gguf] [output-dir]
Defaults: models/gemma-3-270m-q4_k_m.gguf, Tests/LlamaInferenceTests/Fixtures.
"""
import importlib.util
import json
import os
import sys

import llama_cpp
import numpy as np
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("logit_fixtures", os.path.join(HERE, "make_logit_fixtures.py"))
common = importlib.util.module_from_spec(spec)
spec.loader.exec_module(common)

SOURCES = {
    "gemma3-short": ("/usr/lib/python3.11/LICENSE.txt", 300),
    "gemma3-long": ("/usr/share/common-licenses/GPL-3", 1600),
}


def main():
    model_path = sys.argv[1] if len(sys.argv) > 1 else "models/gemma-3-270m-q4_k_m.gguf"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "Tests/LlamaInferenceTests/Fixtures"
    if not os.path.exists(model_path):
        sys.exit(f"model not found: {model_path} (run scripts/fetch-model.sh gemma3-270m)")
    llm = Llama(model_path=model_path, logits_all=True, n_ctx=1664, n_batch=512, n_threads=2, verbose=False)
    manifest = {
        "model": os.path.basename(model_path),
        "model_sha256": common.sha256(model_path),
        "llama_cpp_python": llama_cpp.__version__,
        "top_k": common.TOP_K,
        "prompts": {},
    }
    for name, (source, count) in SOURCES.items():
        with open(source, encoding="utf-8") as f:
            text = f.read()
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)[:count]
        if len(tokens) < count:
            sys.exit(f"{source} gives only {len(tokens)} tokens, {count} wanted")
        llm.reset()
        llm.eval(tokens)
        logits = np.array(llm.scores[: len(tokens)], dtype=np.float32)
        path = os.path.join(out_dir, f"{name}.logits")
        common.write_fixture(path, tokens, logits)
        manifest["prompts"][name] = {"file": os.path.basename(path), "source": source, "tokens": len(tokens), "bos": True}
        print(f"{name}: {len(tokens)} tokens from {source} -> {path} ({os.path.getsize(path)} bytes)")
    with open(os.path.join(out_dir, "manifest-gemma3.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
