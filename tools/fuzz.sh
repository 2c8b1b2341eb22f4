#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in build-fuzz/ and runs each
# on a copy of its seed corpus, then prints per target: runs, coverage (libFuzzer's cov/ft) and
# findings (crash-*, leak-*, timeout-* files in build-fuzz/findings/NAME/).
#   tools/fuzz.sh               each target for FUZZ_SECONDS (default 60) seconds
#   tools/fuzz.sh --smoke       each target for 2000 runs (ctest's fuzz.smoke); exits 0 without clang
# Exit status: 0 no findings, 1 findings, 2 build failure.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SMOKE=0; [ "${1:-}" = "--smoke" ] && SMOKE=1
CXX=$(command -v clang++-14 || command -v clang++ || true)
CC=$(command -v clang-14 || command -v clang || true)
if [ -z "$CXX" ]; then
  echo "fuzz: no clang++; skipping"; exit 0
fi
mkdir -p "$OUT"
LAUNCHER=(); command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$ROOT/tests/fuzz" -B "$OUT" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_COMPILER="$CC" \
  "${LAUNCHER[@]}" >"$OUT/configure.log" 2>&1 || { cat "$OUT/configure.log"; exit 2; }
cmake --build "$OUT" -j2 >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 2; }
found=0
for bin in "$OUT"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); target=${name#fuzz_}
  corpus="$OUT/corpus/$target"; findings="$OUT/findings/$target"
  mkdir -p "$corpus" "$findings"
  cp -n "$ROOT/tests/fuzz/corpus/$target"/* "$corpus"/ 2>/dev/null
  if [ $SMOKE = 1 ]; then limit=(-runs=2000); else limit=(-max_total_time="${FUZZ_SECONDS:-60}"); fi
  "$bin" "${limit[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/" \
    "$corpus" >"$OUT/$name.log" 2>&1
  rc=$?
  stats=$(grep -E "^#[0-9]+.*(DONE|cov:)" "$OUT/$name.log" | tail -1)
  n=$(ls "$findings" | wc -l)
  echo "fuzz: $name rc=$rc findings=$n ${stats}"
  if [ $rc -ne 0 ] || [ "$n" -gt 0 ]; then found=1; tail -20 "$OUT/$name.log"; fi
done
exit $found
