#!/usr/bin/env bash
# Sourced by build.sh and test.sh: turns the LibTorch choice into a CMake preset
# (CMakePresets.json: debian, wheel, custom), the arguments that complete it and a build
# folder. The choice comes from `--torch X` (first arguments) or CTLAB_TORCH:
#   auto (default)    the build that trains fastest here (bench/RESULTS.md): wheel on an
#                     Intel x86-64 CPU with AVX2 (its MKL trained 3.5x faster than Debian's
#                     OpenBLAS, which runs generic kernels on recent Intel CPUs), debian
#                     elsewhere (on an AMD EPYC, OpenBLAS's Haswell kernels ran fp32 matrix
#                     products 1.7x as fast as MKL, and ctlab trained faster on Debian's)
#   debian            Debian's libtorch-dev 1.13 (CPU, Gloo), build folder build/
#   wheel             the `torch` wheel from PyPI (CTLAB_TORCH_WHEEL, default 2.11.0, with
#                     CUDA) installed into a private virtual environment
#                     (CTLAB_TORCH_VENV, default ~/.cache/ctlab/torch-<version>), build-wheel/
#   /path/to/python   a Python whose `torch` package to build against (a conda env, say)
#   /path/to/dir      an unpacked LibTorch (the folder holding share/cmake/Torch)
# CTLAB_BUILD_DIR overrides the build folder; CTLAB_EXTRA_PREFIX_PATH (';'-separated) adds
# folders where CMake looks for the other packages (bench/gpu.sh's private prefix). Sets:
# torch_choice, torch_preset, build_dir, torch_cmake_args, torch_python (empty for Debian and
# a plain LibTorch folder). What a Python's torch package means to CMake (its prefix, its
# NCCL headers, the CUDA architecture) is worked out by cmake/TorchPython.cmake, so an IDE
# using the presets gets the same build.
torch_choice=${CTLAB_TORCH:-auto}
if [ "${1:-}" = "--torch" ]; then
  [ $# -ge 2 ] || { echo "$0: --torch needs a value: auto, debian, wheel, a python executable or a LibTorch folder" >&2; exit 2; }
  torch_choice=$2
  shift 2
fi
if [ "$torch_choice" = auto ]; then
  if [ "$(uname -m)" = x86_64 ] && grep -qm1 'vendor_id.*GenuineIntel' /proc/cpuinfo 2>/dev/null &&
     grep -qw avx2 /proc/cpuinfo; then
    torch_choice=wheel
  else
    torch_choice=debian
  fi
fi
torch_rest_args=("$@")
torch_cmake_args=()
torch_python=""

ctlab_wheel_python() {
  local version=${CTLAB_TORCH_WHEEL:-2.11.0}
  local venv=${CTLAB_TORCH_VENV:-$HOME/.cache/ctlab/torch-$version}
  local py=$venv/bin/python
  if ! "$py" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$version')" 2>/dev/null; then
    echo "torch: installing torch==$version from PyPI into $venv (about 4.5 GB with its CUDA libraries)" >&2
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      echo "torch: python3 -m venv failed; installing Debian's python3-venv" >&2
      ${SUDO:-} apt-get install -y -q --no-install-recommends python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
    "$py" -m pip install -q --disable-pip-version-check "torch==$version" numpy >&2
  fi
  echo "$py"
}

case "$torch_choice" in
  debian)
    torch_preset=debian
    build_dir=${CTLAB_BUILD_DIR:-build}
    ;;
  wheel)
    torch_preset=wheel
    build_dir=${CTLAB_BUILD_DIR:-build-wheel}
    torch_python=$(ctlab_wheel_python)
    ;;
  *)
    torch_preset=custom
    if [ -d "$torch_choice" ]; then
      build_dir=${CTLAB_BUILD_DIR:-build-custom}
      torch_cmake_args+=("-DCTLAB_TORCH_PYTHON=" "-DCMAKE_PREFIX_PATH=$(cd "$torch_choice" && pwd)${CTLAB_EXTRA_PREFIX_PATH:+;$CTLAB_EXTRA_PREFIX_PATH}")
    elif [ -x "$torch_choice" ] && "$torch_choice" -c 'import torch' 2>/dev/null; then
      build_dir=${CTLAB_BUILD_DIR:-build-custom}
      torch_python=$torch_choice
    else
      echo "$0: --torch '$torch_choice': expected auto, debian, wheel, a python executable with torch installed, or a LibTorch folder" >&2
      exit 2
    fi
    ;;
esac

if [ -n "$torch_python" ]; then
  torch_cmake_args+=("-DCTLAB_TORCH_PYTHON=$torch_python")
  if [ -n "${CTLAB_EXTRA_PREFIX_PATH:-}" ]; then
    torch_cmake_args+=("-DCMAKE_PREFIX_PATH=$CTLAB_EXTRA_PREFIX_PATH")
  fi
fi
