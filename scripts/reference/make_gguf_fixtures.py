#!/usr/bin/env python3
"""Reference fixtures for the GGUF module tests, produced by gguf-py (llama.cpp's own Python package).

    python3 -m pip install gguf numpy
    python3 scripts/reference/make_gguf_fixtures.py            # quant + metadata fixtures
    python3 scripts/reference/make_gguf_fixtures.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf

Writes into Tests/GGUFTests/Fixtures/:

* quant-reference.gguf, written by gguf-py's GGUFWriter (so the Swift reader is also tested on a
  file it did not write), holding
  - metadata keys "fixture.<type>" of every GGUF value type, nested arrays included;
  - for each dequantizable type T: tensor "T.blocks" (random raw blocks of type T, fixed seed,
    with sane f16 scale fields, a zero and a subnormal scale among them) and tensor
    "T.expected" (F32: gguf-py's dequantization of those blocks);
  - tensor "quantize.input" (F32 random values) and "quantize.T" for T in F16, BF16, Q8_0,
    Q4_0, Q4_1: gguf-py's quantization of the input, for byte-exact quantizer tests.
* smollm2-reference.json (with --model): the model's tensor table and, for a few tensors, the
  sum, sum of squares and first 8 values of gguf-py's dequantization.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.constants import GGML_QUANT_SIZES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "GGUFTests" / "Fixtures"

# Byte offsets of the f16 scale fields inside one block (ggml-common.h structs).
HALF_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
BLOCKS_PER_TYPE = 8


def random_halves(rng, count):
    """Finite f16 bit patterns, sane magnitudes, with a zero and a subnormal among them."""
    values = (rng.standard_normal(count) * 0.05).astype(np.float16)
    values[0] = np.float16(0.0)
    if count > 1:
        values[1] = np.frombuffer(np.uint16(0x0123).tobytes(), dtype=np.float16)[0]  # subnormal
    return values.view(np.uint16)


def random_blocks(rng, qtype):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    if qtype == Q.F32:
        return (rng.standard_normal(64) * 3).astype(np.float32).view(np.uint8), 64
    if qtype == Q.F16:
        bits = rng.integers(0, 1 << 16, size=256, dtype=np.uint32).astype(np.uint16)
        bits = bits[(bits & 0x7C00) != 0x7C00][:128]  # no inf/NaN
        return bits.view(np.uint8), 128
    if qtype == Q.BF16:
        bits = rng.integers(0, 1 << 16, size=256, dtype=np.uint32).astype(np.uint16)
        bits = bits[(bits & 0x7F80) != 0x7F80][:128]
        return bits.view(np.uint8), 128
    raw = rng.integers(0, 256, size=(BLOCKS_PER_TYPE, type_size), dtype=np.uint32).astype(np.uint8)
    for offset in HALF_FIELDS[qtype]:
        raw[:, offset:offset + 2] = random_halves(rng, BLOCKS_PER_TYPE).reshape(-1, 1).view(np.uint8)
    return raw.reshape(-1), BLOCKS_PER_TYPE * block_size


DEQUANTIZABLE = [Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]
QUANTIZABLE = [Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1]


def add_metadata(writer):
    vt = gguf.GGUFValueType
    writer.add_uint8("fixture.uint8", 200)
    writer.add_int8("fixture.int8", -100)
    writer.add_uint16("fixture.uint16", 60000)
    writer.add_int16("fixture.int16", -30000)
    writer.add_uint32("fixture.uint32", 4_000_000_000)
    writer.add_int32("fixture.int32", -2_000_000_000)
    writer.add_float32("fixture.float32", 0.15625)
    writer.add_bool("fixture.bool", True)
    writer.add_string("fixture.string", "Grüße, GGUF ✓")
    writer.add_uint64("fixture.uint64", 18_000_000_000_000_000_000)
    writer.add_int64("fixture.int64", -9_000_000_000_000_000_000)
    writer.add_float64("fixture.float64", -2.718281828459045)
    writer.add_array("fixture.array_int32", [1, -2, 3])  # gguf-py stores Python ints as int32
    writer.add_key_value("fixture.array_uint8", [1, 2, 255], vt.ARRAY, sub_type=vt.UINT8)
    writer.add_key_value("fixture.array_float32", [0.5, -1.25], vt.ARRAY, sub_type=vt.FLOAT32)
    writer.add_array("fixture.array_string", ["a", "bc", ""])
    writer.add_array("fixture.array_bool", [True, False])
    writer.add_array("fixture.array_nested", [[1, 2], [3], ["x", "y"]])


def make_quant_fixtures():
    rng = np.random.default_rng(20241001)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / "quant-reference.gguf"
    writer = gguf.GGUFWriter(str(path), arch="fixture")
    add_metadata(writer)

    for qtype in DEQUANTIZABLE:
        raw, elements = random_blocks(rng, qtype)
        expected = gguf.quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
        assert expected.size == elements, (qtype, expected.size, elements)
        rows = 2
        writer.add_tensor(f"{qtype.name}.blocks", raw.reshape(rows, -1), raw_dtype=qtype)
        writer.add_tensor(f"{qtype.name}.expected", expected.reshape(rows, -1))

    values = (rng.standard_normal((4, 64)) * 2).astype(np.float32)
    values[0, :32] = 0.0  # an all-zero block: d = 0
    values[1, :32] = np.linspace(-1, 1, 32, dtype=np.float32)  # exact halves for rounding
    writer.add_tensor("quantize.input", values)
    for qtype in QUANTIZABLE:
        encoded = gguf.quants.quantize(values, qtype)
        writer.add_tensor(f"quantize.{qtype.name}", np.ascontiguousarray(encoded).view(np.uint8).reshape(4, -1),
                          raw_dtype=qtype)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {path} ({path.stat().st_size} bytes)")


CHECKED_TENSORS = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight",
                   "blk.29.ffn_down.weight", "output_norm.weight"]


def make_model_fixture(model_path):
    reader = gguf.GGUFReader(model_path)
    tensors = []
    for t in reader.tensors:
        tensors.append({"name": t.name, "type": t.tensor_type.name, "dimensions": [int(d) for d in t.shape],
                        "offset": int(t.data_offset) - int(reader.data_offset)})
    checks = []
    for name in CHECKED_TENSORS:
        t = next(t for t in reader.tensors if t.name == name)
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        as64 = values.astype(np.float64)
        checks.append({"name": name, "type": t.tensor_type.name, "count": int(values.size),
                       "sum": float(as64.sum()), "sumOfSquares": float((as64 * as64).sum()),
                       "first": [float(v) for v in values[:8]], "last": float(values[-1])})
    out = {"source": Path(model_path).name, "version": int(reader.fields["GGUF.version"].parts[-1][0]),
           "alignment": int(reader.alignment), "dataOffset": int(reader.data_offset),
           "metadataCount": len([k for k in reader.fields if not k.startswith("GGUF.")]),
           "tensors": tensors, "checksums": checks}
    path = FIXTURES / "smollm2-reference.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="also write the real-model reference for this GGUF file")
    args = parser.parse_args()
    make_quant_fixtures()
    if args.model:
        make_model_fixture(args.model)
    sys.exit(0)
