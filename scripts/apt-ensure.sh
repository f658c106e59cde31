#!/usr/bin/env bash
# Usage: scripts/apt-ensure.sh BINARY PACKAGE...
# Installs Debian PACKAGEs when BINARY is not on PATH (root + apt-get only; runs
# `apt-get update` first when the package lists are missing or stale). Exit 0 when BINARY is
# there afterwards; otherwise says what to install and exits 1.
set -u
binary=$1; shift
command -v "$binary" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  echo "markwatch: installing $* (for $binary)..." >&2
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || \
    { apt-get update -qq >/dev/null 2>&1 && \
      apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
fi
command -v "$binary" >/dev/null 2>&1 && exit 0
echo "markwatch: $binary not found; install the package(s): $*" >&2
exit 1
