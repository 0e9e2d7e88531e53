#!/usr/bin/env bash
# Runs the CUDA kernels on a GPU machine that has the NVIDIA driver and NVRTC but no Swift.
#
#   scripts/cuda-device-check.sh stage     # here: static release build of kvc-cuda into .device-run/
#   scripts/cuda-device-check.sh run OUT   # there: info, check (GPU vs CPU reference), bench → OUT/
#
# `stage` links the Swift runtime and Foundation statically (--static-swift-stdlib) and gzips the
# binary (the resource bundle with the .cu sources travels beside it), so the folder can be copied to
# a machine without Swift. `run` finds NVRTC where CUDA or its pip wheels put it when
# KVC_NVRTC_LIBRARY is unset.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=.device-run

case "${1:-}" in
stage)
  swift build -c release --product kvc-cuda --static-swift-stdlib
  bin=$(swift build -c release --show-bin-path)
  rm -rf "$stage" && mkdir -p "$stage"
  strip -o "$stage/kvc-cuda" "$bin/kvc-cuda"
  gzip -9 "$stage/kvc-cuda"
  cp -R "$bin"/KVCompressLab_KVCCUDA.resources "$stage/"
  du -sh "$stage"
  ;;
run)
  out=${2:?usage: $0 run OUTPUT_FOLDER}
  mkdir -p "$out"
  gunzip -kf "$stage/kvc-cuda.gz"
  chmod +x "$stage/kvc-cuda"
  if [[ -z "${KVC_NVRTC_LIBRARY:-}" ]]; then
    for candidate in /usr/local/cuda/lib64/libnvrtc.so* \
      $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null | xargs -n1 -I{} sh -c 'ls {}/nvidia/*/lib/libnvrtc.so* 2>/dev/null'); do
      [[ -e "$candidate" && "$candidate" != *builtins* && "$candidate" != *alt* ]] && { export KVC_NVRTC_LIBRARY=$candidate; break; }
    done
  fi
  echo "NVRTC: ${KVC_NVRTC_LIBRARY:-<library search>}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  status=0
  "$stage/kvc-cuda" info 2>&1 | tee "$out/info.txt" || status=1
  "$stage/kvc-cuda" check --json "$out/check.json" 2>&1 | tee "$out/check.txt" || status=1
  "$stage/kvc-cuda" bench --json "$out/bench.json" 2>&1 | tee "$out/bench.txt" || status=1
  exit $status
  ;;
*)
  echo "usage: $0 stage | run OUTPUT_FOLDER" >&2
  exit 2
  ;;
esac
