#!/usr/bin/env bash
# The SDK test: exactly what plugins/README.md tells a user to do. Install ctlab into a
# temporary prefix, copy plugins/template, build it out of tree against the installed
# package, and check that the installed ctlab loads it with --plugin-dir.
# Args: <source dir> <build dir> [compiler launcher]
set -euo pipefail
src=$1 build=$2 launcher=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cp -r "$src/plugins/template" "$work/my_plugin"
args=(-S "$work/my_plugin" -B "$work/my_plugin/build" -DCMAKE_PREFIX_PATH="$work/prefix")
[ -n "$launcher" ] && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
cmake "${args[@]}" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/my_plugin/build" -j2 > "$work/build.log" || { cat "$work/build.log"; exit 1; }

ctlab="$work/prefix/bin/ctlab"
list=$(env -u CTLAB_PLUGIN_PATH "$ctlab" plugins list --plugin-dir "$work/my_plugin/build")
echo "$list"
fail() { echo "FAIL: $*"; exit 1; }
grep -q "template@1 .*$work/my_plugin/build/libctlab_plugin_template.so" <<<"$list" || fail "template@1 not listed"
# The installed ctlab finds its own installed plugins, not the build tree's.
grep -q "mean_pool@1 .*$work/prefix/lib/ctlab/plugins/libctlab_plugin_mean_pool.so" <<<"$list" \
  || fail "installed mean_pool@1 not found under the prefix"
grep -q "rejected" <<<"$list" && fail "unexpected rejected files"
# ...and a run configuration can use it, with its declared parameter validated.
cfg=$(env -u CTLAB_PLUGIN_PATH "$ctlab" config --plugin-dir "$work/my_plugin/build" \
      --set compression=template --set compression.position=0)
grep -q "^compression = template@1$" <<<"$cfg" || fail "config did not resolve template@1"
grep -q "^position = 0$" <<<"$cfg" || fail "config lost compression.position"
echo "sdk: template built out of tree against $work/prefix and loaded"
