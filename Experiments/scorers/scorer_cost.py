#!/usr/bin/env python3
"""What each compression method costs on top of the prefill: `kvc compress --report-json` on prose of
about 1k and 2k tokens (the bundled Python-manual extract), per preset: prefill seconds, scoring seconds
(a scorer's inputs and scores, KVzip's reconstruction pass included), extra tokens prefilled only to
score, scheduling and move seconds; then milliseconds per 1k prompt tokens. Writes
results/scorer-cost.json and prints a markdown table (with the CPU model).

Usage: python3 Experiments/scorers/scorer_cost.py [--kvc .build/release/kvc] [--lengths 1000 2000]
"""
import argparse, json, os, platform, subprocess, sys, tempfile

METHODS = ["kvcompress", "snapkv", "h2o", "tova", "key-norm", "keydiff", "lagkv", "expected-attention", "critical-kv",
           "defensive-kv", "kvzip"]


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def document(words):
    corpus = open("Sources/EvaluationTasks/Resources/python-reference-prose.txt", encoding="utf-8").read().split()
    return " ".join(corpus[:words])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kvc", default=".build/release/kvc")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 2000], help="approximate prompt tokens")
    parser.add_argument("--out", default="results/scorer-cost.json")
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for length in args.lengths:
            prompt = os.path.join(scratch, f"doc{length}.txt")
            with open(prompt, "w", encoding="utf-8") as f:
                f.write(document(int(length * 0.72)))  # ~1.39 tokens per word on SmolLM2's vocabulary
            for method in METHODS:
                report = os.path.join(scratch, f"{method}-{length}.json")
                run = subprocess.run([args.kvc, "compress", "--prompt-file", prompt, "--compression", method, "--rate", "8",
                                      "--report-json", report, "--threads", "2"], capture_output=True, text=True)
                if run.returncode != 0:
                    sys.exit(f"{method} at {length}: kvc failed:\n{run.stderr}")
                r = json.load(open(report))
                tokens = r["report"]["sequence_length"]
                rows.append({"method": method, "prompt_tokens": tokens, "prefill_seconds": r["prefill_seconds"],
                             "metric_seconds": r["statistics"]["metric_seconds"], "scoring_seconds": r["report"]["scoring_seconds"],
                             "scoring_extra_tokens": r["report"]["scoring_extra_tokens"],
                             "scheduling_seconds": r["report"]["scheduling_seconds"], "move_seconds": r["report"]["move_seconds"]})
                print(f"{method:20s} {tokens:5d} tokens: prefill {r['prefill_seconds']:.2f} s, scoring {r['report']['scoring_seconds']:.3f} s",
                      file=sys.stderr)
    json.dump({"cpu": cpu_model(), "rate": 8, "runs": rows}, open(args.out, "w"), indent=1)
    print(f"CPU: {cpu_model()}; rate 8; `kvc compress` release build, 2 threads; ms per 1k prompt tokens\n")
    print("| method | prompt tokens | prefill ms/1k | metric ms/1k | scoring ms/1k | extra tokens | schedule + moves ms/1k |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        k = r["prompt_tokens"] / 1000
        print(f"| {r['method']} | {r['prompt_tokens']} | {1000 * r['prefill_seconds'] / k:.0f} | {1000 * r['metric_seconds'] / k:.1f} | "
              f"{1000 * r['scoring_seconds'] / k:.1f} | {r['scoring_extra_tokens']} | {1000 * (r['scheduling_seconds'] + r['move_seconds']) / k:.1f} |")


if __name__ == "__main__":
    main()
