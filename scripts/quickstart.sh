#!/usr/bin/env bash
# The main job: install what is missing, build, list the plugins, run the quickstart grid
# (Transformer-XL vs the Compressive Transformer with mean pooling and with a learned
# convolution, on the bundled corpus; re-running resumes or reports), and write the
# report: the results table, attention by bucket, frequency buckets and figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
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
echo "outputs: results/ctlab.sqlite, results/runs/<run_id>/ (schema: results/README.md),"
echo "         results/reports/quickstart/ (report.md, data/*.csv, figures/*.png)"
