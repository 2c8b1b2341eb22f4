#!/usr/bin/env bash
# One run, one JSON line: the engine in-process (the reference), one node rf=1, and three nodes
# rf=3 (W=2, R=1), each driven by `causeway bench` with 64 connections, 1 KiB values, 50/50
# get/put; plus 64 x 32 = 2048 outstanding calls on the single node, which must all succeed; plus
# null calls (`bench --ping`, same connections and outstanding) on the single node: Cap'n Proto's
# own ceiling on this machine, measured in the same run; plus 1 MiB puts on the single node (4
# connections x 1 outstanding), where the reply's size shows (issue 7: the reply no longer echoes
# the value).
# Targets: issue 3, node >= 0.5x engine with p99 < 10 ms; issue 4, cluster >= 0.4x node with
# p99 < 20 ms.
# Usage: bench/cluster_bench.sh   (env: CAUSEWAY_BIN, BENCH_DURATION_S=10, BENCH_OUTSTANDING=4,
#                                  BENCH_CONNECTIONS=64, BENCH_SYNC=periodic, BENCH_HOST=127.0.0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CAUSEWAY_BIN:-$PWD/build/bin/causeway}
DURATION=${BENCH_DURATION_S:-10}
OUTSTANDING=${BENCH_OUTSTANDING:-4}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SYNC=${BENCH_SYNC:-periodic}
HOST=${BENCH_HOST:-127.0.0.1}
[ -x "$BIN" ] || { echo "cluster_bench: no binary at $BIN; build first" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/causeway-bench-XXXXXX")
cleanup() {
  for c in one three; do
    [ -f "$DIR/$c/cluster.json" ] && "$BIN" local down --dir "$DIR/$c" >/dev/null 2>&1 || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT

common=(--connections "$CONNECTIONS" --outstanding "$OUTSTANDING" --duration-s "$DURATION"
        --value-bytes 1024 --read-ratio 0.5)

echo "cluster_bench: engine reference (in-process, sync=$SYNC)" >&2
"$BIN" bench --engine-reference "$DIR/engine" --sync "$SYNC" --duration-s "$DURATION" \
  --value-bytes 1024 --read-ratio 0.5 | tail -1 >"$DIR/engine.json"

echo "cluster_bench: 1 node, rf=1" >&2
one=$("$BIN" local up --nodes 1 --rf 1 --sync "$SYNC" --dir "$DIR/one" --host "$HOST" |
  sed -n 's/^endpoints: //p')
"$BIN" bench --endpoints "$one" "${common[@]}" | tail -1 >"$DIR/one.json"
echo "cluster_bench: 1 node, null calls (RPC ceiling)" >&2
"$BIN" bench --endpoints "$one" --connections "$CONNECTIONS" --outstanding "$OUTSTANDING" \
  --duration-s "$DURATION" --ping | tail -1 >"$DIR/ping.json"
echo "cluster_bench: 1 node, 1 MiB puts" >&2
"$BIN" bench --endpoints "$one" --connections 4 --outstanding 1 --duration-s "$DURATION" \
  --value-bytes 1048576 --read-ratio 0 --keys 64 | tail -1 >"$DIR/big.json"
echo "cluster_bench: 1 node, 64 x 32 outstanding" >&2
"$BIN" bench --endpoints "$one" --connections 64 --outstanding 32 --duration-s 3 \
  --no-preload | tail -1 >"$DIR/many.json" || true
"$BIN" local down --dir "$DIR/one" >/dev/null

echo "cluster_bench: 3 nodes, rf=3, W=2 R=1" >&2
three=$("$BIN" local up --nodes 3 --rf 3 --sync "$SYNC" --dir "$DIR/three" --host "$HOST" |
  sed -n 's/^endpoints: //p')
"$BIN" bench --endpoints "$three" "${common[@]}" --w 2 --r 1 | tail -1 >"$DIR/three.json"
"$BIN" local down --dir "$DIR/three" >/dev/null

python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
load = lambda name: json.load(open(f"{d}/{name}.json"))
engine, one, three, many = load("engine"), load("one"), load("three"), load("many")
ping, big = load("ping"), load("big")
ratio = lambda a, b: round(a["ops_per_s"] / b["ops_per_s"], 3) if b["ops_per_s"] else 0.0
out = {
    "engine": engine, "node_rf1": one, "cluster_rf3": three, "node_2048_outstanding": many,
    "rpc_ping": ping,
    "node_rf1_1mib_put": big,
    "node_vs_engine": ratio(one, engine),
    "node_vs_ping": ratio(one, ping),
    "ping_vs_engine": ratio(ping, engine),
    "cluster_vs_node": ratio(three, one),
    "targets": {
        "issue3_node_ge_0.5x_engine": ratio(one, engine) >= 0.5,
        "issue3_node_p99_lt_10ms": one["p99_ms"] < 10,
        "issue3_2048_outstanding_without_error": many["errors"] == 0 and many["ops"] > 0,
        "issue4_cluster_ge_0.4x_node": ratio(three, one) >= 0.4,
        "issue4_cluster_p99_lt_20ms": three["p99_ms"] < 20,
    },
}
print(json.dumps(out))
PY
