#!/usr/bin/env bash
# Installs what the fernb end-to-end test needs: Debian packages (chromium,
# ripgrep, the toolchain for code-server's native modules) and code-server
# 4.100.3 (the newest whose engines allow Node 20) into a cache folder outside
# the repo:
#
#   ${FERNB_CACHE:-$HOME/.cache/fernb}/code-server-4.100.3
#
# Idempotent and fast when everything is already there (a few seconds).
# Usage: bash test/e2e/install-code-server.sh
# Env:   FERNB_CACHE             cache root (default ~/.cache/fernb)
#        FERNB_SKIP_APT=1        do not touch Debian packages
#        FERNB_FORCE_REINSTALL=1 reinstall code-server even if it works
set -euo pipefail

CS_VERSION=4.100.3
RG_PKG_VERSION=1.15.11
RG_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
CACHE_ROOT="${FERNB_CACHE:-$HOME/.cache/fernb}"
CS_DIR="$CACHE_ROOT/code-server-$CS_VERSION"
CS_BIN="$CS_DIR/node_modules/.bin/code-server"
APT_PACKAGES=(build-essential python3 pkg-config libkrb5-dev libsecret-1-dev
  libx11-dev libxkbfile-dev ripgrep chromium)

T0=$(date +%s)
log() { echo "[install-code-server +$(( $(date +%s) - T0 ))s] $*"; }

# ---------------------------------------------------------------- apt ------
install_apt() {
  if [[ "${FERNB_SKIP_APT:-}" == 1 ]]; then log "FERNB_SKIP_APT=1: skipping Debian packages"; return; fi
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages already installed"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${APT_PACKAGES[@]}"
  log "Debian packages done"
}

# ---------------------------------------------------------- code-server ----
# Prints code-server's version line. code-server writes a default config and
# logs under XDG folders even for --version: keep them out of $HOME.
code_server_version() {
  local d out
  d=$(mktemp -d)
  out=$(XDG_CONFIG_HOME="$d/config" XDG_DATA_HOME="$d/data" XDG_CACHE_HOME="$d/cache" \
    "$CS_BIN" --version 2>&1) || { rm -rf "$d"; echo "$out"; return 1; }
  rm -rf "$d"
  echo "$out" | grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+ ' || { echo "$out"; return 1; }
}

code_server_works() {
  [[ -x "$CS_BIN" ]] || return 1
  [[ -f "$CS_DIR/.fernb-install-ok" ]] || return 1
  local v
  v=$(code_server_version) || return 1
  [[ "$v" == "$CS_VERSION"* ]]
}

install_code_server() {
  if [[ "${FERNB_FORCE_REINSTALL:-}" != 1 ]] && code_server_works; then
    log "code-server $CS_VERSION already installed in $CS_DIR"
    return
  fi
  log "installing code-server $CS_VERSION into $CS_DIR (takes a few minutes: native modules are compiled)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"

  # @vscode/ripgrep's postinstall downloads rg from GitHub (unreachable here);
  # it first looks for a cached archive in $TMPDIR: give it Debian's rg.
  local tmp="${TMPDIR:-/tmp}"
  local rg_cache="$tmp/vscode-ripgrep-cache-$RG_PKG_VERSION"
  if [[ ! -s "$rg_cache/$RG_ASSET" ]]; then
    local rg_bin
    rg_bin=$(command -v rg) || { echo "ripgrep (rg) is not installed" >&2; exit 1; }
    mkdir -p "$rg_cache"
    local stage
    stage=$(mktemp -d)
    cp "$rg_bin" "$stage/rg"
    tar -czf "$rg_cache/$RG_ASSET" -C "$stage" rg
    rm -rf "$stage"
    log "seeded ripgrep cache $rg_cache/$RG_ASSET from $rg_bin"
  fi

  # A private project so the install never touches the repo or global prefix.
  cat >"$CS_DIR/package.json" <<EOF
{ "name": "fernb-code-server", "private": true, "version": "0.0.0" }
EOF

  # node-gyp would download Node's headers from the internet; use the ones
  # shipped with this Node when they exist.
  local node_prefix
  node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  if [[ -f "$node_prefix/include/node/common.gypi" ]]; then
    export npm_config_nodedir="$node_prefix"
    log "node-gyp uses headers from $node_prefix/include/node"
  fi

  # npm 11 skips dependency install scripts unless they are approved
  # (allowScripts). code-server's postinstall runs nested `npm install`s in
  # lib/vscode and lib/vscode/extensions whose packages (node-pty, spdlog,
  # @parcel/watcher, kerberos, ripgrep, ...) all need their scripts, and those
  # nested projects have no allowScripts of their own. The env form of
  # --dangerously-allow-all-scripts reaches the nested npm processes too; it
  # is scoped to this one install of a pinned code-server version.
  # --allow-scripts/npm_config_allow_scripts cannot be used: npm rejects it
  # for project-scoped installs. npm_config_unsafe_perm is checked by
  # code-server's postinstall.sh when run as root.
  export npm_config_dangerously_allow_all_scripts=true
  export npm_config_unsafe_perm=true
  export npm_config_yes=true
  export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
  export npm_config_foreground_scripts=true

  local t=$(date +%s)
  (cd "$CS_DIR" && npm install --no-save --unsafe-perm "code-server@$CS_VERSION" 2>&1 | tee "$CS_DIR/install.log" | \
    grep -vE '^(npm (warn|notice)|gyp info|  (CC|CXX|LD|SOLINK|SOLINK_MODULE|COPY|TOUCH|ACTION)\(|make: |Removed |removed )' | tail -n 80) || true
  log "npm install finished in $(( $(date +%s) - t ))s (full log: $CS_DIR/install.log)"

  # Verify the pieces the postinstall should have produced.
  local vs="$CS_DIR/node_modules/code-server/lib/vscode"
  local missing=()
  [[ -e "$vs/node_modules.asar" ]] || missing+=("lib/vscode/node_modules.asar (postinstall did not run)")
  [[ -e "$vs/node_modules/node-pty/build/Release/pty.node" ]] || missing+=("node-pty native build")
  [[ -n "$(ls "$vs"/node_modules/@vscode/spdlog/build/Release/*.node 2>/dev/null)" ]] || missing+=("@vscode/spdlog native build")
  [[ -x "$vs/node_modules/@vscode/ripgrep/bin/rg" ]] || missing+=("@vscode/ripgrep bin/rg")
  if ((${#missing[@]})); then
    echo "code-server install is incomplete: ${missing[*]}" >&2
    echo "see $CS_DIR/install.log" >&2
    exit 1
  fi
  local v
  v=$(code_server_version) || { echo "code-server --version failed: $v" >&2; exit 1; }
  [[ "$v" == "$CS_VERSION"* ]] || { echo "unexpected code-server version: $v" >&2; exit 1; }
  touch "$CS_DIR/.fernb-install-ok"
  log "code-server $v installed"
}

install_apt
install_code_server
log "done (code-server: $CS_BIN)"
