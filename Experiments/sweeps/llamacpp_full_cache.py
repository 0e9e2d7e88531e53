#!/usr/bin/env python3
"""Full-cache reference for the sweeps: runs the exact prompts of a sweep (written by
`kvc sweep --spec SPEC --write-prompts prompts.jsonl`) through llama.cpp
(llama-cpp-python) with greedy decoding of the same number of tokens, and scores them the same way
(correct when the 5 digits appear in the continuation). With the sweep's HDF5 file it also counts how
often llama.cpp and `kvc` at rate 1 (no compression) generated the same text.

Usage:
  python3 Experiments/sweeps/llamacpp_full_cache.py PROMPTS.jsonl [SWEEP.h5] \
      [--model models/SmolLM2-135M-Instruct.Q4_1.gguf] [--max-tokens 8] [--threads 2]
"""
import argparse
import json
import sys
import time
from collections import defaultdict


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompts")
    parser.add_argument("sweep", nargs="?")
    parser.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from llama_cpp import Llama  # imported late so --help works without it

    records = [json.loads(line) for line in open(args.prompts, encoding="utf-8") if line.strip()]
    longest = max(r["tokens"] for r in records)
    llm = Llama(model_path=args.model, n_ctx=longest + args.max_tokens + 16, n_threads=args.threads,
                n_batch=512, verbose=False, seed=0)

    kvc_rate1 = {}
    if args.sweep:
        import h5py
        with h5py.File(args.sweep, "r") as f:
            # The first full-cache cell (budget rate 1) with the question placed before compression.
            configurations = [json.loads(c) for c in f["cells/configuration"].asstr()[:]]
            placements = list(f["cells/question"].asstr()[:])
            full = [i for i, c in enumerate(configurations) if c["budget"] == {"rate": 1.0} and placements[i] == "aware"]
            lengths = f["lengths"][:]
            for line in f["trials/record"].asstr()[:]:
                r = json.loads(line)
                k = r["key"]
                if full and k["cell"] == full[0] and k["task"] == 0:
                    kvc_rate1[(int(lengths[k["length"]]), int(k["prompt"]))] = r["generated"]

    correct, total, same = defaultdict(int), defaultdict(int), defaultdict(int)
    started = time.time()
    for r in records:
        out = llm.create_completion(r["text"], max_tokens=args.max_tokens, temperature=0.0, top_k=1, top_p=1.0,
                                    repeat_penalty=1.0)
        text = out["choices"][0]["text"]
        ok = all(a.lower() in text.lower() for a in r["answers"])
        key = (r["length"], r["prompt"])
        correct[r["length"]] += ok
        total[r["length"]] += 1
        mine = kvc_rate1.get(key)
        if mine is not None:
            same[r["length"]] += mine == text
        print(f"length {r['length']} prompt {r['prompt']:>2} ({r['tokens']} tokens): "
              f"{'ok ' if ok else 'MISS'} {text!r}" + ("" if mine is None else f"  kvc: {mine!r}"), file=sys.stderr)
    print(f"llama.cpp full cache, greedy {args.max_tokens} tokens ({time.time() - started:.0f} s):")
    for length in sorted(total):
        line = f"  length {length}: {correct[length]}/{total[length]} correct"
        if kvc_rate1:
            line += f"; identical text to kvc rate 1 in {same[length]}/{total[length]}"
        print(line)


if __name__ == "__main__":
    main()
