#!/usr/bin/env bash
# Run on a Debian 12 machine that reaches Debian's archive: downloads the Debian packages
# that a GPU machine with PyTorch but without network (and without Boost, GoogleTest,
# nlohmann-json, SQLite, HDF5 or Gloo development files) needs to build ctlab with every
# feature on, into .gpu-deps/ at the repository root. bench/gpu.sh unpacks them into a
# private prefix there (never into /). HDF5's shared library comes with the libraries it
# loads (libcurl and its TLS stack) that such a machine may lack.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
[ -n "$(find /var/lib/apt/lists -name '*Packages*' -print -quit 2>/dev/null)" ] || apt-get update -q
dev=(libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
  libboost-filesystem1.74-dev libboost-filesystem1.74.0 libboost-system1.74-dev libboost-system1.74.0
  libgtest-dev libsqlite3-dev libsqlite3-0 nlohmann-json3-dev
  libgloo-dev                                   # headers only: c10d's Gloo group lives in LibTorch
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libhdf5-cpp-103-1 libhdf5-hl-cpp-100 hdf5-helpers libaec-dev)
# What libhdf5-103-1 loads, less what every Linux has (libc, libstdc++, zlib).
runtime=(libsz2 libaec0 libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libbrotli1 libldap-2.5-0
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 libsasl2-2
  libsasl2-modules-db libdb5.3 libidn2-0 libunistring2 libgnutls30 libhogweed6 libnettle8 libgmp10
  libp11-kit0 libtasn1-6 libffi8 libzstd1 libssl3)
apt-get download "${dev[@]}" "${runtime[@]}"
ls -la
du -sh .
