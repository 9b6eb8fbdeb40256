#!/usr/bin/env bash
# Installs what the native kernels addon (kernels.c) needs to build: a C compiler and OpenBLAS
# (Debian: gcc, libc6-dev, libopenblas-dev), and oneDNN for its convolutions (libdnnl-dev: about
# 1.35× less convolution time than OpenBLAS alone; optional, skipped where apt has no such package),
# with apt-get, only when something is missing. Then `npm run build` (also run by `npm ci` /
# `npm install`) compiles dist/native/fernb_native.node.
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
have_dnnl() {
  for d in /usr/include /usr/local/include; do
    [ -e "$d/oneapi/dnnl/dnnl.h" ] && return 0
  done
  return 1
}
install() {
  as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
missing=()
command -v cc >/dev/null || missing+=(gcc libc6-dev)
have_blas || missing+=(libopenblas-dev)
export DEBIAN_FRONTEND=noninteractive
updated=0
if [ ${#missing[@]} -eq 0 ]; then
  say "C compiler and OpenBLAS present"
else
  say "installing ${missing[*]} with apt-get ..."
  if ! install "${missing[@]}"; then
    as_root apt-get update -qq
    updated=1
    install "${missing[@]}"
  fi
  say "installed ${missing[*]}"
fi
if have_dnnl; then
  say "oneDNN present"
else
  say "installing libdnnl-dev (oneDNN) with apt-get ..."
  if install libdnnl-dev || { [ $updated = 0 ] && as_root apt-get update -qq && install libdnnl-dev; }; then
    say "installed libdnnl-dev"
  else
    say "libdnnl-dev is not available here: the convolutions will use OpenBLAS (about 1.35x slower)"
  fi
fi
