#!/usr/bin/env bash
# Installs what the native kernels addon (kernels.c) needs to build: a C compiler and OpenBLAS
# (Debian: gcc, libc6-dev, libopenblas-dev), with apt-get, only when something is missing. Then
# `npm run build` (also run by `npm ci` / `npm install`) compiles dist/native/fernb_native.node.
# Without these, fernb still works: the wasm kernels are used, about 2.5× slower for training.
set -euo pipefail
say() { echo "[native-setup] $*"; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
have_blas() {
  for d in /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/aarch64-linux-gnu/openblas-pthread /usr/include/openblas; do
    [ -e "$d/cblas.h" ] && return 0
  done
  return 1
}
missing=()
command -v cc >/dev/null || missing+=(gcc libc6-dev)
have_blas || missing+=(libopenblas-dev)
if [ ${#missing[@]} -eq 0 ]; then
  say "C compiler and OpenBLAS present"
  exit 0
fi
say "installing ${missing[*]} with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "installed ${missing[*]}"
