"""How far `pytest --benchmark` is from the referee: its per-step medians against the plain-loop medians of a
`fwbench verify --out` table (the same cells, ideally taken back to back on the same idle machine).

  pytest --benchmark --benchmark-json=bench.json tests/test_benchmark.py
  python reports/evidence/pytest-benchmark/benchmark_vs_referee.py bench.json reports/evidence/verify/verify-....json [--markdown out.md]

A measurement, not a test: the evidence behind README's paragraph on `pytest --benchmark`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("benchmark_json")
    p.add_argument("verify_json")
    p.add_argument("--tolerance", type=float, default=10.0, metavar="PCT")
    p.add_argument("--markdown")
    args = p.parse_args(argv)
    bench = json.load(open(args.benchmark_json))
    table = json.load(open(args.verify_json))
    referee = {(c["task"], c["impl"], c["device"]): statistics.median(c["plain_s"])
               for c in table["cells"] if c.get("plain_s")}
    rows = []
    for b in bench["benchmarks"]:
        key = tuple(b["extra_info"][k] for k in ("task", "impl", "device"))
        if key in referee:
            rows.append((*key, b["stats"]["median"], referee[key], b["stats"]["median"] / referee[key]))
    if not rows:
        sys.exit("no cell is in both files")
    tol = args.tolerance / 100
    lines = ["| task | impl | device | pytest-benchmark | referee (plain loop) | ratio |", "|---|---|---|---|---|---|"]
    lines += [f"| {t} | {i} | {d} | {b * 1e6:.4g} µs | {r * 1e6:.4g} µs | {x:.2f}{'' if abs(x - 1) <= tol else ' ✗'} |"
              for t, i, d, b, r, x in rows]
    within = sum(abs(x - 1) <= tol for *_, x in rows)
    lines.append(f"\n{within} of {len(rows)} cells within ±{args.tolerance:g}%; median ratio "
                 f"{statistics.median(x for *_, x in rows):.2f}.")
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
