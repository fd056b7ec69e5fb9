"""`fwbench export`: results files in the formats of existing CI dashboards.

github-action-benchmark ("customSmallerIsBetter"): a JSON list of {name, unit, value, range, extra}, one entry
per ok cell, value = median step time in microseconds, range = half the width of its 95% CI. Feed it to
benchmark-action/github-action-benchmark with `tool: customSmallerIsBetter`. (pytest-benchmark's own storage
comes from `pytest --benchmark --benchmark-autosave`, not from this command.)
"""
from __future__ import annotations

import json
import sys

FORMATS = ("github-action-benchmark",)
UNIT = "us/step"


def add_arguments(p):
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files, or folders of them")
    p.add_argument("--format", choices=FORMATS, required=True, help="the dashboard's format")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")


def entry(r, with_machine: bool) -> dict:
    """One customSmallerIsBetter entry for an ok cell (a row of bench.report.frame)."""
    name = f"{r['task']} {r['size']} {r['impl']} {r['device']}" + (f" ({r['variant']})" if r["variant"] else "")
    if with_machine:
        name += f" [{r['machine']}]"
    lo, hi = r["ci_lo_s"] * 1e6, r["ci_hi_s"] * 1e6
    extra = (f"95% CI {lo:.4g}-{hi:.4g} us; IQR/median {r['rel_iqr']:.1%}; {r['n_samples']} blocks x "
             f"{r['block']} steps; machine {r['machine']}; run {r['run_id']}")
    if r["precision_pct"] == r["precision_pct"]:          # not NaN: the run recorded the precision reached
        target = r["target_pct"]
        extra += f"; precision ±{r['precision_pct']:.2g}%" + ("" if target != target else (
            f" (target ±{target:g}%" + (": MISSED)" if r["precision_met"] in (False,) else ": met)")))
    return {"name": name, "unit": UNIT, "value": round(r["median_s"] * 1e6, 4),
            "range": f"± {(hi - lo) / 2:.3g}", "extra": extra}


def github_action_benchmark(paths) -> list[dict]:
    """Every ok cell of the results files as customSmallerIsBetter entries (the machine in the name if several)."""
    from bench.errors import UsageError
    from bench.report.frame import load_frame
    df, _ = load_frame(paths)
    ok = df[df["status"] == "ok"]
    out = [entry(r, df["machine"].nunique() > 1) for r in ok.to_dict("records")]
    names = [e["name"] for e in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"the same cell appears in several results files ({dup[0]}); export one run at a time")
    return out


def run(args) -> int:
    text = json.dumps(github_action_benchmark(args.results), indent=1, ensure_ascii=False) + "\n"
    if args.out:
        from pathlib import Path
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
