#!/usr/bin/env bash
# Metrics overhead (docs/performance.md, "Metrics overhead"): one node's throughput under
# `causeway bench`, in alternating rounds with and without a scraper GETting /metrics once a
# second, in the same run (so machine noise hits both alike). Prints one JSON object.
#   bench/metrics_overhead.sh [ROUNDS] [SECONDS_PER_ROUND]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CAUSEWAY_BIN:-build/bin/causeway}
ROUNDS=${1:-4}
SECS=${2:-10}
DIR=$(mktemp -d)
ADDR=127.0.6.50:7650
HTTP=127.0.6.50:7651
"$BIN" serve --node-id m1 --listen $ADDR --http-listen $HTTP --data-dir "$DIR/m1" --rf 1 \
  --sync none 2> "$DIR/log" &
NODE=$!
trap 'kill $NODE 2>/dev/null; wait $NODE 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do "$BIN" status --endpoints $ADDR >/dev/null 2>&1 && break; sleep 0.1; done
run() {  # $1 = scrape|plain; prints ops/s
  local scraper=""
  if [ "$1" = scrape ]; then
    ( while true; do curl -sf "http://$HTTP/metrics" > /dev/null || true; sleep 1; done ) &
    scraper=$!
  fi
  "$BIN" bench --endpoints $ADDR --duration-s "$SECS" --connections 4 --outstanding 16 \
    --keys 10000 --read-ratio 0.5 --no-preload 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["ops_per_s"])'
  if [ -n "$scraper" ]; then kill "$scraper"; wait "$scraper" 2>/dev/null || true; fi
}
plain=(); scrape=()
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then plain+=("$(run plain)"); scrape+=("$(run scrape)")
  else scrape+=("$(run scrape)"); plain+=("$(run plain)"); fi
done
BYTES=$(curl -sf "http://$HTTP/metrics" | wc -c)
# The node's own CPU per scrape, robust to a noisy machine: CPU ticks (utime + stime) across 200
# back-to-back scrapes, minus the ticks of an idle stretch of the same wall time.
cpu() { awk '{print $14 + $15}' /proc/$NODE/stat; }
T0=$(date +%s.%N); C0=$(cpu)
for _ in $(seq 1 200); do curl -sf "http://$HTTP/metrics" > /dev/null; done
T1=$(date +%s.%N); C1=$(cpu)
sleep "$(python3 -c "print($T1 - $T0)")"
C2=$(cpu)
TICK=$(getconf CLK_TCK)
python3 - "$BYTES" "${plain[*]}" "${scrape[*]}" "$C0" "$C1" "$C2" "$TICK" <<'PY'
import json, sys, statistics as st
size, plain, scrape = int(sys.argv[1]), [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
c0, c1, c2, tick = (float(x) for x in sys.argv[4:8])
cpu_ms_per_scrape = max(0.0, ((c1 - c0) - (c2 - c1)) / tick * 1000 / 200)
mp, ms = st.mean(plain), st.mean(scrape)
print(json.dumps({"rounds": len(plain), "plain_ops_per_s": plain, "scrape_ops_per_s": scrape,
                  "plain_mean": round(mp), "scrape_mean": round(ms),
                  "overhead_percent": round(100 * (mp - ms) / mp, 2), "metrics_bytes": size,
                  "node_cpu_ms_per_scrape": round(cpu_ms_per_scrape, 3),
                  "loop_share_at_1_scrape_per_s_percent": round(cpu_ms_per_scrape / 10, 3)}))
PY
