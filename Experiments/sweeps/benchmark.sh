#!/usr/bin/env bash
# Sweep wall time against the work it did: runs Experiments/sweeps/benchmark.yaml (24 configurations
# of 3 documents) and splits the wall time into observed prefills, compressions, decoding and the
# engine's own overhead (wall - all of those: forks, measurements, journal fsyncs, HDF5 rewrites),
# from the per-trial timings of `kvc sweep report --timings`. Also prints what the same sweep would
# cost with one prefill per configuration (24 × the mean prefill per document).
# Usage: THREADS=2 Experiments/sweeps/benchmark.sh   (release build: make release)
set -euo pipefail
cd "$(dirname "$0")/../.."
kvc=${KVC:-.build/release/kvc}
threads=${THREADS:-2}
work=$(mktemp -d /tmp/kvc-sweep-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$(date +%s.%N)
"$kvc" sweep --spec Experiments/sweeps/benchmark.yaml --out "$work/bench.h5" --threads "$threads" > /dev/null 2> "$work/log"
end=$(date +%s.%N)
"$kvc" sweep report "$work/bench.h5" --format csv --timings > "$work/trials.csv"
python3 - "$work/trials.csv" "$start" "$end" "$threads" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
wall = float(sys.argv[3]) - float(sys.argv[2])
total = lambda k: sum(float(r[k]) for r in rows)
prefill, compress, qprefill, decode = (total(k) for k in ("prefill_seconds", "compress_seconds", "question_prefill_seconds", "decode_seconds"))
prefills = sum(1 for r in rows if float(r["prefill_seconds"]) > 0)
documents = len({(r["task"], r["target_tokens"], r["prompt"]) for r in rows})
cells = len({r["cell"] for r in rows})
work = prefill + compress + qprefill + decode
print(f"{len(rows)} trials ({documents} documents x {cells} configurations), --threads {sys.argv[4]}")
print(f"wall                 {wall:8.2f} s (process, model load included)")
print(f"observed prefills    {prefill:8.2f} s  ({prefills} prefills, {prefill / max(1, prefills):.2f} s each)")
print(f"compressions         {compress:8.2f} s  ({compress / len(rows) * 1000:.1f} ms each)")
print(f"question prefills    {qprefill:8.2f} s")
print(f"decoding             {decode:8.2f} s  ({decode / len(rows) * 1000:.1f} ms per trial)")
print(f"engine and load      {wall - work:8.2f} s  (wall - the above)")
print(f"one prefill per configuration would add {(cells * documents - prefills) * prefill / max(1, prefills):.2f} s of prefill")
PY
