#!/usr/bin/env python3
"""Reference token ids from llama.cpp (via llama-cpp-python) for the Swift SentencePieceTokenizer
tests (Gemma 3's vocabulary, GGUF `tokenizer.ggml.model = "llama"`).

llama.cpp is the independent reference: every text is tokenized by
`Llama(model, vocab_only=True).tokenize(...)` and the ids are stored next to the text; a few id
sequences are detokenized by `llama_detokenize`. The texts are those of make_token_fixtures.py
(prose, code, whitespace, non-ASCII, edge cases, random strings, every string of up to 3
characters over a small alphabet) plus Gemma's own special tokens.

Usage:
    pip install llama-cpp-python
    scripts/fetch-model.sh gemma3-270m
    python3 scripts/reference/make_spm_token_fixtures.py \
        --model models/gemma-3-270m-q4_k_m.gguf \
        --out Tests/BPETokenizerTests/Fixtures/gemma3_tokens.json
"""
from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import random
import sys
import types

import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))


def shared_texts():
    """The fixture texts of make_token_fixtures.py (its gguf and jinja2 imports are not needed for them)."""
    for name in ("gguf", "jinja2"):
        sys.modules.setdefault(name, types.ModuleType(name))
    spec = importlib.util.spec_from_file_location("token_texts", os.path.join(HERE, "make_token_fixtures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEMMA_SPECIAL = "<start_of_turn>user\nHello <end_of_turn>\n<start_of_turn>model\nHi<eos> <unused3> <mask>"


def detokenize(vocab, ids: list[int], render_special: bool) -> bytes:
    tokens = (llama_cpp.llama_token * len(ids))(*ids)
    capacity = 64 * len(ids) + 16
    buffer = ctypes.create_string_buffer(capacity)
    count = llama_cpp.llama_detokenize(vocab, tokens, len(ids), buffer, capacity, False, render_special)
    if count < 0:
        raise RuntimeError(f"llama_detokenize needs {-count} bytes")
    return buffer.raw[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/gemma-3-270m-q4_k_m.gguf")
    parser.add_argument("--out", default="Tests/BPETokenizerTests/Fixtures/gemma3_tokens.json")
    parser.add_argument("--random-count", type=int, default=150)
    args = parser.parse_args()
    if not os.path.exists(args.model):
        print(f"error: model file not found: {args.model} (run scripts/fetch-model.sh gemma3-270m)", file=sys.stderr)
        return 1
    t = shared_texts()
    rng = random.Random(7)
    cases = [
        ("prose", t.PROSE, False, False),
        ("python", t.PYTHON_CODE, False, False),
        ("swift", t.SWIFT_CODE, False, False),
        ("digits", t.DIGITS, False, False),
        ("whitespace", t.WHITESPACE, False, False),
        ("non-ascii", t.NON_ASCII, False, False),
        ("contractions", t.CONTRACTIONS, False, False),
        ("special-parsed", GEMMA_SPECIAL, False, True),
        ("special-as-text", GEMMA_SPECIAL, False, False),
        ("chatml-as-text", t.SPECIAL_TEXT, False, True),
        ("prose-add-bos", t.PROSE, True, False),
        ("special-add-bos", GEMMA_SPECIAL, True, True),
        ("long-passage", t.long_passage(), False, False),
    ]
    cases += [(f"edge-{i}", text, False, True) for i, text in enumerate(t.EDGE_CASES)]
    cases += [(f"edge-text-{i}", text, True, False) for i, text in enumerate(t.EDGE_CASES)]
    cases += [(f"random-{i}", t.random_text(rng, rng.randint(1, 60)), False, False) for i in range(args.random_count)]
    cases += [(f"exhaustive-{i}", text, False, False) for i, text in enumerate(t.exhaustive_texts())]

    llm = Llama(args.model, vocab_only=True, verbose=False)
    out_cases = []
    for name, text, add_bos, parse_special in cases:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=parse_special)
        out_cases.append({"name": name, "text": text, "addBOS": add_bos, "parseSpecial": parse_special, "ids": ids})

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    decode_inputs = [c["ids"] for c in out_cases[:13]]
    decode_inputs += [[rng.randrange(n_vocab) for _ in range(rng.randint(1, 40))] for _ in range(40)]
    decoded = []
    for ids in decode_inputs:
        for render in (False, True):
            decoded.append({"ids": ids, "renderSpecial": render, "bytes": list(detokenize(vocab, ids, render))})

    fixture = {
        "model": os.path.basename(args.model),
        "reference": f"llama-cpp-python {llama_cpp.__version__}",
        "cases": out_cases,
        "endOfGenerationIDs": [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i)],
        "decoded": decoded,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(t.dumps_with_compact_id_lists(fixture) + "\n")
    print(f"wrote {args.out}: {len(out_cases)} texts, {len(decoded)} decodings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
