#!/usr/bin/env bash
# The main job: install what is missing, build, list the plugins, run the quickstart grid
# (Transformer-XL vs the Compressive Transformer with mean pooling and with a learned
# convolution, on the bundled corpus) and its long-range study (the copy task, 3 seeds,
# compared with a Transformer-XL of the same attention cost); re-running resumes or
# reports. Each ends with its report: tables, statistics, attention by bucket, figures.
#   scripts/quickstart.sh [--torch auto|debian|wheel|PYTHON|LIBTORCH_DIR]   (see scripts/build.sh;
#   by default the build that trains fastest on this machine)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Only what the main job runs: the executable and the built-in plugins (scripts/test.sh
# builds the tests and benchmarks).
CTLAB_BUILD_TARGETS="ctlab ctlab_builtin_plugins" bash scripts/build.sh "$@"
source scripts/torch_env.sh "$@"
ctlab=$build_dir/bin/ctlab
echo
echo "== plugins found =="
"$ctlab" plugins list
echo
echo "== experiments/quickstart/grid.ini =="
jobs=$(( $(nproc) < 2 ? 1 : 2 ))
"$ctlab" grid run experiments/quickstart/grid.ini --jobs "$jobs" --results results
echo
echo "== cells =="
"$ctlab" grid status experiments/quickstart/grid.ini --results results
echo
echo "== report =="
"$ctlab" report quickstart --results results
echo
echo "== experiments/quickstart/long-range.ini: what compression buys on a long-range task =="
"$ctlab" grid run experiments/quickstart/long-range.ini --jobs "$jobs" --results results
echo
"$ctlab" grid status experiments/quickstart/long-range.ini --results results
"$ctlab" report quickstart-long-range --results results > /dev/null
echo
echo "== in plain words =="
grep -h "^In plain words" results/reports/quickstart/report.md results/reports/quickstart-long-range/report.md || true
echo
echo "outputs: results/ctlab.sqlite, results/runs/<run_id>/ (schema: results/README.md),"
echo "         results/reports/quickstart/ and results/reports/quickstart-long-range/"
echo "         (report.md, data/*.csv with comparisons.csv, figures/*.png)"
