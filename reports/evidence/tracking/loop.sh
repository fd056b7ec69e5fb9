#!/bin/sh
# 22 quick runs (--all-rounds) of this checkout, one after another, for the change-point evidence (issue 22).
set -u
cd "$(git rev-parse --show-toplevel)"
out=reports/evidence/tracking/runs
for i in $(seq -w 1 22); do
  [ -f "$out/run-$i.json" ] && continue
  start=$(date +%s)
  .venv/bin/python -m bench run --profile quick --all-rounds --out "$out/run-$i.json" > "$out/run-$i.log" 2>&1
  echo "run-$i rc=$? wall=$(( $(date +%s) - start ))s $(date -u +%H:%M:%S)" >> "$out/done.txt"
done
touch "$out/done.flag"
