#!/usr/bin/env bash
# The main job: install what is missing, build, show the plugins ctlab found and the fully
# resolved configuration of the default run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo
echo "== plugins found =="
build/bin/ctlab plugins list
echo
echo "== resolved configuration of experiments/default/run.ini =="
build/bin/ctlab config experiments/default/run.ini
