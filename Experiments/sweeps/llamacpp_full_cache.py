#!/usr/bin/env python3
"""Full-cache reference for the sweeps: runs the exact prompts of a sweep (written by
`kvc sweep --spec SPEC --write-prompts prompts.jsonl`) through llama.cpp (llama-cpp-python) with
greedy decoding of each task's answer length, and scores them as the task does (RULER's
string_match_all / string_match_part: the fraction of expected strings present, or any present).

With the sweep's HDF5 file it compares every question with `kvc`'s full cache (a rate-1 cell; the
question-aware one when there is one, which equals document + question as one prompt), and lists the
prompts where the two disagree: a different score, and separately how many generated texts differ.

Usage:
  python3 Experiments/sweeps/llamacpp_full_cache.py PROMPTS.jsonl [SWEEP.h5] \
      [--model models/SmolLM2-135M-Instruct.Q4_1.gguf] [--max-tokens N] [--threads 2] [--kv-type f16|f32]
"""
import argparse
import json
import sys
import time
from collections import defaultdict


def score(text, answers, rule):
    """RULER's scoring, as EvaluationTasks.ScoringRule: case-insensitive substring matches."""
    hits = [a.lower() in text.lower() for a in answers]
    if not answers:
        return 0.0
    return (1.0 if any(hits) else 0.0) if rule == "part" else sum(hits) / len(answers)


def full_cache_trials(path, kv_type):
    """{(task_index, length, prompt, question): (generated, score)} of the sweep's full-cache cell with
    keys and values stored as `kv_type`."""
    import h5py
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "kvc-sweep/2":
            sys.exit(f"error: {path} is not a kvc-sweep/2 results file (format {f.attrs.get('format')!r})")
        configurations = [json.loads(c) for c in f["cells/configuration"].asstr()[:]]
        placements = list(f["cells/question"].asstr()[:])
        # cells/kv_type is recorded since float16 storage exists; a file without it had float32 only.
        kv_types = list(f["cells/kv_type"].asstr()[:]) if "kv_type" in f["cells"] else ["f32"] * len(configurations)
        full = [i for i, c in enumerate(configurations) if c["budget"] in ({"rate": 1}, {"rate": 1.0})
                and kv_types[i] == kv_type]
        if not full:
            sys.exit(f"error: {path} has no full-cache cell (budget rate 1, kv_type {kv_type}) to compare with")
        aware = [i for i in full if placements[i] == "aware"]
        cell = (aware or full)[0]
        lengths = [int(x) for x in f["lengths"][:]]
        trials = {}
        for line in f["trials/record"].asstr()[:]:
            r = json.loads(line)
            k = r["key"]
            if k["cell"] == cell:
                trials[(k["task"], lengths[k["length"]], k["prompt"], k["question"])] = (r["generated"], r["score"])
        return trials, f"{placements[cell]}, {kv_type} KV"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompts")
    parser.add_argument("sweep", nargs="?")
    parser.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--max-tokens", type=int, help="answer length (default: each task's, from the prompts file)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kv-type", choices=["f16", "f32"], default="f16",
                        help="KV storage of the sweep's full-cache cell to compare with (llama.cpp's own cache is f16)")
    args = parser.parse_args()

    from llama_cpp import Llama  # imported late so --help works without it

    records = [json.loads(line) for line in open(args.prompts, encoding="utf-8") if line.strip()]
    if not records:
        sys.exit(f"error: {args.prompts} has no prompts")
    tokens_of = lambda r: args.max_tokens or r.get("max_new_tokens", 8)
    longest = max(r["tokens"] + tokens_of(r) for r in records)
    llm = Llama(model_path=args.model, n_ctx=longest + 16, n_threads=args.threads, n_batch=512, verbose=False, seed=0)

    kvc, placement = full_cache_trials(args.sweep, args.kv_type) if args.sweep else ({}, None)
    totals = defaultdict(lambda: {"n": 0, "llama": 0.0, "kvc": 0.0, "compared": 0, "same_text": 0, "same_score": 0})
    disagreements = []
    started = time.time()
    for r in records:
        out = llm.create_completion(r["text"], max_tokens=tokens_of(r), temperature=0.0, top_k=1, top_p=1.0,
                                    repeat_penalty=1.0)
        text = out["choices"][0]["text"]
        s = score(text, r["answers"], r.get("scoring", "all"))
        task = r["task"]
        t = totals[(task, r["length"])]
        t["n"] += 1
        t["llama"] += s
        mine = kvc.get((r.get("task_index", 0), r["length"], r["prompt"], r["question"]))
        if mine is not None:
            generated, kvc_score = mine
            t["compared"] += 1
            t["kvc"] += kvc_score
            t["same_text"] += generated == text
            if abs(kvc_score - s) < 1e-9:
                t["same_score"] += 1
            else:
                disagreements.append((task, r["length"], r["prompt"], r["question"], r["answers"], s, text, kvc_score, generated))
        print(f"{task} {r['length']} prompt {r['prompt']} question {r['question']} ({r['tokens']} tokens): "
              f"score {s:.2f} {text!r}" + ("" if mine is None else f"  kvc: {mine[1]:.2f} {mine[0]!r}"), file=sys.stderr)

    print(f"llama.cpp full cache, greedy, each task's answer length ({time.time() - started:.0f} s)"
          + (f"; kvc full cache = the rate-1 cell ({placement})" if kvc else "") + "\n")
    header = "| task | length | questions | llama.cpp mean score |"
    rule = "|:--|--:|--:|--:|"
    if kvc:
        header += " kvc mean score | same score | identical text |"
        rule += "--:|--:|--:|"
    print(header)
    print(rule)
    for (task, length), t in sorted(totals.items()):
        line = f"| {task} | {length} | {t['n']} | {t['llama'] / t['n']:.3f} |"
        if kvc:
            c = max(t["compared"], 1)
            line += f" {t['kvc'] / c:.3f} | {t['same_score']}/{t['compared']} | {t['same_text']}/{t['compared']} |"
        print(line)
    if kvc:
        print(f"\nPrompts where the scores disagree ({len(disagreements)}):\n")
        if disagreements:
            print("| task | length | prompt | question | expected | llama.cpp | kvc |")
            print("|:--|--:|--:|--:|:--|:--|:--|")
            for task, length, prompt, question, answers, s, text, ks, generated in disagreements:
                show = lambda x: json.dumps(x, ensure_ascii=False).replace("|", "\\|")
                print(f"| {task} | {length} | {prompt} | {question} | {show(answers)} | {s:.2f} {show(text)} | {ks:.2f} {show(generated)} |")


if __name__ == "__main__":
    main()
