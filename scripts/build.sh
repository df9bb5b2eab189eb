#!/usr/bin/env bash
# Configures and builds ctlab (binary: <build>/bin/ctlab, plugins: <build>/lib/ctlab/plugins)
# through the CMake preset of the LibTorch chosen (CMakePresets.json: debian, wheel, custom;
# an IDE that reads the presets makes the same builds). Uses Ninja and ccache when present.
#   scripts/build.sh [--torch auto|debian|wheel|PYTHON|LIBTORCH_DIR] [cmake args...]
# Debian's LibTorch 1.13 builds into build/, the PyPI wheel's LibTorch 2.11 (CUDA, NCCL)
# into build-wheel/; auto (the default) picks the wheel on Intel x86-64 CPUs with AVX2,
# else Debian's; see scripts/torch_env.sh. CTLAB_BUILD_TARGETS (space-separated) builds
# only those targets, e.g. "ctlab ctlab_builtin_plugins" for the main job; by default
# everything (tests, benchmarks, the gpu suite).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_env.sh
set -- "${torch_rest_args[@]+"${torch_rest_args[@]}"}"

# A build folder configured for another LibTorch keeps that one's library paths in its
# CMake cache: start its configuration afresh (object files and ccache stay).
wanted="${torch_cmake_args[*]+"${torch_cmake_args[*]}"}"
if [ -f "$build_dir/CMakeCache.txt" ] && [ "$(cat "$build_dir/.ctlab-torch" 2>/dev/null)" != "$wanted" ]; then
  echo "build: $build_dir was configured for another LibTorch; configuring it afresh"
  rm -f "$build_dir/CMakeCache.txt"
fi
mkdir -p "$build_dir"
echo "$wanted" > "$build_dir/.ctlab-torch"

gen=()  # the presets name Ninja
if ! command -v ninja >/dev/null 2>&1 || [ -f "$build_dir/Makefile" ]; then gen=(-G "Unix Makefiles"); fi
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Paths inside the checkout hash as relative ones, so that another clone of the same
# sources (CI's fresh clone, say) reuses the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
jobs=${CTLAB_BUILD_JOBS:-$(nproc)}

cmake --preset "$torch_preset" -B "$build_dir" "${gen[@]+"${gen[@]}"}" "${launcher[@]+"${launcher[@]}"}" \
  "${torch_cmake_args[@]+"${torch_cmake_args[@]}"}" "$@"
targets=()
for t in ${CTLAB_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j"$jobs" "${targets[@]+"${targets[@]}"}"
