#!/usr/bin/env bash
# The main job: install what is missing, build, list the plugins, run the quickstart grid
# (Transformer-XL vs the Compressive Transformer with mean pooling and with a learned
# convolution, on the bundled corpus) and its long-range study (the copy task, 3 seeds,
# compared with a Transformer-XL of the same attention cost); re-running resumes or
# reports. Each ends with its report: tables, statistics, attention by bucket, figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Only what the main job runs: the executable and the built-in plugins (scripts/test.sh
# builds the tests and benchmarks).
CTLAB_BUILD_TARGETS="ctlab ctlab_builtin_plugins" bash scripts/build.sh
echo
echo "== plugins found =="
build/bin/ctlab plugins list
echo
echo "== experiments/quickstart/grid.ini =="
jobs=$(( $(nproc) < 2 ? 1 : 2 ))
build/bin/ctlab grid run experiments/quickstart/grid.ini --jobs "$jobs" --results results
echo
echo "== cells =="
build/bin/ctlab grid status experiments/quickstart/grid.ini --results results
echo
echo "== report =="
build/bin/ctlab report quickstart --results results
echo
echo "== experiments/quickstart/long-range.ini: what compression buys on a long-range task =="
build/bin/ctlab grid run experiments/quickstart/long-range.ini --jobs "$jobs" --results results
echo
build/bin/ctlab grid status experiments/quickstart/long-range.ini --results results
build/bin/ctlab report quickstart-long-range --results results > /dev/null
echo
echo "== in plain words =="
grep -h "^In plain words" results/reports/quickstart/report.md results/reports/quickstart-long-range/report.md || true
echo
echo "outputs: results/ctlab.sqlite, results/runs/<run_id>/ (schema: results/README.md),"
echo "         results/reports/quickstart/ and results/reports/quickstart-long-range/"
echo "         (report.md, data/*.csv with comparisons.csv, figures/*.png)"
