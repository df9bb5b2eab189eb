#!/usr/bin/env bash
# Configures and builds ctlab into build/ (binary: build/bin/ctlab, plugins:
# build/lib/ctlab/plugins). Uses Ninja and ccache when present. Extra args go to cmake.
# CTLAB_BUILD_TARGETS (space-separated) builds only those targets, e.g. "ctlab
# ctlab_builtin_plugins" for the main job; by default everything (tests, benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."

gen=()
command -v ninja >/dev/null 2>&1 && [ ! -f build/Makefile ] && gen=(-G Ninja)
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
jobs=${CTLAB_BUILD_JOBS:-$(nproc)}

cmake -S . -B build "${gen[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
targets=()
for t in ${CTLAB_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build build -j"$jobs" "${targets[@]}"
