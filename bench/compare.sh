#!/usr/bin/env bash
# Causeway side by side with redis and etcd, in one run on this machine (issue 12), printing ONE
# JSON line on stdout (medians over the rounds, and the ratios the issue's targets are about);
# progress goes to stderr.
#
# Interleaved rounds (--rounds, default 3), all servers up for the whole run, on loopback:
#   redis        redis-server --appendonly yes --appendfsync everysec (no RDB snapshots), its own
#                temp dir, no system service
#   causeway_1   1 node, rf=1 (--sync periodic, the durability class of appendfsync everysec)
#   causeway_3   3 nodes, rf=3, W=2 R=1
# each driven by the same driver -- `causeway bench --backend resp` (redis, and Causeway's RESP
# gateway when `causeway serve` has --resp-listen) and `causeway bench` native (Causeway) --
# with workload A (50/50), 50 connections x 1 in flight, 1 KiB values, 10000 keys, uniform; plus
# `redis-benchmark -c 50 -d 1024 -t set,get -r 10000` against every RESP server; plus 1 MiB SETs
# (4 connections x 1, write only) for MB/s.
# Then the durable-write reference: etcd (3 members, `etcdctl check perf --load=l`, 60 s) vs
# Causeway 3 nodes rf=3 W=2 --sync always, write only (closed loop 50x1 and 200x4: the best is
# the saturation; then an open loop at half of 3x etcd's rate for p99).
# Without a RESP gateway in this build its fields are null and "resp_gateway" says why.
#
# Usage: bench/compare.sh [--rounds N] [--duration-s S] [--no-etcd] [--only rounds|durable]
#   env: CAUSEWAY_BIN (default build/bin/causeway), COMPARE_DIR (scratch; default a temp dir)
# Addresses: 127.0.5.100-127.0.5.200 only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CAUSEWAY_BIN:-$PWD/build/bin/causeway}
ROUNDS=3
DURATION=3
ETCD=1
ONLY=all  # all | rounds | durable
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration-s) DURATION=$2; shift 2 ;;
    --no-etcd) ETCD=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "compare: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$ROUNDS" -ge 1 ] 2>/dev/null || { echo "compare: --rounds must be >= 1" >&2; exit 2; }
[ -x "$BIN" ] || { echo "compare: no binary at $BIN; build first" >&2; exit 1; }
for tool in redis-server redis-benchmark python3; do
  command -v "$tool" >/dev/null || { echo "compare: $tool missing (tools/setup-deps.sh)" >&2; exit 1; }
done
if [ "$ETCD" = 1 ] && ! { command -v etcd && command -v etcdctl; } >/dev/null; then
  echo "compare: etcd/etcdctl missing: the etcd reference is skipped" >&2
  ETCD=0
fi

DIR=${COMPARE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/causeway-compare-XXXXXX")}
mkdir -p "$DIR/out"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${COMPARE_DIR:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
log() { echo "compare: $*" >&2; }
RB_REQUESTS=${COMPARE_RB_REQUESTS:-20000}
bench() {  # OUT [bench flags...]: one JSON line into $DIR/out/OUT.json (errors are recorded)
  local out=$1; shift
  "$BIN" bench "$@" 2>>"$DIR/bench.log" | tail -1 >"$DIR/out/$out.json" || true
}
rb() {  # OUT HOST:PORT: redis-benchmark's CSV into $DIR/out/OUT.csv
  redis-benchmark -h "${2%:*}" -p "${2#*:}" -c 50 -d 1024 -t set,get -r 10000 -n "$RB_REQUESTS" \
    --csv 2>/dev/null >"$DIR/out/$1.csv" || true
}


RESP=0
RESP_REASON="this build's causeway serve has no --resp-listen (the RESP gateway is not merged)"
if "$BIN" serve --help 2>&1 | grep -q -- '--resp-listen'; then RESP=1; RESP_REASON=""; fi

# ---- servers ------------------------------------------------------------------------------------
REDIS=127.0.5.120:6390
C1=127.0.5.110:7510; C1_RESP=127.0.5.110:6510
C3=(127.0.5.101:7501 127.0.5.102:7502 127.0.5.103:7503)
C3_RESP=(127.0.5.101:6501 127.0.5.102:6502 127.0.5.103:6503)
CA=(127.0.5.141:7541 127.0.5.142:7542 127.0.5.143:7543)
ETCD_IPS=(127.0.5.131 127.0.5.132 127.0.5.133)

# start_node NAME LISTEN SEEDS RESP_LISTEN [serve flags...]
start_node() {
  local name=$1 listen=$2 seeds=$3 resp=$4; shift 4
  local extra=()
  [ "$RESP" = 1 ] && extra=(--resp-listen "$resp")
  mkdir -p "$DIR/$name"
  "$BIN" serve --node-id "$name" --listen "$listen" --data-dir "$DIR/$name/data" \
    --seeds "$seeds" "${extra[@]}" "$@" >>"$DIR/$name/log" 2>&1 &
  PIDS+=($!)
}
wait_up() {
  local i
  for i in $(seq 1 150); do
    "$BIN" put __compare_probe__ x --endpoints "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "compare: node $1 did not come up (logs in $DIR)" >&2
  return 1
}

if [ "$ONLY" != durable ]; then
log "redis-server on $REDIS (appendonly yes, appendfsync everysec)"
mkdir -p "$DIR/redis"
redis-server --bind "${REDIS%:*}" --port "${REDIS#*:}" --dir "$DIR/redis" --appendonly yes \
  --appendfsync everysec --save "" --daemonize no --protected-mode no \
  --logfile "$DIR/redis/log" &
PIDS+=($!)
log "causeway: 1 node rf=1 on $C1, 3 nodes rf=3 on ${C3[*]} (RESP gateway: $RESP)"
start_node c1 "$C1" "$C1" "$C1_RESP" --rf 1
for i in 0 1 2; do start_node "c3n$((i + 1))" "${C3[$i]}" "${C3[0]}" "${C3_RESP[$i]}" --rf 3; done
for i in $(seq 1 50); do redis-cli -h "${REDIS%:*}" -p "${REDIS#*:}" ping >/dev/null 2>&1 && break; sleep 0.1; done
wait_up "$C1"
for e in "${C3[@]}"; do wait_up "$e"; done
sleep 1

# ---- measurements -------------------------------------------------------------------------------
A_FLAGS=(--workload a --connections 50 --value-bytes 1024 --keys 10000 --duration-s "$DURATION")
BIG_FLAGS=(--workload w --connections 4 --outstanding 1 --value-bytes 1048576 --keys 64
           --no-preload --duration-s "$DURATION")

for round in $(seq 1 "$ROUNDS"); do
  log "round $round/$ROUNDS: redis"
  bench "r$round.redis.bench_a" --backend resp --endpoints "$REDIS" "${A_FLAGS[@]}" --outstanding 1
  rb "r$round.redis.rb" "$REDIS"
  bench "r$round.redis.big" --backend resp --endpoints "$REDIS" "${BIG_FLAGS[@]}"
  log "round $round/$ROUNDS: causeway 1 node"
  bench "r$round.c1.native_a" --endpoints "$C1" "${A_FLAGS[@]}" --outstanding 1
  bench "r$round.c1.native_big" --endpoints "$C1" "${BIG_FLAGS[@]}"
  if [ "$RESP" = 1 ]; then
    bench "r$round.c1.resp_a" --backend resp --endpoints "$C1_RESP" "${A_FLAGS[@]}" --outstanding 1
    rb "r$round.c1.rb" "$C1_RESP"
    bench "r$round.c1.resp_big" --backend resp --endpoints "$C1_RESP" "${BIG_FLAGS[@]}"
  fi
  log "round $round/$ROUNDS: causeway 3 nodes"
  bench "r$round.c3.native_a" --endpoints "$(IFS=,; echo "${C3[*]}")" --w 2 --r 1 "${A_FLAGS[@]}" --outstanding 1
  if [ "$RESP" = 1 ]; then
    bench "r$round.c3.resp_a" --backend resp --endpoints "$(IFS=,; echo "${C3_RESP[*]}")" \
      "${A_FLAGS[@]}" --outstanding 1
    rb "r$round.c3.rb" "${C3_RESP[0]}"
  fi
done

# p99 at half of saturation, three nodes (open loop, latency from the intended send time).
half=$(python3 - "$DIR/out" <<'PY'
import glob, json, statistics, sys
v = [json.load(open(f))["ops_per_s"] for f in glob.glob(sys.argv[1] + "/r*.c3.native_a.json")
     if open(f).read().strip()]
print(int(statistics.median(v) / 2) if v else 0)
PY
)
if [ "${half:-0}" -gt 0 ]; then
  log "causeway 3 nodes: open loop at $half ops/s (half of saturation)"
  bench "c3.native_a_open_half" --endpoints "$(IFS=,; echo "${C3[*]}")" --w 2 --r 1 \
    "${A_FLAGS[@]}" --rate "$half" --outstanding 8
  if [ "$RESP" = 1 ]; then
    bench "c3.resp_a_open_half" --backend resp --endpoints "$(IFS=,; echo "${C3_RESP[*]}")" \
      "${A_FLAGS[@]}" --rate "$half" --outstanding 8
  fi
fi

# The servers of the rounds go before the durable-write part.
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()

fi  # rounds

# ---- durable writes: etcd check perf vs causeway --sync always ----------------------------------
if [ "$ONLY" != rounds ] && [ "$ETCD" = 1 ]; then
  # A long election timeout: etcd's server-side request timeout is 5 s + 2 election timeouts,
  # and check perf ends by deleting every key it wrote in one request, which on a loaded machine
  # takes longer than the default allows (then it prints no result at all).
  log "etcd: 3 members on ${ETCD_IPS[*]}, etcdctl check perf --load=l (60 s)"
  cluster=""
  for i in 0 1 2; do cluster+="${cluster:+,}e$((i + 1))=http://${ETCD_IPS[$i]}:2380"; done
  for i in 0 1 2; do
    ip=${ETCD_IPS[$i]}
    mkdir -p "$DIR/etcd$i"
    etcd --name "e$((i + 1))" --data-dir "$DIR/etcd$i/data" \
      --listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
      --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --initial-cluster-token causeway-compare \
      --heartbeat-interval 500 --election-timeout 10000 >"$DIR/etcd$i/log" 2>&1 &
    PIDS+=($!)
  done
  eps=$(printf 'http://%s:2379,' "${ETCD_IPS[@]}"); eps=${eps%,}
  for i in $(seq 1 100); do
    ETCDCTL_API=3 etcdctl --endpoints "$eps" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
  done
  ETCDCTL_API=3 etcdctl --endpoints "$eps" --command-timeout=60s check perf --load=l >"$DIR/out/etcd.txt" 2>&1 || true
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
fi
# "PASS: Throughput is N writes/s" or "FAIL: Throughput too low: N writes/s".
etcd_wps=""
if [ -f "$DIR/out/etcd.txt" ]; then
  etcd_wps=$(tr '\r' '\n' <"$DIR/out/etcd.txt" |
    sed -n 's/.*Throughput[^0-9]*\([0-9][0-9]*\) writes\/s.*/\1/p' | head -1)
fi

if [ "$ONLY" != rounds ]; then
log "causeway: 3 nodes rf=3 W=2 --sync always, write only"
for i in 0 1 2; do start_node "can$((i + 1))" "${CA[$i]}" "${CA[0]}" "127.0.5.14$((i + 1)):6541" \
  --rf 3 --sync always; done
for e in "${CA[@]}"; do wait_up "$e"; done
sleep 1
CA_EPS=$(IFS=,; echo "${CA[*]}")
W_FLAGS=(--workload w --value-bytes 1024 --keys 10000 --no-preload --w 2 --duration-s "$DURATION")
bench "always.50x1" --endpoints "$CA_EPS" "${W_FLAGS[@]}" --connections 50 --outstanding 1
bench "always.200x4" --endpoints "$CA_EPS" "${W_FLAGS[@]}" --connections 200 --outstanding 4
rate=$(python3 - "$DIR/out" "${etcd_wps:-0}" <<'PY'
import json, sys
best = 0
for n in ("50x1", "200x4"):
    try: best = max(best, json.load(open(f"{sys.argv[1]}/always.{n}.json"))["ops_per_s"])
    except Exception: pass
etcd = float(sys.argv[2])
# The target: p99 under 20 ms at half of 3x etcd's rate; without etcd, half of our saturation.
print(int(1.5 * etcd) if etcd > 0 else int(best / 2))
PY
)
if [ "${rate:-0}" -gt 0 ]; then
  log "causeway --sync always: open loop at $rate writes/s"
  bench "always.open" --endpoints "$CA_EPS" "${W_FLAGS[@]}" --connections 50 --outstanding 8 \
    --rate "$rate"
fi
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()

fi  # durable

# ---- one JSON line ------------------------------------------------------------------------------
python3 - "$DIR/out" "$ROUNDS" "$DURATION" "$RESP" "$RESP_REASON" "${etcd_wps:-}" "$ETCD" <<'PY'
import csv, glob, json, os, statistics, sys
out, rounds, duration, resp, resp_reason, etcd_wps, etcd_on = sys.argv[1:8]
rounds = int(rounds)

def load(path):
    try:
        text = open(path).read().strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None

def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None

def bench_median(name):
    runs = [load(f"{out}/r{r}.{name}.json") for r in range(1, rounds + 1)]
    runs = [x for x in runs if x]
    if not runs:
        return None
    return {"ops_per_s": med([x["ops_per_s"] for x in runs]),
            "write_mb_per_s": med([x.get("write_mb_per_s") for x in runs]),
            "p50_ms": med([x["p50_ms"] for x in runs]),
            "p99_ms": med([x["p99_ms"] for x in runs]),
            "p999_ms": med([x["p999_ms"] for x in runs]),
            "errors": sum(x["errors"] for x in runs),
            "rounds": len(runs)}

def rb_median(name):
    per = {"SET": [], "GET": []}
    for r in range(1, rounds + 1):
        try:
            rows = list(csv.reader(open(f"{out}/r{r}.{name}.csv")))
        except OSError:
            continue
        for row in rows[1:]:
            if row and row[0] in per:
                per[row[0]].append((float(row[1]), float(row[6])))  # rps, p99_latency_ms
    res = {}
    for t, v in per.items():
        if v:
            res[t.lower()] = {"rps": med([a for a, _ in v]), "p99_ms": med([b for _, b in v])}
    return res or None

def single(name):
    x = load(f"{out}/{name}.json")
    if not x:
        return None
    keep = ("ops_per_s", "p50_ms", "p99_ms", "p999_ms", "errors", "target_ops_per_s", "ops_due",
            "ops_sent")
    return {k: x[k] for k in keep if k in x}

def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None

def get(d, *path):
    for p in path:
        if d is None:
            return None
        d = d.get(p)
    return d

redis = {"bench_a": bench_median("redis.bench_a"), "redis_benchmark": rb_median("redis.rb"),
         "bench_1mib_set": bench_median("redis.big")}
c1 = {"native_a": bench_median("c1.native_a"), "native_1mib_set": bench_median("c1.native_big"),
      "resp_a": bench_median("c1.resp_a"), "redis_benchmark": rb_median("c1.rb"),
      "resp_1mib_set": bench_median("c1.resp_big")}
c3 = {"native_a": bench_median("c3.native_a"), "resp_a": bench_median("c3.resp_a"),
      "redis_benchmark": rb_median("c3.rb"),
      "native_a_open_half_saturation": single("c3.native_a_open_half"),
      "resp_a_open_half_saturation": single("c3.resp_a_open_half")}
always = {"closed_50x1": single("always.50x1"), "closed_200x4": single("always.200x4"),
          "open": single("always.open")}
best_always = max([x["ops_per_s"] for x in (always["closed_50x1"], always["closed_200x4"]) if x]
                  or [None], key=lambda v: v or 0)
etcd = float(etcd_wps) if etcd_wps else None

def rb_ratio(side):
    s, r = get(side, "redis_benchmark"), redis["redis_benchmark"]
    if not s or not r:
        return None
    vals = [ratio(get(s, t, "rps"), get(r, t, "rps")) for t in ("set", "get")]
    vals = [v for v in vals if v is not None]
    return round(min(vals), 3) if vals else None

ratios = {
    "c1_resp_redis_benchmark_vs_redis": rb_ratio(c1),               # target >= 1.0
    "c3_resp_redis_benchmark_vs_redis": rb_ratio(c3),               # target >= 0.5
    "c1_resp_bench_a_vs_redis": ratio(get(c1, "resp_a", "ops_per_s"),
                                      get(redis, "bench_a", "ops_per_s")),
    "c1_native_a_vs_redis_resp_a": ratio(get(c1, "native_a", "ops_per_s"),
                                         get(redis, "bench_a", "ops_per_s")),
    "c3_native_a_vs_redis_resp_a": ratio(get(c3, "native_a", "ops_per_s"),
                                         get(redis, "bench_a", "ops_per_s")),
    "c1_native_a_vs_c1_resp_a": ratio(get(c1, "native_a", "ops_per_s"),
                                      get(c1, "resp_a", "ops_per_s")),    # target >= 0.6
    "c1_native_1mib_mb_vs_redis": ratio(get(c1, "native_1mib_set", "write_mb_per_s"),
                                        get(redis, "bench_1mib_set", "write_mb_per_s")),
    "c1_resp_1mib_mb_vs_redis": ratio(get(c1, "resp_1mib_set", "write_mb_per_s"),
                                      get(redis, "bench_1mib_set", "write_mb_per_s")),  # >= 0.8
    "always_vs_etcd": ratio(best_always, etcd),                      # target >= 3
}
print(json.dumps({
    "rounds": rounds, "duration_s": float(duration),
    "resp_gateway": resp == "1", "resp_null_reason": resp_reason or None,
    "redis": redis, "causeway_1": c1, "causeway_3": c3,
    "durable": {"etcd_check_perf_l_writes_per_s": etcd,
                "etcd_reason": None if etcd else ("skipped (--no-etcd or not installed)"
                                                  if etcd_on != "1" else "no throughput line"),
                "causeway_always_best_writes_per_s": best_always, **always},
    "ratios": ratios,
}, separators=(",", ":")))
PY
