#!/usr/bin/env bash
# The quickstart demo (tools/quickstart.sh ends here): a 3-node cluster with rf=3 on 127.0.0.1,
# a write through n1 read through n2, n3 killed with kill -9 while reads and writes go on, n3
# restarted and shown caught up, a summary. Stops every node it started, whatever happens.
# Usage: tools/demo.sh   (CAUSEWAY_BIN overrides the binary, default build/bin/causeway)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CAUSEWAY_BIN:-$PWD/build/bin/causeway}
[ -x "$BIN" ] || { echo "demo: no binary at $BIN; build first (tools/quickstart.sh)"; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/causeway-demo-XXXXXX")
cleanup() {
  "$BIN" local down --dir "$DIR" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
cw() { # prints the command as a user would type it, then runs it
  echo "\$ causeway $*"
  "$BIN" "$@"
}
# retry SECONDS CMD...: runs CMD until it succeeds, for at most SECONDS.
retry() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

step "Start 3 nodes with rf=3 (causeway local up)"
out=$("$BIN" local up --nodes 3 --rf 3 --dir "$DIR")
echo "$out"
IFS=, read -r N1 N2 N3 <<<"$(sed -n 's/^endpoints: //p' <<<"$out")"
cw status --endpoints "$N1,$N2,$N3"

step "Write through n1 (W=all), read through n2 (R=one)"
cw put greeting "hello, causeway" --endpoints "$N1" --w all
cw get greeting --endpoints "$N2" --r one

step "Kill n3 with kill -9"
pid=$("$BIN" local status --dir "$DIR" --json | python3 -c \
  'import json,sys; print([n["pid"] for n in json.load(sys.stdin)["nodes"] if n["name"]=="n3"][0])')
echo "\$ kill -9 $pid"
kill -9 "$pid"
retry 10 bash -c "! kill -0 $pid"

step "Reads and writes still work with one node down (W=2, R=1)"
cw put greeting "hello again" --endpoints "$N1" --w 2
written=0
for i in $(seq 1 20); do
  "$BIN" put "key$i" "value$i" --endpoints "$N2,$N1" --w 2 >/dev/null && written=$((written + 1))
done
echo "wrote key1..key20 through n2: $written of 20 acknowledged by 2 replicas"
cw get greeting --endpoints "$N2" --r one

step "Restart n3 with the same flags (causeway local restart)"
cw local restart --dir "$DIR" --node n3
# Until n3 has heard its peers' heartbeats it counts them down (restart safety): wait for that.
retry 20 "$BIN" get greeting --endpoints "$N3" --r all

step "n3 caught up: read with R=all (repairs stale replicas), then every replica's version"
cw get greeting --endpoints "$N3" --r all
caught=0
for i in $(seq 1 20); do
  [ "$("$BIN" get "key$i" --endpoints "$N3" --r all 2>/dev/null)" = "value$i" ] && caught=$((caught + 1))
done
cw explain greeting --endpoints "$N3"
agree=$("$BIN" explain greeting --endpoints "$N3" --json | python3 -c \
  'import json,sys; r=json.load(sys.stdin)["replicas"]; print(len({x.get("timestamp") for x in r}) == 1 and len(r) == 3)')

step "Summary"
echo "3 nodes, rf=3; wrote through n1, read through n2"
echo "with n3 killed: $written/20 writes acknowledged (W=2), reads served (R=1)"
echo "after restarting n3: $caught/20 keys read back through n3 with R=all; replicas agree: $agree"
[ "$written" -eq 20 ] && [ "$caught" -eq 20 ] && [ "$agree" = True ] || {
  echo "demo: FAILED"
  exit 1
}
echo "demo: ok (stopping the cluster)"
