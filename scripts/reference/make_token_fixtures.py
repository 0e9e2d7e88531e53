#!/usr/bin/env python3
"""Reference token ids from llama.cpp (via llama-cpp-python) for the Swift BPETokenizer tests.

llama.cpp is the independent reference: every fixture text is tokenized by
`Llama(model, vocab_only=True).tokenize(...)` and the ids are stored next to the text.
The Swift tests (Tests/BPETokenizerTests) must reproduce them token for token.

Besides the model's own pre-tokenizer ("smollm" for SmolLM2), the same vocabulary is
re-packed into vocab-only GGUF files whose `tokenizer.ggml.pre` names another
pre-tokenizer ("gpt-2", "llama-bpe", "default"), so llama.cpp's splitting rules for
those are covered too (the merges are the same; only the pre-tokenizer split differs).

The chat-template fixture renders the model's `tokenizer.chat_template` with jinja2,
as Hugging Face transformers does (`apply_chat_template`).

Usage:
    pip install llama-cpp-python gguf jinja2
    python3 scripts/reference/make_token_fixtures.py \
        --model models/SmolLM2-135M-Instruct.Q4_1.gguf \
        --out Tests/BPETokenizerTests/Fixtures/smollm2_tokens.json
"""
from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import os
import random
import re
import sys
import tempfile

import gguf
import jinja2
import llama_cpp
from llama_cpp import Llama

# --------------------------------------------------------------------------------------
# Fixture texts: each exercises one part of the pre-tokenizer or of the BPE merges.
# --------------------------------------------------------------------------------------

PROSE = (
    "The quick brown fox jumps over the lazy dog. It wasn't the first time; "
    "the dog had seen it before, and he'd seen it again. We're told they've "
    "known each other for years, and I'm sure you'll agree it's a curious friendship."
)

PYTHON_CODE = '''def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


if __name__ == "__main__":
    print(fibonacci(10))  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
'''

SWIFT_CODE = '''public struct Matrix<Element: Numeric>: Sendable where Element: Sendable {
    public var rows: Int, columns: Int
    private var storage: [Element]

    public subscript(row: Int, column: Int) -> Element {
        get { storage[row * columns + column] }
        set { storage[row * columns + column] = newValue }
    }
}

let m = Matrix<Float>(rows: 2, columns: 3, storage: [1, 2, 3, 4, 5, 6])
print("\\(m[1, 2]) == 6.0 ? \\(m[1, 2] == 6.0)")
'''

DIGITS = "1234567890 3.14159 2026-11-29 18:45:00 +1 (555) 010-9999 1,000,000 0x1F 1e-9 007"

WHITESPACE = "a\tb\t\tc  d   e    f\n\ng\n \n  h\r\ni \t \n\t j     \n\n\n  end  "

NON_ASCII = (
    "Café naïve façade résumé Ærøskøbing Łódź Ελληνικά γλώσσα Русский язык "
    "中文字符测试 日本語のテキスト 한국어 텍스트 😀🎉👍🏽 👨‍👩‍👧 e\u0301 a\u0308 n\u0303 "
    "ﬁ ① ½ ٣٤٥ １２３ \u00a0nbsp \u3000ideographic \u2028line"
)

CONTRACTIONS = "it's we've they're I'm you'll he'd don't IT'S We'Ve THEY'RE 's 've 're 'll 'd 'm 't '"

SPECIAL_TEXT = "<|im_start|>user\nHello <|im_end|> and <|endoftext|> inside<|im_start|>assistant\n"

EDGE_CASES = [
    "",
    " ",
    "  ",
    "\n",
    "a",
    " a",
    "  a",
    "a ",
    "a  ",
    "'",
    "''s",
    "Hello,World!",
    "...!!!???",
    "$100 + €50 = £?",
    "tab\there",
    "x\u200by",  # zero width space (a format character, not whitespace)
    "x\u00a0\u00a0y",  # no-break spaces (whitespace)
    "<|im_start|",  # not a whole special token
    "<|im_start|><|im_end|>",
    # Long words: merged with the priority queue rather than by rescanning (over 64 bytes).
    "a" * 300,
    "ab" * 150 + " " + "xyz" * 40,
    "supercalifragilisticexpialidocious" * 4,
    " " * 200 + "x",
    "\t" * 70 + "\n" * 70,
    "😀🎉👍🏽" * 20,
    "=" * 120 + "-" * 80,
    "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGxvbmcgYmFzZTY0IGJsb2IgdGhhdCBrZWVwcyBnb2luZyBhbmQgZ29pbmc=",
    "https://example.com/a/very/long/path/with_many_segments_and_underscores?query=value&other=thing",
    # Bytes SmolLM2 has no token for (0xF1/0xF2 lead bytes, some controls): llama.cpp drops them.
    "x\U00040000y\U0009ABCDz",
    "a\x04b\x13c\x1dd",
    # Characters of recent Unicode versions (15.1: CJK extension I; 16.0: Cyrillic TJE, Tulu-Tigalari,
    # Ol Onal digits). Our classes come from Swift's Unicode tables, llama.cpp's from its generated
    # table; these only show a difference where a merge would cross the word boundary in question.
    "x\U0002EBF0y \U0002EBF1\U0002EBF2 z",
    "x\u1C89y \u1C8A\u1C89 z",
    "x\U00011380y \U00011381\U00011382 z",
    "1\U0001E5F1 \U0001E5F2\U0001E5F3 2",
]

# Characters drawn by the random strings, grouped by the class of the pre-tokenizer
# they stress (letters, numbers, whitespace, punctuation, marks, symbols, emoji).
RANDOM_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    "  \t\n\r",
    ".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=|~`",
    "éèêëàâäôöûüçñßøåæœÀÉÖÜŁłŻżĞğİıŞş",
    "αβγδεζηθλμπσωΑΒΓΔΩабвгдежзиклмнопрстуфхцчшщыэюяЖЩЯ",
    "中文字符测试日本語のテキスト한국어텍스트",
    "😀🎉👍🏽👨\u200d👩\u200d👧🇫🇷❤️✨",
    "\u0301\u0308\u0303\u0327\u20dd",  # combining marks
    "①½٣٤١２３²",  # numbers outside ASCII
    "\u00a0\u3000\u2028\u2009\u200b\u2060\ufeff",  # exotic spaces and format characters
    "'s 've 're 'll 'd 'm 't ",
]


# Every string of up to EXHAUSTIVE_LENGTH characters over this alphabet is tokenized under every
# pre-tokenizer: it walks all the boundary cases of the splitting rules (contractions, a space
# before a word, whitespace runs before a word or at the end, line breaks, non-ASCII letters and
# spaces, special-token-like text).
EXHAUSTIVE_ALPHABET = ["a", "s", "1", " ", "\n", "\r", "\t", ".", "'", "é", "\u00a0", "<"]
EXHAUSTIVE_LENGTH = 3


def exhaustive_texts() -> list[str]:
    return [
        "".join(characters)
        for length in range(1, EXHAUSTIVE_LENGTH + 1)
        for characters in itertools.product(EXHAUSTIVE_ALPHABET, repeat=length)
    ]


def random_text(rng: random.Random, length: int) -> str:
    chars = []
    for _ in range(length):
        pool = rng.choice(RANDOM_POOLS)
        chars.append(rng.choice(pool))
    return "".join(chars)


def long_passage() -> str:
    """About 2000 tokens of varied text: prose, code, numbers and non-ASCII, shuffled with a fixed seed."""
    rng = random.Random(20241001)
    blocks = [PROSE, PYTHON_CODE, SWIFT_CODE, DIGITS, WHITESPACE, NON_ASCII, CONTRACTIONS]
    words = PROSE.split() + ["KV-Compress", "paged", "attention", "eviction", "cache", "head", "layer"]
    parts = []
    for i in range(60):
        if i % 3 == 0:
            parts.append(rng.choice(blocks))
        else:
            parts.append(" ".join(rng.choice(words) for _ in range(rng.randint(5, 25))) + ".")
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------
# Vocab-only GGUF copies with another pre-tokenizer name
# --------------------------------------------------------------------------------------


def write_vocab_only_copy(model_path: str, pre_tokenizer: str, directory: str) -> str:
    reader = gguf.GGUFReader(model_path)
    arch = reader.fields["general.architecture"].contents()
    path = os.path.join(directory, f"vocab-{pre_tokenizer}.gguf")
    writer = gguf.GGUFWriter(path, arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = field.contents()
        if name == "tokenizer.ggml.pre":
            value = pre_tokenizer
        main_type = field.types[0]
        sub_type = field.types[-1] if main_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, main_type, sub_type=sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def detokenize(vocab, ids: list[int], render_special: bool) -> bytes:
    """llama.cpp's `llama_detokenize` (the binding's `Llama.detokenize` cuts pieces over 32 bytes)."""
    tokens = (llama_cpp.llama_token * len(ids))(*ids)
    capacity = 64 * len(ids) + 16
    buffer = ctypes.create_string_buffer(capacity)
    count = llama_cpp.llama_detokenize(vocab, tokens, len(ids), buffer, capacity, False, render_special)
    if count < 0:
        raise RuntimeError(f"llama_detokenize needs {-count} bytes")
    return buffer.raw[:count]


def apply_builtin_chat_template(template: str, messages: list[dict], add_generation_prompt: bool) -> str:
    """llama.cpp's own (non-Jinja) rendering, `llama_chat_apply_template`, which recognises the
    template family but does not evaluate the template (so it omits SmolLM2's default system message)."""
    array = (llama_cpp.llama_chat_message * len(messages))(
        *[llama_cpp.llama_chat_message(role=m["role"].encode(), content=m["content"].encode()) for m in messages]
    )
    capacity = 1 << 16
    buffer = ctypes.create_string_buffer(capacity)
    count = llama_cpp.llama_chat_apply_template(
        template.encode(), array, len(messages), add_generation_prompt, buffer, capacity
    )
    if count < 0 or count > capacity:
        raise RuntimeError(f"llama_chat_apply_template failed ({count})")
    return buffer.raw[:count].decode("utf-8")


def dumps_with_compact_id_lists(value) -> str:
    """Indented JSON in which every list of integers stays on one line (small file, readable diffs)."""
    compact: list[str] = []

    def replace(node):
        if isinstance(node, list) and all(isinstance(item, int) for item in node):
            compact.append(json.dumps(node, separators=(",", ":")))
            return f"@@{len(compact) - 1}@@"
        if isinstance(node, list):
            return [replace(item) for item in node]
        if isinstance(node, dict):
            return {key: replace(item) for key, item in node.items()}
        return node

    text = json.dumps(replace(value), ensure_ascii=False, indent=1)
    return re.sub(r'"@@(\d+)@@"', lambda m: compact[int(m.group(1))], text)


def tokenize_cases(llm: Llama, cases: list[tuple[str, str, bool, bool]]) -> list[dict]:
    out = []
    for name, text, add_bos, parse_special in cases:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=parse_special)
        out.append(
            {"name": name, "text": text, "addBOS": add_bos, "parseSpecial": parse_special, "ids": ids}
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--out", default="Tests/BPETokenizerTests/Fixtures/smollm2_tokens.json")
    parser.add_argument("--random-count", type=int, default=150)
    args = parser.parse_args()

    if not os.path.exists(args.model):
        print(f"error: model file not found: {args.model} (run scripts/fetch-model.sh)", file=sys.stderr)
        return 1

    rng = random.Random(7)
    base_cases: list[tuple[str, str, bool, bool]] = [
        ("prose", PROSE, False, False),
        ("python", PYTHON_CODE, False, False),
        ("swift", SWIFT_CODE, False, False),
        ("digits", DIGITS, False, False),
        ("whitespace", WHITESPACE, False, False),
        ("non-ascii", NON_ASCII, False, False),
        ("contractions", CONTRACTIONS, False, False),
        ("special-parsed", SPECIAL_TEXT, False, True),
        ("special-as-text", SPECIAL_TEXT, False, False),
        ("prose-add-bos", PROSE, True, False),
        ("long-passage", long_passage(), False, False),
    ]
    base_cases += [(f"edge-{i}", text, False, True) for i, text in enumerate(EDGE_CASES)]
    base_cases += [(f"edge-text-{i}", text, False, False) for i, text in enumerate(EDGE_CASES)]
    random_cases = [
        (f"random-{i}", random_text(rng, rng.randint(1, 60)), False, False) for i in range(args.random_count)
    ]

    llm = Llama(args.model, vocab_only=True, verbose=False)
    exhaustive = exhaustive_texts()
    fixture_pre = llm.metadata.get("tokenizer.ggml.pre")
    fixture: dict = {
        "model": os.path.basename(args.model),
        "reference": f"llama-cpp-python {llama_cpp.__version__}",
        "preTokenizer": llm.metadata.get("tokenizer.ggml.pre"),
        "cases": tokenize_cases(llm, base_cases + random_cases),
        "exhaustive": {
            "alphabet": EXHAUSTIVE_ALPHABET,
            "maxLength": EXHAUSTIVE_LENGTH,
            "ids": {fixture_pre: [llm.tokenize(t.encode("utf-8"), add_bos=False) for t in exhaustive]},
        },
    }

    # The same texts under the other pre-tokenizers llama.cpp knows (same vocabulary and merges).
    fixture["otherPreTokenizers"] = {}
    with tempfile.TemporaryDirectory() as directory:
        for pre in ["gpt-2", "llama-bpe", "default"]:
            path = write_vocab_only_copy(args.model, pre, directory)
            other = Llama(path, vocab_only=True, verbose=False)
            # add_bos=False: llama-bpe turns add_bos on by default, the test covers BOS separately.
            cases = [(n, t, False, s) for (n, t, _, s) in base_cases + random_cases]
            fixture["otherPreTokenizers"][pre] = tokenize_cases(other, cases)
            fixture["exhaustive"]["ids"][pre] = [other.tokenize(t.encode("utf-8"), add_bos=False) for t in exhaustive]
            del other

    # Tokens that end generation, and decoding (bytes, since a token may end inside a character).
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    fixture["endOfGenerationIDs"] = [i for i in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)]
    id_rng = random.Random(11)
    id_sequences = [c["ids"] for c in fixture["cases"] if c["name"] in ("special-parsed", "non-ascii", "prose")]
    id_sequences += [[id_rng.randrange(llm.n_vocab()) for _ in range(40)] for _ in range(20)]
    fixture["decoded"] = [
        {"ids": ids, "renderSpecial": special, "bytes": list(detokenize(vocab, ids, special))}
        for ids in id_sequences
        for special in (True, False)
    ]

    # Chat template, rendered as Hugging Face does: jinja2 with the template from the GGUF; and as
    # llama.cpp's built-in renderer does.
    template_text = llm.metadata["tokenizer.chat_template"]
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(template_text)
    conversations = [
        [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is Paris."},
            {"role": "user", "content": "And of Italy?"},
        ],
        [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hi."},
        ],
    ]
    fixture["chat"] = []
    for messages in conversations:
        for add_generation_prompt in (True, False):
            rendered = template.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=llm._model.token_get_text(llm.token_bos()),
                eos_token=llm._model.token_get_text(llm.token_eos()),
            )
            fixture["chat"].append(
                {
                    "messages": messages,
                    "addGenerationPrompt": add_generation_prompt,
                    "rendered": rendered,
                    "llamaCppBuiltin": apply_builtin_chat_template(template_text, messages, add_generation_prompt),
                    "ids": llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True),
                }
            )

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    text = dumps_with_compact_id_lists(fixture)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    count = len(fixture["cases"]) + sum(len(v) for v in fixture["otherPreTokenizers"].values())
    print(f"wrote {args.out}: {count} tokenized texts, {len(fixture['chat'])} chat renderings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
