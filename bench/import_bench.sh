#!/usr/bin/env bash
# Bulk import vs puts at W=all, and `offline check` scan speed (issue 11's targets: import of 1M
# rows of 1 KiB into 3 nodes rf=3 at least 5x faster than `causeway bench`-style puts at W=all;
# `offline check` at least 200 MB/s).
#
# One run, one cluster: three nodes (rf=3) on 127.0.4.51-53 (IMPORT_BENCH_HOST=N: 127.0.4.N..N+2).
# First `causeway import` of ROWS rows
# of VALUE_BYTES-byte values (csv, generated here), timed end to end (ring read, SST builds,
# shipping, ingestion). Then `causeway bench --read-ratio 0 --w all` on ROWS other keys for
# PUT_S seconds: its ops/s gives the time the same number of rows would take as puts. Then the
# nodes stop and `offline check` scans one node's dir (reported MB/s over the dir's SST, blob and
# WAL bytes). Prints one JSON object.
#
#   bench/import_bench.sh [ROWS] [VALUE_BYTES] [PUT_S]    (defaults: 1000000 1024 20)
# Not part of ctest: it takes minutes and wants the machine to itself.
set -euo pipefail
ROWS=${1:-1000000}
VALUE_BYTES=${2:-1024}
PUT_S=${3:-20}
BIN=${CAUSEWAY_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bin/causeway}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/causeway-import-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
H=${IMPORT_BENCH_HOST:-51}
for h in $H $((H + 1)) $((H + 2)); do
  "$BIN" serve --node-id "b$h" --listen "127.0.4.$h:7650" --data-dir "$WORK/b$h" \
    --seeds "127.0.4.$H:7650" --rf 3 --sync periodic >>"$WORK/b$h.log" 2>&1 &
  PIDS+=($!)
done
EP=127.0.4.$H:7650,127.0.4.$((H + 1)):7650,127.0.4.$((H + 2)):7650
for i in $(seq 1 100); do "$BIN" status --endpoints "127.0.4.$H:7650" >/dev/null 2>&1 && break; sleep 0.2; done
sleep 2
python3 - "$WORK/rows.csv" "$ROWS" "$VALUE_BYTES" <<'PY'
import sys
path, rows, vb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pad = ("x" * vb)
with open(path, "w") as f:
    f.write("key,value\n")
    for i in range(rows):
        v = (str(i) + pad)[:vb]
        f.write(f"imp{i},{v}\n")
PY
t0=$(date +%s.%N)
"$BIN" import "$WORK/rows.csv" --endpoints "$EP" --rf 3 --json --work-dir "$WORK" \
  >"$WORK/import.json" 2>"$WORK/import.err"
t1=$(date +%s.%N)
"$BIN" bench --endpoints "$EP" --read-ratio 0 --w all --keys "$ROWS" --no-preload \
  --value-bytes "$VALUE_BYTES" --duration-s "$PUT_S" --json >"$WORK/bench.json" 2>"$WORK/bench.err" \
  || echo "bench exited $? (errors counted in its JSON)" >&2
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
"$BIN" offline check --json --data-dir "$WORK/b$H" >"$WORK/check.json" 2>/dev/null || true
python3 - "$WORK" "$ROWS" "$VALUE_BYTES" "$t0" "$t1" <<'PY'
import json, sys
work, rows, vb, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
imp = json.loads(open(f"{work}/import.json").read().strip().splitlines()[-1])
bench = json.loads(open(f"{work}/bench.json").read().strip().splitlines()[-1])
check = json.loads(open(f"{work}/check.json").read().strip().splitlines()[-1])
import_s = t1 - t0
put_ops = bench.get("ops_per_s") or bench.get("put_ops_per_s") or bench.get("ops")
puts_s = rows / put_ops if put_ops else None
print(json.dumps({
  "rows": rows, "value_bytes": vb, "import_s": round(import_s, 2),
  "import_rows_per_s": round(rows / import_s), "import_rows_reported": imp["rows"],
  "put_w_all_ops_per_s": put_ops, "puts_projected_s": round(puts_s, 2) if puts_s else None,
  "speedup": round(puts_s / import_s, 2) if puts_s else None,
  "check_mb_per_s": check.get("scan_mb_per_s"), "check_file_bytes": check.get("file_bytes"),
  "check_keys": check.get("keys"), "check_healthy": check.get("healthy"),
  "bench_raw": bench}))
PY
