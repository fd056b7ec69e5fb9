"""Does `pytest --benchmark` read what `fwbench run` reads? A bracket on this machine, run from the repo root:

  python reports/evidence/pytest/bracket.py                      # fwbench run -> A, pytest --benchmark -> P, fwbench run -> B
  python reports/evidence/pytest/bracket.py --order sequential   # the same with pytest's cells one after another

A cell agrees when P's median (pytest-benchmark's, from --benchmark-json) lies inside [min(A, B) / 1.1,
max(A, B) * 1.1]; the ratio is P over the geometric mean of A and B. Done when >= 28 of the 30 quick cells agree
and the median ratio is within [0.97, 1.03]. Writes bracket[-sequential]-<date>.{json,md} and the three runs'
files in a folder of that name, next to this script. A measurement, not a test; run nothing else meanwhile.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOL = 1.1


def sh(cmd: list[str]) -> tuple[int, float]:
    """Run `cmd` from the repo root; (exit code, wall seconds)."""
    print("+", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    return rc, time.perf_counter() - t0


def run_medians(path: Path) -> dict:
    """{(task, impl, device): median s} of a results file's ok cells."""
    data = json.loads(path.read_text())
    return {(r["task"], r["impl"], r["device"]): r["step"]["median_s"] for r in data["results"] if r["status"] == "ok"}


def pytest_medians(path: Path) -> dict:
    """{(task, impl, device): median s} of a --benchmark-json file."""
    data = json.loads(path.read_text())
    return {tuple(b["extra_info"][k] for k in ("task", "impl", "device")): b["stats"]["median"] for b in data["benchmarks"]}


def table(a: dict, p: dict, b: dict) -> list[dict]:
    """One row per cell of all three: the medians, the bracket, the ratio, whether P is inside."""
    rows = []
    for key in sorted(set(a) & set(p) & set(b), key=lambda k: list(a).index(k)):
        lo, hi = min(a[key], b[key]) / TOL, max(a[key], b[key]) * TOL
        rows.append({"task": key[0], "impl": key[1], "device": key[2], "A_s": a[key], "P_s": p[key], "B_s": b[key],
                     "ratio": p[key] / math.sqrt(a[key] * b[key]), "B_over_A": b[key] / a[key],
                     "inside": lo <= p[key] <= hi})
    return rows


def markdown(out: dict) -> str:
    """The table and the verdict as Markdown."""
    us = lambda s: f"{s * 1e6:.4g} µs"    # noqa: E731
    lines = [f"# pytest --benchmark vs fwbench run, bracketed ({out['created']})", "",
             f"CPU: {out['cpu']}. Order of the pytest session: {out['order']}. " + " → ".join(
                 f"`{c}`" for c in out["commands"]), "",
             "| task | impl | device | A (fwbench run) | P (pytest --benchmark) | B (fwbench run) | P / √(A·B) | B / A | inside ±10% |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['impl']} | {r['device']} | {us(r['A_s'])} | {us(r['P_s'])} | {us(r['B_s'])} | "
              f"{r['ratio']:.3f} | {r['B_over_A']:.3f} | {'yes' if r['inside'] else '**no**'} |" for r in out["cells"]]
    s = out["summary"]
    lines += ["", f"**{s['inside']} of {s['cells']} cells** inside [min(A,B)/1.1, max(A,B)·1.1] (wanted ≥ 28 of 30); "
              f"median ratio P/√(A·B) **{s['median_ratio']:.3f}** (wanted 0.97–1.03); median B/A {s['median_B_over_A']:.3f}. "
              f"Verdict: **{'met' if s['met'] else 'missed'}**.", "",
              f"Wall time: A {out['wall_s']['A']:.0f} s, pytest --benchmark {out['wall_s']['P']:.0f} s, "
              f"B {out['wall_s']['B']:.0f} s." + (f" Outside: {', '.join(s['outside'])}." if s["outside"] else "")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--order", choices=("interleaved", "sequential"), default="interleaved")
    args = p.parse_args(argv)
    now = datetime.now(timezone.utc)
    name = f"bracket{'' if args.order == 'interleaved' else '-' + args.order}-{now:%Y-%m-%dT%H%MZ}"
    folder = HERE / name
    folder.mkdir(parents=True, exist_ok=True)
    rel = folder.relative_to(Path.cwd())
    py = Path(sys.executable).name
    cmds = {"A": [py, "-m", "bench", "run", "--out", str(rel / "A.json")],
            "P": [py, "-m", "pytest", "--benchmark", "tests/test_benchmark.py", "-q", "-p", "no:cacheprovider",
                  f"--benchmark-json={rel / 'P.json'}", "--fwbench-out", str(rel / "P-results.json"),
                  "--fwbench-order", args.order],
            "B": [py, "-m", "bench", "run", "--out", str(rel / "B.json")]}
    wall, codes = {}, {}
    for key in ("A", "P", "B"):
        codes[key], wall[key] = sh([sys.executable, *cmds[key][1:]])
    a, b = run_medians(folder / "A.json"), run_medians(folder / "B.json")
    pm = pytest_medians(folder / "P.json")
    rows = table(a, pm, b)
    env = json.loads((folder / "A.json").read_text())["environment"]
    cpu = env["cpu"]
    inside = sum(r["inside"] for r in rows)
    median_ratio = statistics.median(r["ratio"] for r in rows) if rows else float("nan")
    keras = [r for r in rows if r["impl"].startswith("keras")]
    out = {"created": now.isoformat(timespec="seconds"), "order": args.order,
           "cpu": f"{cpu['model']}, {cpu['cores_physical']} physical cores ({env['machine']}), {env['platform']}",
           "commands": [" ".join(cmds[k]) for k in ("A", "P", "B")], "exit_codes": codes,
           "wall_s": {k: round(v, 1) for k, v in wall.items()}, "cells": rows,
           "summary": {"cells": len(rows), "inside": inside, "median_ratio": median_ratio,
                       "median_B_over_A": statistics.median(r["B_over_A"] for r in rows) if rows else float("nan"),
                       "keras_inside": f"{sum(r['inside'] for r in keras)} of {len(keras)}",
                       "outside": [f"{r['task']} {r['impl']} ({r['ratio']:.2f})" for r in rows if not r["inside"]],
                       "met": inside >= 28 and len(rows) >= 30 and 0.97 <= median_ratio <= 1.03}}
    (HERE / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (HERE / f"{name}.md").write_text(markdown(out))
    print(markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
