#!/usr/bin/env bash
# The main job: install what is missing, build, list the plugins, train the default run on
# the bundled corpus (about 3 minutes on 2 cores; re-running resumes or reports it), and
# show its metrics from the run store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo
echo "== plugins found =="
build/bin/ctlab plugins list
echo
echo "== training experiments/default/run.ini =="
build/bin/ctlab train experiments/default/run.ini --results results
echo
echo "== metrics of experiment 'default' (results/ctlab.sqlite) =="
sqlite3 -header -column results/ctlab.sqlite "
  SELECT r.run_id, r.status, r.step, m.key, printf('%.4f', m.value) AS value
  FROM runs r JOIN metrics m ON m.run_id = r.run_id
  WHERE r.experiment = 'default' AND m.key IN ('train/bpc', 'valid/bpc')
    AND m.step = (SELECT max(step) FROM metrics WHERE run_id = r.run_id AND key = m.key)
  ORDER BY r.run_id, m.key;"
echo
echo "outputs: results/runs/<run_id>/ (config.ini, checkpoint.pt, log.txt); schema: results/README.md"
