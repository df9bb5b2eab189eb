#!/usr/bin/env bash
# A build stamps the commit it was built at, not the one it was configured at: a tiny
# project in a temporary git repository uses cmake/GitCommit.cmake as core/ does, is
# configured and built at commit A, then rebuilt with a plain `cmake --build` at commit B;
# then a second build at B beside the first rebuilt at C.
#   commit_stamp.sh <ctlab source dir> <cmake generator>
set -euo pipefail
src=$1
generator=${2:-Ninja}
work=$(mktemp -d /tmp/ctlab-stamp-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q repo
cd repo
git config user.email test@example.invalid
git config user.name test
cat > CMakeLists.txt <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(stamp CXX)
list(APPEND CMAKE_MODULE_PATH "$src/cmake")
include(GitCommit)
add_executable(stamp main.cpp)
ctlab_stamp_git_commit(stamp "$src/core/src/build_info/git_commit.cpp.in")
CMAKE
cat > main.cpp <<'CPP'
#include <iostream>
#include <string>
namespace ctlab { std::string git_commit(); }
int main() { std::cout << ctlab::git_commit() << "\n"; }
CPP
git add -A && git commit -qm A
a=$(git rev-parse --short=12 HEAD)
cmake -S . -B build -G "$generator" > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build >> build.log 2>&1 || { cat build.log; exit 1; }
got=$(build/stamp)
[ "$got" = "$a" ] || { echo "FAIL: built at $a, stamped '$got'"; exit 1; }
before=$(stat -c %Y.%N build/stamp 2>/dev/null || stat -c %Y build/stamp)
sleep 1
cmake --build build >> build.log 2>&1
[ "$(stat -c %Y.%N build/stamp 2>/dev/null || stat -c %Y build/stamp)" = "$before" ] ||
  { echo "FAIL: an unchanged commit relinked the binary"; exit 1; }
git commit -q --allow-empty -m B
b=$(git rev-parse --short=12 HEAD)
cmake --build build >> build.log 2>&1 || { cat build.log; exit 1; }
got=$(build/stamp)
[ "$got" = "$b" ] || { echo "FAIL: rebuilt at $b (built before at $a), stamped '$got'"; exit 1; }
# A second build configured and built at B, then the first rebuilt at C: two builds of two
# commits side by side, each stamping its own.
cmake -S . -B build2 -G "$generator" >> build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build2 >> build.log 2>&1 || { cat build.log; exit 1; }
git commit -q --allow-empty -m C
c=$(git rev-parse --short=12 HEAD)
cmake --build build >> build.log 2>&1 || { cat build.log; exit 1; }
[ "$(build/stamp)" = "$c" ] || { echo "FAIL: build rebuilt at $c stamped '$(build/stamp)'"; exit 1; }
[ "$(build2/stamp)" = "$b" ] || { echo "FAIL: build2, built at $b, stamped '$(build2/stamp)'"; exit 1; }
echo "ok: $a, then $b, then $c beside a second build at $b: each build stamped with its own commit"
