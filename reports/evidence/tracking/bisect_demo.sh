#!/usr/bin/env bash
# fwbench bisect on a known history: clone this project's HEAD into a temporary folder, add 6 commits of which
# one (the SLOW_AT-th, default 4) computes numpy/manual single_layer's forward pass (X @ W, the difference, the
# loss) twice, then `fwbench bisect BASE TIP` for that one cell (quick profile, threshold 20%, one thread) inside
# the clone. Then `fwbench confirm` of a synthetic track report with two new change points of that cell: the slowed
# commit's (expected: confirmed) and one between two harmless commits (expected: rejected or inconclusive).
# Outputs, wall times and the CPU go to reports/evidence/tracking/bisect-demo.txt (confirm's issue body to
# confirm-demo-issue.md); the script exits 1 unless bisect names the slowed commit and confirm confirms only it.
# PYTHON: a Python with numpy and fwbench's dependencies (default: python3).
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
old = "    y_pred = X @ W\n    diff = y_pred - Y\n    loss = 0.5 * xp.sum(diff ** 2)\n"
assert old in s, "the numpy single_layer step changed: adapt the demo"
twice = "    for _ in range(2):      # the demo's slowdown: the forward pass twice\n" + old.replace("\n    ", "\n        ")
p.write_text(s.replace(old, twice.replace("\n    y_pred", "\n        y_pred", 1)))
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
  echo "# fwbench bisect demo: $(date -u +%Y-%m-%dT%H:%M:%SZ), CPU: $cpu ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before), python $("$py" -c 'import platform; print(platform.python_version())')"
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

# fwbench confirm of two synthetic change points of the cell: demo 1 -> demo 2 (harmless), the slowed commit's
"$py" - "$slow" "$(git rev-parse HEAD~5)" "$(git rev-parse HEAD~4)" > track.json <<'PY'
import json, sys
from bench.results import size_label
from bench.run import runner
slow, c1, c2 = sys.argv[1:]
size = size_label(runner.canonical("single_layer", {}))
def change(before, after, ratio):
    return {"cell": f"single_layer {size} numpy/manual cpu", "task": "single_layer", "impl": "numpy/manual",
            "device": "cpu", "size": size, "variant": None, "index": 3, "run_before": f"run-{before[:7]}",
            "run_after": f"run-{after[:7]}", "commit_before": before, "commit_after": after, "ratio": ratio,
            "ci": [ratio - 0.1, ratio + 0.1], "p": 0.001, "new": True}
parent = __import__("subprocess").run(["git", "rev-parse", slow + "^"], capture_output=True, text=True).stdout.strip()
print(json.dumps({"kind": "track", "machine": "bisect demo", "runs": [], "exit": 1,
                  "changes": [change(parent, slow, 1.6), change(c1, c2, 1.3)]}))
PY
echo "\$ fwbench confirm track.json --threshold 20 --threads 1 --markdown confirm-demo-issue.md --json confirm.json" >> "$out"
t0=$(date +%s)
set +e
nice -n 19 "$py" -m bench confirm track.json --threshold 20 --threads 1 --markdown "$here/confirm-demo-issue.md" \
  --json confirm.json --trend-url "https://example.invalid/{machine}/history.html" 2>confirm.log | tee -a "$out"
rc=${PIPESTATUS[0]}
[ "$rc" = 2 ] && cat confirm.log
set -e
echo "# exit $rc, wall $(( $(date +%s) - t0 )) s" >> "$out"
got=$("$py" -c "import json; print(' '.join(c['status'] + ':' + c['commit_after'][:7] for c in json.load(open('confirm.json'))['changes']))")
case "$rc $got" in
  "1 confirmed:${slow:0:7} rejected:"*|"1 confirmed:${slow:0:7} inconclusive:"*)
    echo "# OK: confirm confirmed the slowed commit's change point only ($got)" | tee -a "$out" ;;
  *) echo "# FAILED: confirm exit $rc, $got" | tee -a "$out"; exit 1 ;;
esac
