#!/usr/bin/env python3
"""Method × rate matrix of a sweep results file (kvc-sweep/2), for the compact tables of
Experiments/RESULTS.md: one table per (task, length, question placement and any other axis), a row
per method, a column per rate, each cell k/n correct (and the mean task score when it differs from
k/n, as on the multi-value tasks). `kvc sweep report` gives the full per-cell statistics.

Usage: python3 Experiments/sweeps/matrix.py RESULTS.h5 [--score]
"""
import argparse
import json
import sys
from collections import OrderedDict, defaultdict


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("--score", action="store_true", help="show the mean task score instead of k/n")
    args = parser.parse_args()
    import h5py

    with h5py.File(args.results, "r") as f:
        if f.attrs.get("format") != "kvc-sweep/2":
            sys.exit(f"error: {args.results} is not a kvc-sweep/2 results file (format {f.attrs.get('format')!r})")
        tasks = list(f["tasks"].asstr()[:])
        lengths = [int(x) for x in f["lengths"][:]]
        axes = list(f["axes"].asstr()[:])
        values = f["cells/values"].asstr()[:]
        methods = list(f["cells/method"].asstr()[:])
        placements = list(f["cells/question"].asstr()[:])
        width = len(axes)
        cell_axes = [dict(zip(axes, values[i * width:(i + 1) * width])) for i in range(len(methods))]
        t = f["trials"]
        task, length, cell = t["task"][:], t["length_index"][:], t["cell"][:]
        correct, score = t["correct"][:], t["score"][:]
        complete = int(f.attrs.get("complete", 0)) == 1

    # Group: (task, length, placement, other axes) -> method -> rate -> [correct, score, n]
    tables = OrderedDict()
    rates = set()
    for i in range(len(cell)):
        c = int(cell[i])
        a = cell_axes[c]
        rate = float(a.get("rate", "1"))
        rates.add(rate)
        others = ", ".join(f"{k}={v}" for k, v in a.items() if k not in ("method", "rate", "question"))
        key = (tasks[task[i]], lengths[length[i]], placements[c], others)
        entry = tables.setdefault(key, OrderedDict()).setdefault(methods[c], defaultdict(lambda: [0, 0.0, 0]))
        e = entry[rate]
        e[0] += int(correct[i])
        e[1] += float(score[i])
        e[2] += 1
    rates = sorted(rates)
    name = lambda r: str(int(r)) if r == int(r) else f"{r:g}"
    if not complete:
        print(f"(incomplete: {args.results} does not yet hold every trial)\n")
    for (task_name, target, placement, others), rows in tables.items():
        title = f"{task_name}, {target} tokens, question {placement}" + (f", {others}" if others else "")
        print(f"#### {title}\n")
        print("| method | " + " | ".join(f"rate {name(r)}" for r in rates) + " |")
        print("|:--|" + "--:|" * len(rates))
        for method, by_rate in rows.items():
            cells = []
            for r in rates:
                if r not in by_rate:
                    cells.append("")
                    continue
                k, s, n = by_rate[r]
                cells.append(f"{s / n:.2f}" if args.score else f"{k}/{n}")
            print(f"| {method} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
