#!/usr/bin/env bash
# Install the Ceph packages the S3 tests run a one-node RADOS Gateway from.
#
# Idempotent: does nothing when ceph-mon, ceph-osd, radosgw and radosgw-admin are already on
# PATH. Needs root and apt-get (Debian/Ubuntu); fails with a clear message otherwise.
# Usage: scripts/install-ceph.sh        (exit 0 = binaries present)
set -euo pipefail

PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)
BINARIES=(ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool)

missing=()
for bin in "${BINARIES[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-ceph: Ceph binaries already installed ($(ceph-mon --version 2>/dev/null | head -n1))"
    exit 0
fi
echo "install-ceph: missing ${missing[*]}; installing ${PACKAGES[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-ceph: ERROR: apt-get not found; install ${PACKAGES[*]} with this system's" \
         "package manager, or run the S3 tests against moto only" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-ceph: ERROR: must run as root to apt-get install ${PACKAGES[*]}" \
         "(try: sudo $0)" >&2
    exit 2
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are empty or when a first install attempt fails.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ]; then
    apt-get update
fi
if ! apt-get install -y --no-install-recommends "${PACKAGES[@]}"; then
    echo "install-ceph: first install attempt failed; running apt-get update and retrying" >&2
    apt-get update
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

for bin in "${BINARIES[@]}"; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "install-ceph: ERROR: $bin still missing after installing ${PACKAGES[*]}" >&2
        exit 1
    fi
done
echo "install-ceph: installed $(ceph-mon --version 2>/dev/null | head -n1)"
