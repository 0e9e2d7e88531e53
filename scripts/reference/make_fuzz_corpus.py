#!/usr/bin/env python3
"""Seed corpus of the GGUF/tokenizer fuzzer (Fuzz/GGUFTokenizerFuzzer), written with gguf-py.

Each seed is one fuzzer input: a mode byte, then the payload (see Fuzz/GGUFTokenizerFuzzer/main.swift):
  0x00 + a GGUF file   parsed, its tensors dequantized, its tokenizer built and run
  0x01 + UTF-8 text    encoded and decoded by the fuzzer's built-in BPE and SentencePiece vocabularies
Seeds: small vocab-only GGUFs for both tokenizer kinds (gpt2, llama), one with a few tensors of
several types, and some texts.

Usage: pip install gguf numpy; python3 scripts/reference/make_fuzz_corpus.py [Fuzz/corpus]
"""
import os
import sys
import tempfile

import numpy as np
import gguf

OUT = sys.argv[1] if len(sys.argv) > 1 else "Fuzz/corpus"


def write(name, build):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seed.gguf")
        writer = gguf.GGUFWriter(path, "llama")
        build(writer)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(path, "rb") as f:
            data = f.read()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"\x00" + data)


def bpe(writer):
    tokens = ["<|endoftext|>", "a", "b", "c", "Ġ", "Ġa", "ab", "abc", "\u010a"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3] + [1] * (len(tokens) - 1))
    writer.add_token_merges(["a b", "Ġ a", "ab c"])
    writer.add_eos_token_id(0)
    writer.add_bos_token_id(0)


def spm(writer):
    tokens = ["<unk>", "<s>", "</s>", "<0x41>", "<0xC3>", "<0xA9>", "▁", "a", "b", "ab", "▁a", "<start_of_turn>"]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0, 0, 0, 0, 0, 0, -1, -1, -1, -2, -3, 0])
    writer.add_token_types([2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 3])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_space_prefix(False)


def tensors(writer):
    rng = np.random.default_rng(1)
    writer.add_uint32("llama.block_count", 1)
    writer.add_tensor("f32", rng.standard_normal((2, 8)).astype(np.float32))
    writer.add_tensor("f16", rng.standard_normal((2, 8)).astype(np.float16))
    for qtype in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0):
        values = rng.standard_normal((2, 64)).astype(np.float32)
        writer.add_tensor(qtype.name.lower(), gguf.quants.quantize(values, qtype), raw_dtype=qtype)


def main():
    os.makedirs(OUT, exist_ok=True)
    write("gguf-bpe-vocab", bpe)
    write("gguf-spm-vocab", spm)
    write("gguf-tensors", tensors)
    for i, text in enumerate(["ab abc a", "<start_of_turn>a▁b Aé", "\u00e9\u0301 \t\n  x", "<|endoftext|>abc"]):
        with open(os.path.join(OUT, f"text-{i}"), "wb") as f:
            f.write(b"\x01" + text.encode("utf-8"))
    print(f"wrote {len(os.listdir(OUT))} seeds to {OUT}")


if __name__ == "__main__":
    main()
