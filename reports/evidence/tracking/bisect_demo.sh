#!/usr/bin/env bash
# fwbench bisect on a known history: clone this project's HEAD into a temporary folder, add 6 commits of which
# one (the SLOW_AT-th, default 4) computes numpy/manual single_layer's forward pass twice (~+50% per step), then
# `fwbench bisect BASE TIP` for that one cell (quick profile, threshold 20%, one thread) inside the clone.
# Its output, the wall time and the CPU go to reports/evidence/tracking/bisect-demo.txt; the script exits 1 unless
# bisect names the slowed commit. PYTHON: a Python with numpy and fwbench's dependencies (default: python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
out="$here/bisect-demo.txt"
py=${PYTHON:-python3}
slow_at=${SLOW_AT:-4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

head=$(git -C "$root" rev-parse HEAD)
git clone -q --no-checkout "$root" "$tmp/fwbench"
cd "$tmp/fwbench"
git checkout -q -B bisect-demo "$head"
commit() { git -c user.name=demo -c user.email=demo@example.invalid commit -qam "$1"; }
for i in 1 2 3 4 5 6; do
  if [ "$i" = "$slow_at" ]; then
    "$py" - <<'PY'
from pathlib import Path
p = Path("implementations/numpy/single_layer.py")
s = p.read_text()
old = "    y_pred = X @ W\n    diff"
assert old in s, "the numpy single_layer step changed: adapt the demo"
p.write_text(s.replace(old, "    y_pred = X @ W\n    y_pred = X @ W          # the demo's slowdown: the forward pass twice\n    diff"))
PY
    commit "demo $i: numpy/manual single_layer computes its forward pass twice"
  else
    echo "# demo commit $i" >> implementations/numpy/__init__.py
    commit "demo $i: a comment in implementations/numpy/__init__.py"
  fi
done
slow=$(git log --format=%H --grep="computes its forward pass twice" -n 1)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //' || uname -m)

{
  echo "# fwbench bisect demo: $(date -u +%Y-%m-%dT%H:%M:%SZ), CPU: $cpu ($(nproc) CPUs), python $("$py" -c 'import platform; print(platform.python_version())')"
  echo "# clone of ${head:0:10} + 6 commits; the slowed one is demo $slow_at, ${slow:0:10}"
  git log --format="#   %h %s" --reverse "$head..HEAD"
  echo "\$ fwbench bisect ${head:0:10} HEAD --tasks single_layer --impls numpy/manual --devices cpu --threshold 20 --threads 1"
} > "$out"
t0=$(date +%s)
set +e
nice -n 19 "$py" -m bench bisect "$head" HEAD --tasks single_layer --impls numpy/manual --devices cpu \
  --threshold 20 --threads 1 2>&1 | tee -a "$out"
rc=${PIPESTATUS[0]}
set -e
echo "# exit $rc, wall $(( $(date +%s) - t0 )) s" >> "$out"
if grep -q "^first bad commit: $slow " "$out"; then
  echo "# OK: bisect named the slowed commit ${slow:0:10}" | tee -a "$out"
else
  echo "# FAILED: bisect did not name the slowed commit ${slow:0:10}" | tee -a "$out"
  exit 1
fi
