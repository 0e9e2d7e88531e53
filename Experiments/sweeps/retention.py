#!/usr/bin/env python3
"""Where a compression spent its budget, from a sweep results file (kvc-sweep/2): the tables of
Experiments/RESULTS.md that are about KVs kept rather than answers.

  evidence   per (task, length, placement): a row per rate, a column per method, the share of the
             evidence's KVs (the needle's tokens, `trials/evidence_kvs_kept` over `evidence_tokens`
             × layers × KV heads) kept after compression, mean over prompts.
  layers     one prompt at one rate: percent of the prompt's KVs each (layer, KV head) keeps after
             compression (`trials/kept_kvs` over the prompt's tokens), a column per method × head.

Usage:
  python3 Experiments/sweeps/retention.py RESULTS.h5 evidence
  python3 Experiments/sweeps/retention.py RESULTS.h5 layers --rate 8 [--prompt 0] [--task passkey] [--length 1200]
      [--methods kvcompress,uniform] [--where kv_type=f16]
"""
import argparse
import sys
from collections import OrderedDict, defaultdict


def load(path):
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "kvc-sweep/2":
            sys.exit(f"error: {path} is not a kvc-sweep/2 results file (format {f.attrs.get('format')!r})")
        axes = list(f["axes"].asstr()[:])
        values = f["cells/values"].asstr()[:]
        width = len(axes)
        methods = list(f["cells/method"].asstr()[:])
        cells = [dict(zip(axes, values[i * width:(i + 1) * width])) for i in range(len(methods))]
        for i, c in enumerate(cells):
            c["method"] = methods[i]
            c["question"] = f["cells/question"].asstr()[i]
        t = f["trials"]
        trials = {name: t[name][:] for name in
                  ("cell", "task", "length_index", "prompt", "question", "prompt_tokens", "document_tokens",
                   "kept_kvs", "evidence_kvs_kept", "evidence_tokens")}
        return {
            "tasks": list(f["tasks"].asstr()[:]),
            "lengths": [int(x) for x in f["lengths"][:]],
            "cells": cells,
            "trials": trials,
        }


def rate_of(cell):
    return float(cell.get("rate", "1"))


def rate_name(r):
    return str(int(r)) if r == int(r) else f"{r:g}"


def evidence(data):
    t, cells = data["trials"], data["cells"]
    # (task, length, placement) -> rate -> method -> [sum of shares, n]
    tables = OrderedDict()
    for i in range(len(t["cell"])):
        tokens = int(t["evidence_tokens"][i])
        if tokens <= 0:
            continue
        c = cells[int(t["cell"][i])]
        kept = t["evidence_kvs_kept"][i]
        share = float(kept.sum()) / (tokens * kept.size)
        others = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("method", "rate", "question"))
        key = (data["tasks"][t["task"][i]], data["lengths"][t["length_index"][i]], c["question"], others)
        e = tables.setdefault(key, defaultdict(OrderedDict)).setdefault(rate_of(c), OrderedDict())
        e.setdefault(c["method"], [0.0, 0])
        e[c["method"]][0] += share
        e[c["method"]][1] += 1
    if not tables:
        sys.exit("error: no trial records evidence tokens (tasks without a needle)")
    for (task, length, placement, others), rows in tables.items():
        methods = list(OrderedDict.fromkeys(m for r in rows.values() for m in r))
        title = f"{task}, {length} tokens, question {placement}" + (f", {others}" if others else "")
        print(f"#### {title}: evidence KVs kept over all layers × KV heads\n")
        print("| rate | " + " | ".join(methods) + " |")
        print("|---:|" + "--:|" * len(methods))
        for rate in sorted(rows):
            cellsText = []
            for m in methods:
                s, n = rows[rate].get(m, [0.0, 0])
                cellsText.append(f"{100 * s / n:.0f}%" if n else "")
            print(f"| {rate_name(rate)} | " + " | ".join(cellsText) + " |")
        print()


def layers(data, rate, prompt, task, length, methods, where):
    t, cells = data["trials"], data["cells"]
    task_index = data["tasks"].index(task) if task else 0
    length_index = data["lengths"].index(length) if length else 0
    columns = OrderedDict()  # method -> kept [layers, heads] as percent
    tokens = None
    for i in range(len(t["cell"])):
        c = cells[int(t["cell"][i])]
        if (int(t["task"][i]), int(t["length_index"][i]), int(t["prompt"][i]), int(t["question"][i])) != (
                task_index, length_index, prompt, 0) or rate_of(c) != rate:
            continue
        if c["method"] in columns or (methods and c["method"] not in methods):
            continue
        if any(c.get(k) != v for k, v in where.items()):
            continue
        tokens = int(t["prompt_tokens"][i])
        columns[c["method"]] = 100.0 * t["kept_kvs"][i] / tokens
    if not columns:
        sys.exit(f"error: no trial of prompt {prompt} at rate {rate_name(rate)} "
                 f"({data['tasks'][task_index]}, {data['lengths'][length_index]} tokens)")
    first = next(iter(columns.values()))
    layer_count, heads = first.shape
    filters = "".join(f", {k}={v}" for k, v in where.items())
    print(f"#### {data['tasks'][task_index]}, {data['lengths'][length_index]} tokens, prompt {prompt} "
          f"({tokens} tokens), rate {rate_name(rate)}{filters}: percent of the prompt's KVs each (layer, KV head) keeps\n")
    header = [f"{m} h{h}" for m in columns for h in range(heads)]
    print("| layer | " + " | ".join(header) + " |")
    print("|---:|" + "--:|" * len(header))
    for layer in range(layer_count):
        row = [f"{kept[layer, h]:.0f}" for kept in columns.values() for h in range(heads)]
        print(f"| {layer} | " + " | ".join(row) + " |")
    means = [f"{kept[:, h].mean():.1f}" for kept in columns.values() for h in range(heads)]
    print("| mean | " + " | ".join(means) + " |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("table", choices=["evidence", "layers"])
    parser.add_argument("--rate", type=float, default=8)
    parser.add_argument("--prompt", type=int, default=0)
    parser.add_argument("--task", default=None, help="task name (default: the file's first)")
    parser.add_argument("--length", type=int, default=None, help="target length (default: the file's first)")
    parser.add_argument("--methods", default=None, help="comma-separated methods of the layers table (default: all)")
    parser.add_argument("--where", action="append", default=[], metavar="AXIS=VALUE",
                        help="only cells with this value of another axis (e.g. kv_type=f16); repeatable")
    args = parser.parse_args()
    data = load(args.results)
    if args.table == "evidence":
        evidence(data)
    else:
        methods = args.methods.split(",") if args.methods else None
        where = dict(w.split("=", 1) for w in args.where)
        layers(data, args.rate, args.prompt, args.task, args.length, methods, where)


if __name__ == "__main__":
    main()
