"""Inject a slowdown into one cell at a time and see what `fwbench compare` makes of it (no timing, seconds).

For each ok cell of BASE and each factor (x1.10, x1.25): NEW' = a copy of BASE (noise-free) or of NEW (noisy,
another real run of the same machine and profile) with that one cell's per-block samples multiplied by the
factor. Tabulated: the injected cell's verdict, compare's exit code, and how many OTHER cells got a verdict
different from compare(BASE, the same NEW without the injection). Run from the repository root (with the
checkout's bench importable, e.g. PYTHONPATH=.):

    python reports/evidence/tracking/compare_injection.py BASE [NEW] --out reports/evidence/tracking/compare-injection

writes OUT/BASE.json and OUT/BASE.md (OUT/BASE-vs-NEW.* with NEW).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

from bench import results
from bench.gate import compare, rules

FACTORS = (1.10, 1.25)
EDGE = {rules.WITHIN_NOISE, rules.UNCHANGED}    # the label that flips when the threshold crosses the requested one


def scaled(data: dict, index: int, factor: float) -> dict:
    """A copy of results `data` with cell number `index`'s samples and step figures multiplied by `factor`."""
    out = copy.deepcopy(data)
    step = out["results"][index]["step"]
    step["samples_s"] = [s * factor for s in step["samples_s"]]
    for k in ("median_s", "min_s", "mean_s", "iqr_s"):
        step[k] *= factor
    step["ci95_s"] = [s * factor for s in step["ci95_s"]]
    return out


def verdicts(report: dict) -> dict:
    return {c["name"]: c["verdict"] for c in report["cells"]}


def inject_all(base_path, new_path, mode: str, tmp: Path) -> dict:
    """Every ok cell of NEW x FACTORS injected alone: one row each, plus the uninjected pair's report summary."""
    new = results.load(new_path)
    plain = compare.compare(base_path, new_path)
    before = verdicts(plain)
    rows = []
    for i, cell in enumerate(new["results"]):
        if cell["status"] != "ok":
            continue
        name = compare.cell_name({**cell, "size": results.size_label(cell["size"])})
        for f in FACTORS:
            path = results.write_atomic(tmp / f"{mode}-{i}-{f}.json", {**scaled(new, i, f), "run_id": f"inj{i}"})
            report = compare.compare(base_path, path)
            after = verdicts(report)
            changed = sorted(k for k in after if k != name and after[k] != before.get(k))
            got = next(c for c in report["cells"] if c["name"] == name)
            rows.append({"mode": mode, "cell": name, "blocks": len(cell["step"]["samples_s"]), "factor": f,
                         "verdict": got["verdict"], "verdict_without": before.get(name), "change": got["ratio"],
                         "threshold_pct": report["threshold_pct"], "exit": report["exit"],
                         "others_changed": len(changed), "changed": {k: [before.get(k), after[k]] for k in changed},
                         "note": got.get("note") or ""})
    return {"mode": mode, "base": str(base_path), "new": str(new_path), "threshold_pct": plain["threshold_pct"],
            "rule": plain["rule"], "exit_without": plain["exit"], "counts_without": plain["counts"], "rows": rows}


def summary(part: dict) -> dict:
    """Per factor: cells injected, flagged as regression, exit 1, runs where any other cell changed."""
    out = {}
    for f in FACTORS:
        rows = [r for r in part["rows"] if r["factor"] == f]
        out[f"x{f:.2f}"] = {"cells": len(rows), "regression": sum(r["verdict"] == rules.REGRESSION for r in rows),
                            "exit_1": sum(r["exit"] == 1 for r in rows),
                            "verdicts": dict(sorted({v: sum(r["verdict"] == v for r in rows)
                                                     for v in {r["verdict"] for r in rows}}.items())),
                            "any_other_changed": sum(r["others_changed"] > 0 for r in rows),
                            "other_changes": sum(r["others_changed"] for r in rows),
                            "other_changes_noise_label_only": sum(set(c) == EDGE for r in rows for c in r["changed"].values()),
                            "threshold_moved": sum(r["threshold_pct"] != part["threshold_pct"] for r in rows)}
    return out


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# compare: one cell slowed at a time ({env.get('cpu', {}).get('model') or '?'}, "
             f"{env.get('machine')}, {env.get('threads')} threads, {report['profile']} profile)", "",
             "Each ok cell's per-block samples multiplied by the factor in NEW, that cell alone; `fwbench compare "
             "BASE NEW'` with its defaults. *others changed*: cells other than the injected one whose verdict "
             "differs from compare(BASE, NEW) without the injection. Made by "
             "`reports/evidence/tracking/compare_injection.py`.", ""]
    for part in report["parts"]:
        what = ("noise-free: NEW = a copy of BASE" if part["mode"] == "noise-free" else
                f"noisy: NEW = another real run ({Path(part['new']).name})")
        lines += [f"## {what}", "", f"BASE `{Path(part['base']).name}`; without injection: exit "
                  f"{part['exit_without']}, {part['counts_without']}; threshold in force {part['threshold_pct']:.4g}%.",
                  "", "| factor | cells | regression | exit 1 | verdicts | injections moving another cell | other cells "
                  "moved | of which only within noise <-> unchanged | injections moving the threshold |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for f, s in part["summary"].items():
            said = ", ".join(f"{n} {v}" for v, n in s["verdicts"].items())
            lines.append(f"| {f} | {s['cells']} | {s['regression']} | {s['exit_1']} | {said} | {s['any_other_changed']} "
                         f"| {s['other_changes']} | {s['other_changes_noise_label_only']} | {s['threshold_moved']} |")
        lines += ["", "| cell | blocks | factor | verdict (without) | change after shift | threshold | exit | others "
                  "changed |", "|---|---|---|---|---|---|---|---|"]
        for r in part["rows"]:
            moved = ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in r["changed"].items())
            lines.append(f"| {r['cell']} | {r['blocks']} | x{r['factor']:.2f} | {r['verdict']} ({r['verdict_without']}) "
                         f"| {(r['change'] - 1) * 100:+.1f}% | {r['threshold_pct']:.4g}% | {r['exit']} | {r['others_changed']}"
                         f"{' (' + moved + ')' if moved else ''} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", help="a quick-profile results file")
    p.add_argument("new", nargs="?", help="another real run of the same machine and profile (the noisy pairs)")
    p.add_argument("--out", required=True, help="output folder: writes BASE[-vs-NEW].json and .md there")
    args = p.parse_args(argv)
    import bench
    here = Path(__file__).resolve().parents[3]
    if Path(bench.__file__).resolve().parents[1] != here:
        print(f"note: bench imported from {Path(bench.__file__).parent}, not this checkout", file=sys.stderr)
    base = results.load(args.base)
    if args.new:
        new = results.load(args.new)
        same = lambda d: (d.get("profile"), d["environment"].get("machine"), d["environment"].get("threads"))
        if same(base) != same(new):
            print(f"{args.new} is not the same profile, machine and threads as {args.base}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        copy_path = results.write_atomic(tmp / "copy.json", {**base, "run_id": f"{base['run_id']}-copy"})
        parts = [inject_all(args.base, copy_path, "noise-free", tmp)]
        if args.new:
            parts.append(inject_all(args.base, args.new, "noisy", tmp))
    for part in parts:
        part["summary"] = summary(part)
        if part["mode"] == "noise-free":
            part["new"] = f"{args.base} (a copy)"
    report = {"profile": base.get("profile"), "environment": base["environment"], "factors": list(FACTORS),
              "parts": parts}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    out = Path(args.out) / (Path(args.base).stem + (f"-vs-{Path(args.new).stem}" if args.new else ""))
    Path(f"{out}.json").write_text(json.dumps(report, indent=1) + "\n")
    Path(f"{out}.md").write_text(markdown(report))
    for part in parts:
        print(part["mode"], json.dumps(part["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
