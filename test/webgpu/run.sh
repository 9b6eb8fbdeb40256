#!/usr/bin/env bash
# `npm run test:webgpu`: the WebGPU correctness tests on Mesa's software Vulkan driver (lavapipe),
# unpacked by test/webgpu/setup-mesa.sh into ${FERNB_CACHE:-~/.cache/fernb}/mesa-25. Selects that
# driver for this run only (VK_ICD_FILENAMES, LD_LIBRARY_PATH) and forces the webgpu backend
# (FERNB_BACKEND=webgpu), which is the only way fernb uses a software adapter.
# Extra arguments go to `node --test` (e.g. --test-name-pattern=Grad-CAM).
set -euo pipefail
cd "$(dirname "$0")/../.."
MESA="${FERNB_CACHE:-$HOME/.cache/fernb}/mesa-25"
ICD="$MESA/usr/share/vulkan/icd.d/lvp_icd.json"
if [ ! -f "$MESA/.fernb-complete" ] || [ ! -f "$ICD" ]; then
  echo "test:webgpu: no software Vulkan driver in $MESA — run: bash test/webgpu/setup-mesa.sh" >&2
  exit 1
fi
export VK_ICD_FILENAMES="$ICD"
unset VK_DRIVER_FILES VK_ADD_DRIVER_FILES
export LD_LIBRARY_PATH="$MESA/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FERNB_BACKEND=webgpu
exec node --import tsx --test --test-reporter=spec "$@" test/webgpu/*.test.ts
