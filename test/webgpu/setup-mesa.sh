#!/usr/bin/env bash
# A software Vulkan driver for the WebGPU tests: Mesa 25 lavapipe (llvmpipe) from Debian
# bookworm-backports, unpacked into a cache folder outside the repo. Nothing of Mesa is installed
# on the system; the tests select it with VK_ICD_FILENAMES + LD_LIBRARY_PATH (test/webgpu/run.sh).
#
# Why not bookworm's own mesa-vulkan-drivers (22.3.6)? Dawn rejects that lavapipe (it lacks
# shader array dynamic indexing); 25.0.7 from bookworm-backports works.
#
# What it changes on the system: installs the Vulkan loader (libvulkan1) with apt-get if it is
# missing. The bookworm-backports package lists live in the cache folder (a private apt
# state), so /etc/apt is left as it is.
#
# Idempotent: when the driver is already unpacked it only checks and prints where it is.
# Env: FERNB_CACHE (default ~/.cache/fernb); the driver goes to $FERNB_CACHE/mesa-25.
set -euo pipefail

CACHE="${FERNB_CACHE:-$HOME/.cache/fernb}"
ROOT="$CACHE/mesa-25"
# Mesa 25 names it lvp_icd.json (older Mesa: lvp_icd.x86_64.json).
ICD="$ROOT/usr/share/vulkan/icd.d/lvp_icd.json"
LIBDIR="$ROOT/usr/lib/x86_64-linux-gnu"
STAMP="$ROOT/.fernb-complete"

say() { echo "[setup-mesa] $*"; }

if [ "$(uname -m)" != "x86_64" ]; then
  say "this script knows x86_64 only (found $(uname -m)); the WebGPU tests need a Vulkan driver here"
  exit 1
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
if ! dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q "install ok installed"; then
  say "installing the Vulkan loader (libvulkan1) with apt-get ..."
  as_root apt-get update -qq
  apt_updated=1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null
fi

if [ -f "$STAMP" ] && [ -f "$ICD" ]; then
  say "Mesa lavapipe already set up: $(cat "$STAMP")"
else
  say "fetching Mesa 25 lavapipe from bookworm-backports into $ROOT ..."
  APT="$CACHE/apt-backports"
  rm -rf "$ROOT" "$APT/debs"
  mkdir -p "$APT/lists/partial" "$APT/debs/partial" "$APT/cache" "$ROOT"
  # The system's sources plus bookworm-backports; lists and downloads stay in the cache folder.
  printf 'deb http://deb.debian.org/debian bookworm-backports main\n' >"$APT/backports.list"
  opts=(
    -o "Dir::Etc::SourceList=$APT/backports.list"
    -o "Dir::State::Lists=$APT/lists"
    -o "Dir::Cache=$APT/cache"
    -o "Dir::Cache::archives=$APT/debs"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
  )
  as_root apt-get "${opts[@]}" update -qq
  # Resolve mesa-vulkan-drivers 25 from backports against what is installed here, and download
  # (not install) it with every dependency that is missing or too old: libgallium, libdrm, LLVM ...
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y -qq --download-only \
    --no-install-recommends -t bookworm-backports mesa-vulkan-drivers >/dev/null
  shopt -s nullglob
  debs=("$APT"/debs/*.deb)
  if [ ${#debs[@]} -eq 0 ]; then
    say "apt-get downloaded nothing"
    exit 1
  fi
  for deb in "${debs[@]}"; do dpkg -x "$deb" "$ROOT"; done
  if [ ! -f "$ICD" ]; then
    say "no lavapipe ICD at $ICD after unpacking ${#debs[@]} packages"
    exit 1
  fi
  version=$(dpkg-deb -f "$(ls "$APT"/debs/mesa-vulkan-drivers_*.deb)" Version)
  # The ICD names its library by absolute path (/usr/lib/...); point it at the unpacked copy.
  lib=$(ls "$LIBDIR"/libvulkan_lvp.so)
  sed -i "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$lib\"|" "$ICD"
  echo "mesa-vulkan-drivers $version, ${#debs[@]} packages: $(for d in "${debs[@]}"; do basename "$d" .deb; done | cut -d_ -f1 | tr '\n' ' ')" >"$STAMP"
  rm -rf "$APT/debs" "$APT/cache"
  say "done: $(cat "$STAMP")"
fi

say "VK_ICD_FILENAMES=$ICD"
say "LD_LIBRARY_PATH=$LIBDIR"
