#!/usr/bin/env bash
# Bootstrap streaming speed and its cost to foreground latency (issue 10's targets: at least
# 50 MB/s of 1 KiB records; foreground p99 during streaming within 2x of p99 without it).
#
# Two nodes (rf=2) on 127.0.3.1-2 hold KEYS 1 KiB records; a third joins and streams its share.
# Per round: the same closed-loop load (`causeway bench`, 50/50 get/put on the loaded keys)
# runs once with nothing else going on, then once while the third node joins; the joiner's
# `status --json` stream object gives bytes and elapsed time. Rounds are interleaved (a fresh
# cluster each round). Prints one JSON object per round and a summary with medians.
#
#   bench/stream_bench.sh [ROUNDS] [KEYS]      (defaults: 3 rounds, 300000 keys)
# Not part of ctest: it takes minutes and wants the machine to itself.
set -euo pipefail
ROUNDS=${1:-3}
KEYS=${2:-300000}
BIN=${CAUSEWAY_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bin/causeway}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/causeway-stream-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start() {  # NAME HOST
  "$BIN" serve --node-id "$1" --listen "127.0.3.$2:7450" --data-dir "$WORK/$1" \
    --seeds 127.0.3.1:7450 --rf 2 --sync periodic >>"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
}
wait_put() {  # ENDPOINT
  for _ in $(seq 1 200); do
    "$BIN" put __probe__ x --endpoints "$1" --w 1 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "node $1 did not come up" >&2
  return 1
}
load() {  # DURATION_S -> the bench JSON line
  "$BIN" bench --endpoints 127.0.3.1:7450,127.0.3.2:7450 --keys "$KEYS" --no-preload \
    --value-bytes 1024 --duration-s "$1" --connections 16 --threads 2 --json | tail -1
}
stream_json() {  # the joiner's own stream object
  "$BIN" status --endpoints 127.0.3.3:7450 --json 2>/dev/null |
    python3 -c 'import json,sys
j=json.load(sys.stdin)
s=[n.get("stream") for n in j.get("nodes",[]) if n.get("name")=="c" and n.get("stream")]
print(json.dumps(s[0] if s else {}))' 2>/dev/null || echo '{}'
}

for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK"/a "$WORK"/b "$WORK"/c
  start a 1
  start b 2
  wait_put 127.0.3.1:7450
  wait_put 127.0.3.2:7450
  sleep 2
  # Preload every key (bench writes each key once before measuring).
  "$BIN" bench --endpoints 127.0.3.1:7450,127.0.3.2:7450 --keys "$KEYS" --value-bytes 1024 \
    --duration-s 0.1 --connections 32 --threads 2 --w all --json >/dev/null
  quiet=$(load 3)
  start c 3
  sleep 1.2  # the joiner's ring settle (1 s): its stream starts about now
  during=$(load 3)
  for _ in $(seq 1 600); do
    st=$(stream_json)
    python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s.get("finished") else 1)' \
      "$st" && break
    sleep 0.2
  done
  python3 - "$round" "$quiet" "$during" "$st" <<'PY'
import json, sys
r, quiet, during, st = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
mb = st.get("bytes", 0) / 1e6
s = st.get("elapsed_ms", 0) / 1000.0
print(json.dumps({"round": r, "stream_mb": round(mb, 1), "stream_s": round(s, 2),
                  "stream_mb_per_s": round(mb / s, 1) if s > 0 else None,
                  "stream_keys": st.get("keys"), "stream_ok": st.get("ok"),
                  "p99_ms_quiet": quiet.get("p99_ms"), "p99_ms_streaming": during.get("p99_ms"),
                  "ops_quiet": quiet.get("ops_per_s"), "ops_streaming": during.get("ops_per_s")}))
PY
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
done | tee "$WORK/rounds.jsonl"
python3 - "$WORK/rounds.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(k):
    v = [r[k] for r in rows if r.get(k) is not None]
    return statistics.median(v) if v else None
q, d = med("p99_ms_quiet"), med("p99_ms_streaming")
print(json.dumps({"summary": True, "rounds": len(rows), "stream_mb_per_s_median": med("stream_mb_per_s"),
                  "p99_ms_quiet_median": q, "p99_ms_streaming_median": d,
                  "p99_ratio": round(d / q, 2) if q and d else None,
                  "targets": {"stream_mb_per_s": ">= 50", "p99_ratio": "<= 2"}}))
PY
