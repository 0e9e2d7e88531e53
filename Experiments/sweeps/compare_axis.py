#!/usr/bin/env python3
"""Paired comparison between two values of one sweep axis, cell by cell, from a results file
(kvc-sweep/2): for every cell with AXIS=BASELINE, the cell that differs from it only in AXIS=OTHER
answers the same questions; the table gives both k/n, the discordant pairs (b: only the baseline
right, c: only the other right), the exact two-sided McNemar p-value and its Holm adjustment over
every compared cell, and lists the cells whose answers moved. `kvc sweep report --baseline` does
this across methods; this does it across any other axis (e.g. the KV storage type).

Usage: python3 Experiments/sweeps/compare_axis.py RESULTS.h5 --axis kv_type --baseline f32 --other f16
"""
import argparse
import sys
from collections import OrderedDict
from math import comb


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value: the binomial test of b successes in b + c at 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(0, min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def holm(pvalues):
    """Holm's step-down adjustment, in the input order."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("--axis", required=True)
    parser.add_argument("--baseline", required=True, help="the axis value compared against")
    parser.add_argument("--other", required=True, help="the axis value compared")
    args = parser.parse_args()
    import h5py

    with h5py.File(args.results, "r") as f:
        if f.attrs.get("format") != "kvc-sweep/2":
            sys.exit(f"error: {args.results} is not a kvc-sweep/2 results file")
        axes = list(f["axes"].asstr()[:])
        if args.axis not in axes:
            sys.exit(f"error: {args.results} has no axis {args.axis!r}; its axes: {', '.join(axes)}")
        values = f["cells/values"].asstr()[:]
        width = len(axes)
        cells = [tuple(values[i * width:(i + 1) * width]) for i in range(len(values) // width)]
        tasks = list(f["tasks"].asstr()[:])
        lengths = [int(x) for x in f["lengths"][:]]
        t = f["trials"]
        keys = list(zip(t["task"][:], t["length_index"][:], t["prompt"][:], t["question"][:]))
        cell_of, correct = t["cell"][:], t["correct"][:]

    a = axes.index(args.axis)
    seen_values = {c[a] for c in cells}
    for v in (args.baseline, args.other):
        if v not in seen_values:
            sys.exit(f"error: axis {args.axis} has no value {v!r}; its values: {', '.join(sorted(seen_values))}")
    index = {c: i for i, c in enumerate(cells)}
    # cell -> (task, length) -> (prompt, question) -> correct
    answers = {}
    for i in range(len(cell_of)):
        task, length, prompt, question = keys[i]
        answers.setdefault(int(cell_of[i]), {}).setdefault((int(task), int(length)), {})[(prompt, question)] = bool(correct[i])

    rows = []
    groups = sorted({g for by_group in answers.values() for g in by_group})
    for task, length in groups:
        for i, c in enumerate(cells):
            if c[a] != args.baseline:
                continue
            partner = index.get(c[:a] + (args.other,) + c[a + 1:])
            if partner is None:
                continue
            mine = answers.get(i, {}).get((task, length), {})
            theirs = answers.get(partner, {}).get((task, length), {})
            shared = [k for k in mine if k in theirs]
            if not shared:
                continue
            b = sum(1 for k in shared if mine[k] and not theirs[k])
            cc = sum(1 for k in shared if theirs[k] and not mine[k])
            label = ", ".join(f"{axes[j]}={c[j]}" for j in range(width) if j != a)
            rows.append((f"{tasks[task]} {lengths[length]}", label, sum(mine[k] for k in shared),
                         sum(theirs[k] for k in shared), len(shared), b, cc, mcnemar_exact(b, cc)))
    if not rows:
        sys.exit("error: no pair of cells differs only in that axis")
    adjusted = holm([r[-1] for r in rows])
    print(f"{args.axis}={args.other} against {args.axis}={args.baseline}, paired on the same questions; exact McNemar, "
          f"Holm over {len(rows)} cells.\n")
    print(f"| task | cell | {args.baseline} k/n | {args.other} k/n | b | c | p (Holm) |")
    print("|:--|:--|--:|--:|--:|--:|--:|")
    for (groups, label, k0, k1, n, b, cc, p), ph in zip(rows, adjusted):
        print(f"| {groups} | {label} | {k0}/{n} | {k1}/{n} | {b} | {cc} | {p:.3f} ({ph:.3f}) |")
    moved = [(g, l, k0, k1, n) for (g, l, k0, k1, n, b, cc, p) in rows if b or cc]
    unchanged = sum(1 for r in rows if not (r[5] or r[6]))
    print(f"\n{unchanged} of {len(rows)} cells give the same answer on every question"
          + (f"; in {len(moved)} at least one question's correctness moved:" if moved else "."))
    for g, l, k0, k1, n in moved:
        print(f"- {g}, {l}: {k0}/{n} → {k1}/{n}")


if __name__ == "__main__":
    main()
