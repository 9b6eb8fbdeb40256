#!/usr/bin/env bash
# bench/gpu.sh: fernb's bench on a real GPU, the WebGPU rung (Dawn over Vulkan), on a Linux
# machine with an NVIDIA GPU. Needs no network: run it in a checkout where `npm ci` has run
# (node_modules with the optional `webgpu` and `@tensorflow/tfjs-backend-webgpu` packages).
#
#   bash bench/gpu.sh                     # prints the bench's JSON line as its last line
#   BENCH_STEM=stride2 bash bench/gpu.sh  # other bench settings pass through (BENCH_ROUNDS, BENCH_STEPS)
#
# What it checks first, saying what is missing:
#   - the Vulkan loader, libvulkan.so.1 (Debian/Ubuntu: libvulkan1);
#   - the NVIDIA Vulkan driver (ICD): an ICD manifest naming libGLX_nvidia (nvidia_icd.json), which
#     the NVIDIA driver installs (Debian: nvidia-vulkan-icd; Ubuntu: libnvidia-gl-<version>; in a
#     container the NVIDIA container toolkit mounts it only when NVIDIA_DRIVER_CAPABILITIES includes
#     "graphics", e.g. NVIDIA_DRIVER_CAPABILITIES=all);
#   - that Dawn then finds a hardware adapter (fernb's own rule: a software one such as Mesa's
#     llvmpipe never counts).
# Without all of these it stops with "no hardware Vulkan adapter: ..." and exit code 1.
# Then it runs `npm run bench` with FERNB_BACKEND=webgpu (beside PyTorch on the CPU when
# python3 has torch; otherwise BENCH_TORCH=0) and checks that the line names the hardware adapter
# (webgpu_adapter, webgpu_train_img_s, webgpu_predict_img_s). Nothing in CI depends on it.
set -uo pipefail
cd "$(dirname "$0")/.."
say() { echo "[gpu.sh] $*" >&2; }
missing=()
no_adapter() {
  say "no hardware Vulkan adapter: $*"
  exit 1
}

[ "$(uname -s)" = Linux ] || no_adapter "this script is for Linux (this is $(uname -s))"
command -v node >/dev/null || { say "node is not installed (Node.js 20 or newer)"; exit 1; }

# The GPU and its driver (for the record; the Vulkan checks below decide).
if command -v nvidia-smi >/dev/null; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
  say "NVIDIA GPU: ${gpu:-nvidia-smi found no GPU}"
elif [ -r /proc/driver/nvidia/version ]; then
  say "NVIDIA driver: $(head -1 /proc/driver/nvidia/version)"
else
  say "warning: no NVIDIA driver found (no nvidia-smi, no /proc/driver/nvidia/version)"
fi

# The Vulkan loader.
have_lib() { # name: in the linker cache or on LD_LIBRARY_PATH
  ldconfig -p 2>/dev/null | grep -qE "^[[:space:]]*$1 " && return 0
  local IFS=:
  for d in ${LD_LIBRARY_PATH:-}; do [ -n "$d" ] && [ -e "$d/$1" ] && return 0; done
  return 1
}
have_lib libvulkan.so.1 || missing+=("the Vulkan loader libvulkan.so.1 is missing (Debian/Ubuntu package libvulkan1)")

# The NVIDIA ICD: the manifests the Vulkan loader reads (VK_DRIVER_FILES / VK_ICD_FILENAMES
# replace the search; otherwise the icd.d folders under the XDG config and data folders).
manifests=()
explicit="${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}"
if [ -n "$explicit" ]; then
  IFS=: read -r -a manifests <<<"$explicit"
  where="VK_DRIVER_FILES/VK_ICD_FILENAMES ($explicit)"
else
  IFS=: read -r -a cfg <<<"${XDG_CONFIG_HOME:-$HOME/.config}:${XDG_CONFIG_DIRS:-/etc/xdg}:/etc:${XDG_DATA_HOME:-$HOME/.local/share}:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
  for d in "${cfg[@]}"; do
    [ -n "$d" ] || continue
    for f in "$d"/vulkan/icd.d/*.json; do [ -e "$f" ] && manifests+=("$f"); done
  done
  where="vulkan/icd.d in /etc, /usr/share, /usr/local/share and the XDG folders"
fi
nvidia_icd=""
for f in "${manifests[@]}"; do
  [ -f "$f" ] && grep -q -i "nvidia" "$f" && { nvidia_icd="$f"; break; }
done
if [ -z "$nvidia_icd" ]; then
  missing+=("no NVIDIA Vulkan driver (ICD manifest naming libGLX_nvidia, e.g. nvidia_icd.json) in $where: it comes with the NVIDIA driver (Debian: nvidia-vulkan-icd; Ubuntu: libnvidia-gl-<version>; in a container: NVIDIA_DRIVER_CAPABILITIES=all, or one that includes graphics)")
else
  lib=$(sed -n 's/.*"library_path" *: *"\([^"]*\)".*/\1/p' "$nvidia_icd" | head -1)
  say "NVIDIA Vulkan ICD: $nvidia_icd (${lib:-no library_path})"
  if [ -n "$lib" ] && [ "${lib#/}" = "$lib" ] && ! have_lib "$lib"; then
    missing+=("the NVIDIA ICD $nvidia_icd names $lib, which the linker does not find (the driver's GL/Vulkan libraries are not installed or not mounted)")
  fi
fi

# fernb's packages.
arch=$(node -p 'process.arch')
[ -e "node_modules/webgpu/dist/linux-$arch/dawn.node" ] || missing+=("Dawn (node_modules/webgpu/dist/linux-$arch/dawn.node) is not installed: run npm ci here while a network is reachable")
[ -e node_modules/@tensorflow/tfjs-backend-webgpu/package.json ] || missing+=("@tensorflow/tfjs-backend-webgpu is not installed: run npm ci here while a network is reachable")

if [ ${#missing[@]} -gt 0 ]; then
  for m in "${missing[@]}"; do say "missing: $m"; done
  no_adapter "${#missing[@]} thing(s) missing (above)"
fi

# Dawn's own answer, by fernb's adapter rule (hardware only).
probe=$(node --import tsx -e '
  import("./kernel/fer/backends/webgpu").then(async (m) => {
    const { initWebGpuBackend, adapterLabel } = m.initWebGpuBackend ? m : m.default;
    try {
      const { adapter } = await initWebGpuBackend({ allowSoftware: false });
      console.log("ok " + adapterLabel(adapter));
      process.exit(0);
    } catch (e) {
      console.log("no " + String((e && e.message) || e).split("\n")[0]);
      process.exit(0);
    }
  });' 2>&1 | tail -1)
case "$probe" in
  "ok "*) say "WebGPU adapter: ${probe#ok }" ;;
  "no "*) no_adapter "Dawn says: ${probe#no }" ;;
  *) no_adapter "the WebGPU probe failed: $probe" ;;
esac

if python3 -c "import torch" >/dev/null 2>&1; then
  torch=1
else
  torch=0
  say "PyTorch is not installed: the line has no torch_* fields (BENCH_TORCH=0)"
fi
say "running the bench on the WebGPU rung (FERNB_BACKEND=webgpu) ..."
out=$(FERNB_BACKEND=webgpu BENCH_TORCH=$torch node --import tsx bench/bench.ts)
status=$?
line=$(printf '%s\n' "$out" | tail -1)
[ $status -eq 0 ] || { say "the bench failed (exit code $status)"; exit $status; }
if ! printf '%s' "$line" | grep -q '"webgpu_adapter"'; then
  say "the bench's line names no hardware WebGPU adapter: $line"
  no_adapter "the bench did not run on one"
fi
echo "$line"
