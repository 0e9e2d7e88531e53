#!/usr/bin/env bash
# Prints the path of libnvrtc.so.* from python3's nvidia-cuda-nvrtc-cu12 wheel (the NVRTC the KVCCUDA
# tests compile kernels with), or nothing when the package is not installed. The Makefile passes it to
# the tests as KVC_NVRTC_LIBRARY.
python3 - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia.cuda_nvrtc as package
except ImportError:
    raise SystemExit(0)
# A namespace package has no __file__; its __path__ lists the directories.
for directory in list(getattr(package, "__path__", [])):
    found = sorted(p for p in glob.glob(os.path.join(directory, "lib", "libnvrtc.so.*")) if ".alt." not in p)
    if found:
        print(found[-1])
        break
PY
