#!/usr/bin/env bash
# Runs the Autobahn|Testsuite conformance suite against our server or client,
# through the shared harness in ../shared/tools/autobahn (see its README.md).
# The testsuite itself is NEVER part of this repo: it lives outside, in
# $AUTOBAHN_SRC (default /tmp/ab/src).
#
# usage: scripts/autobahn.sh [server|client] [CASES] [EXCLUDE]
#   server (default)  start `npm run -s testee -- --port $PORT` (an echo server on
#                     127.0.0.1:$PORT) and run wstest -m fuzzingclient against it
#   client            start wstest -m fuzzingserver on 127.0.0.1:$PORT and run
#                     `npm run -s autobahn-client -- {URL}` (driver protocol: README)
#   CASES / EXCLUDE   comma-separated case globs; default CASES='*' EXCLUDE='12.*,13.*'
#                     (12/13 = permessage-deflate, ~10 min; pass EXCLUDE='' for all)
# env:
#   CASES, EXCLUDE    same as the arguments (arguments win)
#   PORT              default 9001
#   AGENT             agent name in the report, default ktor-ws-ts
#   OUT               report/log dir, default /tmp/ab/out (report: $OUT/server or $OUT/client)
#   TESTEE_CMD        server command instead of npm run testee; {PORT} is replaced
#   CLIENT_CMD        client command instead of npm run autobahn-client; {URL}/{AGENT} replaced
#   AUTOBAHN_SRC      extracted testsuite (default /tmp/ab/src)
#   AUTOBAHN_TOOLS    harness dir (default ../shared/tools/autobahn beside the checkout)
#   SUITE_TIMEOUT, CLIENT_TIMEOUT, STARTUP_TIMEOUT: passed through (see the harness README)
# exit: 0 no failure, 1 failures, 2 no report, 3 setup missing, 64 usage
#
# Validate the harness with the ws reference testees:
#   TESTEE_CMD='node /work/shared/tools/autobahn/examples/ws-echo-server.js {PORT}' AGENT=ws scripts/autobahn.sh server '1.*,2.*'
#   CLIENT_CMD='node /work/shared/tools/autobahn/examples/ws-client-driver.js {URL}' AGENT=ws scripts/autobahn.sh client '1.*,2.*'
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${AUTOBAHN_TOOLS:-$ROOT/../shared/tools/autobahn}"
export AUTOBAHN_SRC="${AUTOBAHN_SRC:-/tmp/ab/src}"

MODE="${1:-server}"
case "$MODE" in
  server | client) ;;
  -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
  *) sed -n '2,29p' "$0" >&2; exit 64 ;;
esac
CASES="${2-${CASES-*}}"
EXCLUDE="${3-${EXCLUDE-12.*,13.*}}"
export PORT="${PORT:-9001}"
export AGENT="${AGENT:-ktor-ws-ts}"
export OUT="${OUT:-/tmp/ab/out}"

if [[ ! -x "$TOOLS/run-server-suite.sh" ]]; then
  echo "[autobahn] ERROR: harness not found at AUTOBAHN_TOOLS=$TOOLS (expected run-server-suite.sh there)" >&2
  exit 3
fi

if [[ ! -f "$AUTOBAHN_SRC/autobahntestsuite/autobahntestsuite/wstest.py" ]]; then
  cat >&2 <<EOF
[autobahn] ERROR: the Autobahn|Testsuite source is not at AUTOBAHN_SRC=$AUTOBAHN_SRC
  It is not part of this repo (never commit it). To get it, in an agent session:
    1. fetch tool:  fetch github:ricardo-valero/autobahn-testsuite
       -> prints the mirror's git dir, e.g. /work/.mirror/ricardo-valero+autobahn-testsuite/repo
    2. mkdir -p $AUTOBAHN_SRC && git --git-dir=/work/.mirror/ricardo-valero+autobahn-testsuite/repo archive HEAD | tar -x -C $AUTOBAHN_SRC
    3. $TOOLS/setup.sh     (installs Debian python3-autobahn, twisted, ...; checks the source)
EOF
  exit 3
fi

# The suite runs on Debian's /usr/bin/python3 stack (not a pyenv python3 on PATH).
if ! /usr/bin/python3 -c 'import autobahn, twisted' >/dev/null 2>&1; then
  echo "[autobahn] Debian python3-autobahn/twisted missing: running $TOOLS/setup.sh"
  "$TOOLS/setup.sh"
fi

cd "$ROOT"
# Lets CommonJS testees outside the repo (the harness's ws examples) resolve our devDependencies.
export NODE_PATH="$ROOT/node_modules${NODE_PATH:+:$NODE_PATH}"

# `npm run -s` hides "Missing script", so check for the npm script up front.
need_script() {
  if ! node -e 'process.exit(require(process.argv[1]).scripts?.[process.argv[2]] ? 0 : 1)' "$ROOT/package.json" "$1"; then
    echo "[autobahn] ERROR: package.json has no \"$1\" script; add it or set $2 (see --help)" >&2
    exit 3
  fi
}
if [[ $MODE == server && -z "${TESTEE_CMD:-}" ]]; then need_script testee TESTEE_CMD; fi
if [[ $MODE == client && -z "${CLIENT_CMD:-}" ]]; then need_script autobahn-client CLIENT_CMD; fi

echo "[autobahn] mode=$MODE cases=[$CASES] exclude=[$EXCLUDE] port=$PORT agent=$AGENT out=$OUT"
T0=$SECONDS
rc=0
if [[ $MODE == server ]]; then
  CMD='npm run -s testee -- --port {PORT}' # (not ${TESTEE_CMD:-...{PORT}}: its '}' ends the expansion)
  [[ -n "${TESTEE_CMD:-}" ]] && CMD=$TESTEE_CMD
  CMD="${CMD//\{PORT\}/$PORT}"
  "$TOOLS/run-server-suite.sh" "$CMD" "$PORT" "$CASES" "$EXCLUDE" || rc=$?
else
  CMD='npm run -s autobahn-client -- {URL}'
  [[ -n "${CLIENT_CMD:-}" ]] && CMD=$CLIENT_CMD
  "$TOOLS/run-client-suite.sh" "$CMD" "$CASES" "$EXCLUDE" || rc=$?
fi
echo "[autobahn] $MODE suite exit $rc after $((SECONDS - T0)) s (report: $OUT/$MODE/index.html)"
exit "$rc"
