#!/usr/bin/env bash
# Fails (listing the files) when a C++ source under core/, analysis/, bench/, plugins/ or
# tests/ differs from what clang-format makes of it with the root .clang-format. Fix with:
#   clang-format -i <file>...
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"
if ! command -v clang-format >/dev/null; then
  echo "check_format: clang-format is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
bad=()
while IFS= read -r -d '' f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(find core analysis bench plugins tests \( -name '*.cpp' -o -name '*.h' \) -print0 | sort -z)
if [ ${#bad[@]} -gt 0 ]; then
  printf 'not clang-formatted: %s\n' "${bad[@]}"
  echo "fix with: clang-format -i <file>...   (the root .clang-format applies)"
  exit 1
fi
echo "format: every C++ file is clang-formatted"
