#!/usr/bin/env bash
# Runs the curated clang-tidy checks of .clang-tidy (warnings are errors) over our sources.
# Usage: tools/tidy.sh [--all] [BUILD_DIR]
#   default: the .cc files changed in the working tree and in the last commit (what CI's clean
#            checkout of main just landed), plus the .cc files next to changed headers
#   --all:   every .cc file of base engine cluster rpc tools (about 10 minutes on 2 cores)
# Needs BUILD_DIR/compile_commands.json (tools/test.sh builds it first). Exits non-zero on any
# finding.
set -euo pipefail
cd "$(dirname "$0")/.."
all=0
if [ "${1:-}" = "--all" ]; then all=1; shift; fi
build=${1:-build}
[ -f "$build/compile_commands.json" ] || { echo "tidy: no $build/compile_commands.json" >&2; exit 1; }
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy missing (tools/setup-deps.sh)" >&2; exit 1; }
dirs=(base engine cluster rpc tools)
if [ $all -eq 1 ]; then
  files=$(git ls-files "${dirs[@]/%//*.cc}")
else
  # A shallow clone has no HEAD~1, a tarball no git at all: then only what git can tell.
  changed=$( ( (git diff --name-only HEAD; git diff --name-only HEAD~1 HEAD) 2>/dev/null || true) |
    sort -u)
  files=$(for f in $changed; do
    case "$f" in base/*|engine/*|cluster/*|rpc/*|tools/*) ;; *) continue ;; esac
    case "$f" in
      *.cc) echo "$f" ;;
      *.h) if [ -f "${f%.h}.cc" ]; then echo "${f%.h}.cc"; fi ;;
    esac
  done | sort -u)
fi
# (if, not &&: under set -e a last test that fails would end the script silently with status 1)
files=$(for f in $files; do if [ -f "$f" ]; then echo "$f"; fi; done)
if [ -z "$files" ]; then echo "tidy: no changed sources"; exit 0; fi
echo "tidy: $(echo "$files" | wc -l) files"
# GCC-only flags in compile_commands.json (-Wno-maybe-uninitialized) are unknown to clang.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
echo "$files" | xargs -P 2 -n 1 clang-tidy -p "$build" --quiet \
  --extra-arg=-Wno-unknown-warning-option >"$out" 2>&1 || status=$?
grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed|^Use -header-filter' \
  "$out" || true
[ $status -eq 0 ] && echo "tidy: clean" || echo "tidy: findings above (checks: .clang-tidy)"
exit $status
