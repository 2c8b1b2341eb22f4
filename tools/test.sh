#!/usr/bin/env bash
# Installs what is missing, builds into build/ (warnings are errors), checks formatting, runs the
# curated clang-tidy checks on the changed files, and runs every test via ctest.
# Exits non-zero on any failure. Usage: tools/test.sh [ctest args...]
#   CAUSEWAY_BUILD_TYPE=Debug tools/test.sh     # another build type (default RelWithDebInfo)
#   tools/test.sh -L sim                        # only the simulator tests
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps.sh

echo "== format check"
files=$(git ls-files '*.h' '*.cc' 2>/dev/null || find engine cluster rpc tools tests bench -name '*.h' -o -name '*.cc')
bad=()
for f in $files; do
  [ -f "$f" ] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "Not clang-formatted (run: clang-format -i ${bad[*]}):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi

echo "== build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${CAUSEWAY_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j2

echo "== clang-tidy (changed files; tools/tidy.sh --all for the whole tree)"
tools/tidy.sh build

echo "== test"
# Soaks carry the label "soak" and are left to tools/soak.sh.
cd build
ctest --output-on-failure -j2 --timeout 600 -LE soak "$@"
