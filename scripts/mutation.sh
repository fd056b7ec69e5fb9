#!/usr/bin/env bash
# Mutation testing (mutmut) of the modules that decide numbers, against the fast framework-free tests named in
# pyproject.toml's [tool.mutmut]. Usage: scripts/mutation.sh [mutmut run arguments, e.g. "bench.run.timing*"]
# Results: `mutmut results` (survivors), `mutmut show NAME` (a survivor's diff). Needs `pip install '.[test]'`.
set -euo pipefail
cd "$(dirname "$0")/.."
# a shared machine: wait while the file named by $FWBENCH_QUIET exists (someone is taking timings)
while [ -n "${FWBENCH_QUIET:-}" ] && [ -e "$FWBENCH_QUIET" ]; do sleep 15; done
python -m mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
python -m mutmut results
