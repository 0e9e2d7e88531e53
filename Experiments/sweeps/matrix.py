#!/usr/bin/env python3
"""Method × rate matrix of a sweep results file (kvc-sweep/2), for the compact tables of
Experiments/RESULTS.md: one table per (task, length, question placement and any other axis), a row
per method, a column per rate, each cell k/n correct (and the mean task score when it differs from
k/n, as on the multi-value tasks). `kvc sweep report` gives the full per-cell statistics.

With --costs: what each method's compression costs instead, a row per method over every compressed
trial (rate > 1): milliseconds per compression, per 1k cached tokens, and as a share of the document's
observed prefill (the prefill that served the trial's cell). Seconds are wall time on the machine that
ran the sweep (shared machines inflate them; compare methods within one file).

With --wide: one table per task (and length), both question placements side by side (columns
"aware, rate 4", …), for sweeps with many methods.

With --average: one such wide table per length, each entry the mean task score averaged over the tasks
(each task weighs the same, as kvpress and RULER average their tasks), with the tasks and their
document counts listed above it, then the same table of 95% intervals: percentile intervals of a
bootstrap that resamples each task's documents (a document's questions stay together; 2 000
resamples, seed 0, the same resamples for every cell).

Several files (of one model, and made on the same documents: same tasks, lengths, seed and prompts,
e.g. two sweeps over different rates) make one table: their trials are counted together. A cell
(method, placement, rate) present in several files (rate 1, which each file runs so that its own report
has a full cache to pair with) is counted from the first file that has it only: the same documents
again are not new evidence.

Usage: python3 Experiments/sweeps/matrix.py RESULTS.h5 [MORE.h5 ...] [--score] [--wide] | --average | --costs
"""
import argparse
import json
import sys
from collections import OrderedDict, defaultdict


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--score", action="store_true", help="show the mean task score instead of k/n")
    parser.add_argument("--costs", action="store_true", help="compression cost per method instead of accuracy")
    parser.add_argument("--wide", action="store_true", help="question placements as columns of one table per task")
    parser.add_argument("--average", action="store_true", help="mean score averaged over the tasks, one wide table per length")
    args = parser.parse_args()
    import h5py

    tables = OrderedDict()
    # (task, length, placement, others) -> (method, rate) -> document -> [score sum, questions], for
    # the averages' bootstrap intervals.
    documents = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: [0.0, 0])))
    rates = set()
    if args.costs and len(args.results) > 1:
        sys.exit("error: --costs reads one results file")
    owner = {}  # (table key, method, rate) -> the file counted for it
    for number, path in enumerate(args.results):
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "kvc-sweep/2":
                sys.exit(f"error: {path} is not a kvc-sweep/2 results file (format {f.attrs.get('format')!r})")
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
            compress_seconds, prefill_seconds = t["compress_seconds"][:], t["prefill_seconds"][:]
            compressions, document_tokens = t["compressions"][:], t["document_tokens"][:]
            prompt = t["prompt"][:]
            # Recorded since 2026-12-05; older files lack it.
            extra_tokens = t["scoring_extra_tokens"][:] if "scoring_extra_tokens" in t else None
            if int(f.attrs.get("complete", 0)) != 1:
                print(f"(incomplete: {path} does not yet hold every trial)\n")

        if args.costs:
            documents = [(int(task[i]), int(length[i]), int(prompt[i])) for i in range(len(cell))]
            print_costs(methods, cell_axes, cell, documents, compress_seconds, prefill_seconds, compressions, document_tokens,
                        extra_tokens)
            return

        # Group: (task, length, placement, other axes) -> method -> rate -> [correct, score, n]
        for i in range(len(cell)):
            c = int(cell[i])
            a = cell_axes[c]
            rate = float(a.get("rate", "1"))
            rates.add(rate)
            others = ", ".join(f"{k}={v}" for k, v in a.items() if k not in ("method", "rate", "question"))
            key = (tasks[task[i]], lengths[length[i]], placements[c], others)
            if owner.setdefault((key, methods[c], rate), number) != number:
                continue
            entry = tables.setdefault(key, OrderedDict()).setdefault(methods[c], defaultdict(lambda: [0, 0.0, 0]))
            e = entry[rate]
            e[0] += int(correct[i])
            e[1] += float(score[i])
            e[2] += 1
            if args.average:
                d = documents[key][(methods[c], rate)][int(prompt[i])]
                d[0] += float(score[i])
                d[1] += 1
    rates = sorted(rates)
    name = lambda r: str(int(r)) if r == int(r) else f"{r:g}"
    if args.average:
        print_average(tables, documents, rates, name)
        return
    if args.wide:
        print_wide(tables, rates, name, args.score)
        return
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


def print_average(tables, documents, rates, name):
    """Per (length, other axes): a row per method, a column per (placement, rate); each entry the
    mean over tasks of the task's mean score in that cell; then each entry's 95% bootstrap interval
    (`average_intervals`)."""
    merged = OrderedDict()  # (target, others) -> method -> (placement, rate) -> [task means]
    counts = OrderedDict()  # (target, others) -> task -> documents' trials at rate 1 (its n)
    for (task_name, target, placement, others), rows in tables.items():
        table = merged.setdefault((target, others), OrderedDict())
        for method, by_rate in rows.items():
            for r, (_, s, n) in by_rate.items():
                table.setdefault(method, OrderedDict()).setdefault((placement, r), []).append(s / n)
                counts.setdefault((target, others), OrderedDict()).setdefault(task_name, n)
    for (target, others), rows in merged.items():
        tasks = counts[(target, others)]
        placements = list(OrderedDict.fromkeys(p for row in rows.values() for p, _ in row))
        columns = [(p, r) for p in placements for r in rates if any((p, r) in row for row in rows.values())]
        title = f"Mean over {len(tasks)} tasks, {target} tokens" + (f", {others}" if others else "")
        print(f"#### {title}\n")
        print("Tasks (n per cell): " + ", ".join(f"{t} ({n})" for t, n in tasks.items()) + "\n")
        print("| method | " + " | ".join(f"{p}, rate {name(r)}" for p, r in columns) + " |")
        print("|:--|" + "--:|" * len(columns))
        for method, by_column in rows.items():
            cells = []
            for column in columns:
                means = by_column.get(column, [])
                cells.append(f"{sum(means) / len(means):.2f}" if len(means) == len(tasks) else "")
            print(f"| {method} | " + " | ".join(cells) + " |")
        print()
        intervals = average_intervals(tables, documents, target, others, list(tasks))
        print("95% intervals of the means above (documents resampled within each task, 2 000 times):\n")
        print("| method | " + " | ".join(f"{p}, rate {name(r)}" for p, r in columns) + " |")
        print("|:--|" + "--:|" * len(columns))
        for method in rows:
            cells = []
            for placement, r in columns:
                interval = intervals.get((method, placement, r))
                cells.append(f"{interval[0]:.2f}–{interval[1]:.2f}" if interval else "")
            print(f"| {method} | " + " | ".join(cells) + " |")
        print()


def average_intervals(tables, documents, target, others, tasks, resamples=2000, seed=0):
    """(method, placement, rate) -> the 2.5th and 97.5th percentiles of the task-averaged mean score
    over bootstrap resamples of the documents: each replicate draws, for each task, as many of its
    documents as it has, with replacement (a document's questions stay together, so the 4-key task's
    questions are not counted as independent), and every cell is scored on the same draws. A cell
    missing a task or a document has no interval."""
    import numpy as np
    rng = np.random.default_rng(seed)
    sums = None  # (method, placement, rate) -> replicate sums of task means
    for task_name in tasks:
        by_placement = {p: documents[(t, l, p, o)] for (t, l, p, o) in tables if t == task_name and l == target and o == others}
        prompts = sorted({d for cells in by_placement.values() for docs in cells.values() for d in docs})
        if not prompts:
            return {}
        column = {d: j for j, d in enumerate(prompts)}
        draws = rng.multinomial(len(prompts), [1 / len(prompts)] * len(prompts), size=resamples)  # [resamples, documents]
        task_sums = {}
        for placement, cells in by_placement.items():
            for (method, r), docs in cells.items():
                if len(docs) != len(prompts):
                    continue
                score, count = np.zeros(len(prompts)), np.zeros(len(prompts))
                for d, (s, n) in docs.items():
                    score[column[d]], count[column[d]] = s, n
                task_sums[(method, placement, r)] = (draws @ score) / (draws @ count)
        sums = task_sums if sums is None else {k: sums[k] + v for k, v in task_sums.items() if k in sums}
    return {k: (float(np.percentile(v / len(tasks), 2.5)), float(np.percentile(v / len(tasks), 97.5))) for k, v in (sums or {}).items()}


def print_wide(tables, rates, name, score):
    """One table per (task, length, other axes): a row per method, a column per (placement, rate)."""
    merged = OrderedDict()
    for (task_name, target, placement, others), rows in tables.items():
        table = merged.setdefault((task_name, target, others), OrderedDict())
        for method, by_rate in rows.items():
            for r, e in by_rate.items():
                table.setdefault(method, {})[(placement, r)] = e
    for (task_name, target, others), rows in merged.items():
        columns = []
        for by_column in rows.values():
            for column in by_column:
                if column not in columns:
                    columns.append(column)
        placements = list(OrderedDict.fromkeys(p for p, _ in columns))
        columns = [(p, r) for p in placements for r in rates if any((p, r) in row for row in rows.values())]
        title = f"{task_name}, {target} tokens" + (f", {others}" if others else "")
        print(f"#### {title}\n")
        print("| method | " + " | ".join(f"{p}, rate {name(r)}" for p, r in columns) + " |")
        print("|:--|" + "--:|" * len(columns))
        for method, by_column in rows.items():
            cells = []
            for column in columns:
                if column not in by_column:
                    cells.append("")
                    continue
                k, s, n = by_column[column]
                cells.append(f"{s / n:.2f}" if score else f"{k}/{n}")
            print(f"| {method} | " + " | ".join(cells) + " |")
        print()


def print_costs(methods, cell_axes, cell, documents, compress_seconds, prefill_seconds, compressions, document_tokens,
                extra_tokens):
    """Per method, over its compressed trials: ms per compression, ms per 1k document tokens, the
    compression's time over the observed prefill of the document, and (when the file records it) the
    tokens its scorer prefilled beyond the document per compression. A document's prefill is recorded
    on the trials it served (several cells share one); its largest value per document is taken."""
    prefill_of_document = defaultdict(float)
    rows = OrderedDict()
    for i in range(len(cell)):
        c = int(cell[i])
        if float(cell_axes[c].get("rate", "1")) <= 1 or int(compressions[i]) == 0:
            continue
        count = int(compressions[i])
        per = float(compress_seconds[i]) / count
        e = rows.setdefault(methods[c], [0.0, 0.0, 0, []])
        e[0] += per
        e[1] += per / max(1, int(document_tokens[i])) * 1000
        e[2] += 1
        e[3].append(i)
    for i in range(len(cell)):
        prefill_of_document[documents[i]] = max(prefill_of_document[documents[i]], float(prefill_seconds[i]))
    extra_header = " extra tokens prefilled per compression |" if extra_tokens is not None else ""
    print("| method | trials | ms per compression | ms per 1k tokens | × the document's prefill |" + extra_header)
    print("|:--|--:|--:|--:|--:|" + ("--:|" if extra_tokens is not None else ""))
    for method, (seconds, per_k, n, trials) in rows.items():
        ratios = [float(compress_seconds[i]) / max(1, int(compressions[i])) / prefill_of_document[documents[i]]
                  for i in trials if prefill_of_document[documents[i]] > 0]
        ratio = f"{sum(ratios) / len(ratios):.3f}" if ratios else ""
        extra = ""
        if extra_tokens is not None:
            total = sum(int(extra_tokens[i]) for i in trials)
            count = sum(int(compressions[i]) for i in trials)
            extra = f" {total / max(1, count):.0f} |"
        print(f"| {method} | {n} | {1000 * seconds / n:.1f} | {1000 * per_k / n:.1f} | {ratio} |" + extra)
    print()


if __name__ == "__main__":
    main()
