#!/bin/sh
# 20 quick runs (--all-rounds) one after another on a quiet machine (no other job), for the change-point evidence (issue 22)
set -u
cd "$(git rev-parse --show-toplevel)"
out=reports/evidence/tracking/quiet
for i in $(seq -w 1 20); do
  start=$(date +%s)
  .venv/bin/python -m bench run --profile quick --all-rounds --out "$out/run-$i.json" > "$out/run-$i.log" 2>&1
  echo "run-$i rc=$? wall=$(( $(date +%s) - start ))s end=$(date -u +%H:%M:%S) load=$(cut -d' ' -f1 /proc/loadavg)" >> "$out/done.txt"
done
touch "$out/done.flag"
