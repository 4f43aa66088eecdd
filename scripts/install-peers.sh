#!/usr/bin/env bash
# Installs the real WebSocket peers the interop tests talk to (Debian 12):
#   chromium            -> /usr/bin/chromium          (tests/support/chromium.ts)
#   python3-websockets  -> for /usr/bin/python3       (tests/support/python-peer.ts)
#   python3-h2          -> for /usr/bin/python3       (the HTTP/2 peer tests)
#   redis-server        -> /usr/bin/redis-server      (the Redis broker tests start their own)
#   openssl             -> /usr/bin/openssl           (self-signed certificates for the TLS and HTTP/2 tests, TLS=1 npm start)
# Called by .ci/run before `npm ci`. Idempotent: when both are present it only
# checks and exits (well under a second). As root it runs `apt-get update` once
# and installs what is missing; as non-root it warns and continues -- the peer
# tests then FAIL (they never skip), so a missing peer is always visible.
#
# Note: /usr/bin/python3 is used on purpose. A `python3` on PATH may be a pyenv
# shim (another interpreter) that does not see Debian's python3-websockets.
set -euo pipefail

PY=/usr/bin/python3
missing=()

if ! command -v chromium >/dev/null 2>&1 || [[ ! -x /usr/bin/chromium ]]; then
  missing+=(chromium)
fi
if [[ ! -x $PY ]] || ! "$PY" -c 'import websockets' >/dev/null 2>&1; then
  missing+=(python3-websockets)
fi
if [[ ! -x $PY ]] || ! "$PY" -c 'import h2' >/dev/null 2>&1; then
  missing+=(python3-h2)
fi
if [[ ! -x /usr/bin/redis-server ]]; then
  missing+=(redis-server)
fi
if ! command -v openssl >/dev/null 2>&1; then
  missing+=(openssl)
fi

if ((${#missing[@]} == 0)); then
  echo "[install-peers] ok: $(/usr/bin/chromium --version 2>/dev/null | head -1);" \
    "python3-websockets $("$PY" -c 'import websockets; print(websockets.__version__)');" \
    "python3-h2 $("$PY" -c 'import h2; print(h2.__version__)'); $(/usr/bin/redis-server --version | cut -d' ' -f1-3)"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  cat >&2 <<EOF
[install-peers] WARNING: missing peer package(s): ${missing[*]}
[install-peers]          not root, so not installing them. Install with:
[install-peers]            sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}
[install-peers]          Until then the interop tests under tests/peers/ will FAIL (they do not skip).
EOF
  exit 0
fi

echo "[install-peers] installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Verify, loudly.
/usr/bin/chromium --version
"$PY" -c 'import websockets; print("python3-websockets", websockets.__version__)'
"$PY" -c 'import h2; print("python3-h2", h2.__version__)'
/usr/bin/redis-server --version
