#!/usr/bin/env bash
# Installs dependencies, builds Release into build/, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
exec tools/demo.sh
