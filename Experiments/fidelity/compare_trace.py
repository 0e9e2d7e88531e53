#!/usr/bin/env python3
"""Layer-by-layer comparison of our forward pass with llama.cpp's, on the same tokens.

Ours: `kvc logits --trace --tokens-file T --out ours.h5` (group /trace: attn_norm-L, kqv_out-L, ffn_norm-L,
ffn_out-L, l_out-L, each float32 [tokens, width]; /tokens). llama.cpp's: the same tensors by name, read
through its graph callback (`cb_eval`) while llama-cpp-python evaluates the tokens with the settings of
the agreement fixtures (float16 KV cache, no flash attention, batches of 512). Prints, per tensor, the
median and largest relative difference over tokens (‖ours − llama.cpp‖ / ‖llama.cpp‖ per row): the first
tensor where the median leaves ~1e-7 is where the two computations part.

Usage: .venv/bin/python Experiments/fidelity/compare_trace.py ours.h5 [model.gguf]
(default model: the one named in ours.h5's `model_path` attribute). Needs h5py, numpy, llama-cpp-python
(scripts/setup-bench.sh). Found the double-precision sums of ggml's RMS norm and softmax (README).
"""
import ctypes
import re
import sys

import h5py
import numpy as np
import llama_cpp
import llama_cpp.llama_cpp as L
from llama_cpp import Llama


class GGMLTensor(ctypes.Structure):
    """struct ggml_tensor of the ggml that llama-cpp-python ships (include/ggml.h)."""
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4),
                ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16),
                ("flags", ctypes.c_int32), ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64),
                ("extra", ctypes.c_void_p), ("padding", ctypes.c_char * 8)]


def llama_tensors(model_path, tokens, names):
    """{name: float32 [tokens, width]} from llama.cpp's graph, rows appended across batches."""
    found = {}

    @llama_cpp.ggml_backend_sched_eval_callback
    def callback(pointer, ask, _):
        tensor = ctypes.cast(pointer, ctypes.POINTER(GGMLTensor)).contents
        name = tensor.name.decode()
        if ask:
            return True
        count = tensor.ne[0] * tensor.ne[1] * tensor.ne[2] * tensor.ne[3]
        if name in names and tensor.type == 0 and tensor.nb[1] == 4 * tensor.ne[0] and count > 0:
            values = np.ctypeslib.as_array(ctypes.cast(tensor.data, ctypes.POINTER(ctypes.c_float)), shape=(count,))
            # Rows are tokens: ne[1] for [width, tokens] tensors. The last tensor of that name in a batch
            # wins (llama.cpp reuses names for in-place steps).
            found.setdefault(name, {})[batch_index[0]] = values.reshape(-1, tensor.ne[0]).copy()
        return True

    llm = Llama(model_path=model_path, n_ctx=len(tokens) + 16, vocab_only=False, verbose=False)
    params = L.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = len(tokens) + 16, 512, 512
    params.n_threads = params.n_threads_batch = 2
    params.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.cb_eval = callback
    context = L.llama_init_from_model(llm.model, params)
    batch_index = [0]
    for start in range(0, len(tokens), 512):
        chunk = tokens[start:start + 512]
        batch = L.llama_batch_init(len(chunk), 0, 1)
        batch.n_tokens = len(chunk)
        for i, token in enumerate(chunk):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, start + i, 1, 0
            batch.seq_id[i][0] = 0
        if L.llama_decode(context, batch) != 0:
            sys.exit("llama_decode failed")
        L.llama_batch_free(batch)
        batch_index[0] += 1
    L.llama_free(context)
    return {name: np.concatenate([parts[b] for b in sorted(parts)]) for name, parts in found.items()}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with h5py.File(sys.argv[1], "r") as f:
        if "trace" not in f:
            sys.exit(f"{sys.argv[1]} has no /trace group: write it with `kvc logits --trace`")
        tokens = f["tokens"][:].tolist()
        ours = {name: f["trace"][name][:] for name in f["trace"]}
        model = sys.argv[2] if len(sys.argv) > 2 else f.attrs["model_path"]
        model = model.decode() if isinstance(model, bytes) else model
    theirs = llama_tensors(model, tokens, set(ours))

    def order(name):
        stem, layer = re.match(r"(.*)-(\d+)$", name).groups()
        steps = ["attn_norm", "kqv_out", "ffn_norm", "ffn_out", "l_out"]
        return int(layer), steps.index(stem) if stem in steps else len(steps)

    print(f"{len(tokens)} tokens; relative difference per token row, ours vs llama.cpp")
    print("| tensor | median | max |")
    print("|:--|--:|--:|")
    for name in sorted(ours, key=order):
        if name not in theirs:
            print(f"| {name} | (not in llama.cpp's graph) | |")
            continue
        a, b = ours[name].astype(np.float64), theirs[name].reshape(ours[name].shape).astype(np.float64)
        rel = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-30)
        print(f"| {name} | {np.median(rel):.2e} | {rel.max():.2e} |")


if __name__ == "__main__":
    main()
