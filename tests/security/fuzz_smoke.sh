#!/usr/bin/env bash
# ctest fuzz.smoke: each fuzz target for 2000 runs (tools/fuzz.sh --smoke); passes without clang.
exec "$(dirname "$0")/../../tools/fuzz.sh" --smoke
