#!/usr/bin/env python3
"""Checks that HDF5 files written by KVCHDF5 read correctly in h5py, and writes one for the reverse check.

Not part of `swift test`; run by hand after changing KVCHDF5 (needs `pip install h5py numpy`):

    # Swift writes, h5py checks:
    KVC_H5_SAMPLE_FOR_PYTHON=/tmp/kvc-sample.h5 swift test --filter HDF5PythonInteropTests
    python3 scripts/check_h5.py check /tmp/kvc-sample.h5

    # h5py writes, Swift checks:
    python3 scripts/check_h5.py write /tmp/kvc-from-h5py.h5
    KVC_H5_SAMPLE_FROM_PYTHON=/tmp/kvc-from-h5py.h5 swift test --filter HDF5PythonInteropTests

The expected contents mirror Tests/WrapperTests/HDF5PythonInteropTests.swift; keep the two in step.
"""
import sys

import h5py
import numpy as np


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_dataset(group, name, dtype, shape, values):
    dataset = group[name]
    expect(dataset.dtype == np.dtype(dtype), f"{dataset.name}: dtype {dataset.dtype}, expected {dtype}")
    expect(dataset.shape == shape, f"{dataset.name}: shape {dataset.shape}, expected {shape}")
    data = dataset[()]
    expect(np.array_equal(np.asarray(data), np.asarray(values, dtype=dtype).reshape(shape)),
           f"{dataset.name}: values {data!r} differ from {values!r}")


def check(path):
    with h5py.File(path, "r") as f:
        expect(f.attrs["model"] == "SmolLM2-135M", f"model attribute is {f.attrs['model']!r}")
        expect(f.attrs["steps"] == 12 and f.attrs["steps"].dtype == np.int64, "steps attribute")
        expect(f.attrs["rate"] == 0.25 and f.attrs["rate"].dtype == np.float64, "rate attribute")
        expect(f.attrs["scale"] == 0.5 and f.attrs["scale"].dtype == np.float32, "scale attribute")
        expect(list(f.attrs["layers"]) == [0, 4, 8], "layers attribute")
        expect(list(f.attrs["budgets"]) == [0.1, 0.2], "budgets attribute")
        run = f["runs/0"]
        expect(run.attrs["policy"] == "kv-compress", "policy attribute")
        expect_dataset(run, "keys", "<f4", (2, 3, 4), np.arange(24) * 0.5)
        expect(run["keys"].attrs["units"] == "activations", "units attribute")
        expect_dataset(run, "mask", "u1", (5,), [0, 1, 255, 3, 4])
        expect_dataset(run, "positions", "<i4", (2, 3), [-1, 0, 1, 2, 3, 2**31 - 1])
        expect_dataset(run, "bytes", "i1", (4,), [-128, -1, 0, 127])
        expect_dataset(run, "tokens", "<i8", (3,), [-(2**63), 0, 2**63 - 1])
        expect_dataset(run, "matrix", "<f8", (2, 2), [1.0, -2.5, 1e300, 0.0])
        expect_dataset(run, "empty", "<f4", (0,), [])
        expect_dataset(run, "scalar", "<f8", (), 3.25)
        compressed = run["compressed"]
        expect(compressed.compression == "gzip" and compressed.compression_opts == 4, "compression settings")
        expect(compressed.shuffle and compressed.chunks == (16, 32), "shuffle and chunks")
        expect_dataset(run, "compressed", "<f4", (64, 32), np.arange(2048) % 7)
        labels = f["labels"].asstr()[:]
        expect(list(labels) == ["keep", "evict", "Grüße"], f"labels {labels!r}")
        expect(sorted(f.keys()) == ["labels", "runs"], f"root keys {sorted(f.keys())}")
    print(f"OK: {path} reads correctly in h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version})")


def write(path):
    with h5py.File(path, "w") as f:
        f.attrs["name"] = "from h5py"
        f.attrs["count"] = 7
        f.attrs["ratio"] = 0.75
        f.attrs["sizes"] = np.array([1, 2, 3], dtype=np.int64)
        f.attrs["weights"] = [0.5, 1.5]
        f.create_dataset("group/data", data=np.arange(6, dtype=np.float32).reshape(2, 3))
        f.create_dataset("group/gzip", data=np.arange(100, dtype=np.int64), compression="gzip", chunks=(10,))
        f.create_dataset("vlen_strings", data=["alpha", "βeta"], dtype=h5py.string_dtype())
        f.create_dataset("fixed_strings", data=np.array([b"ab", b"c"], dtype="S2"))
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "write"):
        sys.exit("usage: check_h5.py check|write FILE.h5")
    {"check": check, "write": write}[sys.argv[1]](sys.argv[2])
