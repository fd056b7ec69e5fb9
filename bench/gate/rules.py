"""The regression gate's shared pieces: statistics, the machine's noise record, verdict tables and outputs.

significant() is asv's test, two-sided Mann-Whitney U at p < P_MAX where the sample sizes can reach it, else
non-overlapping 99% bootstrap CIs of the medians.

Used by `fwbench compare` (asv's rule between runs taken at different times), `fwbench ab` (pairwise
ratios of interleaved blocks) and `fwbench history`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from bench.errors import UsageError

P_MAX = 0.002                 # asv: two-sided Mann-Whitney U p below this counts as significant
# machine data; not under results/, whose folders fwbench publish/compare scan for results files (*.json)
NOISE_FILE = Path(__file__).resolve().parents[2] / "machines" / "noise.json"
REGRESSION, IMPROVEMENT, UNCHANGED = "regression", "improvement", "unchanged"
INCONCLUSIVE = "inconclusive"            # ab: the ratio's CI straddles the threshold when the time ran out
WITHIN_NOISE = "within noise"            # compare: within a threshold the noise raised above the one asked for
ENV, ONLY_BASE, ONLY_NEW = "environment differs", "only in base", "only in new"
FAILED_NEW, FAILED_BOTH, FAILED_BASE, SKIPPED = "failed in new", "failed in both", "failed in base", "skipped"
GATED = (REGRESSION, FAILED_NEW)          # the verdicts that make the exit code 1
ORDER = (FAILED_NEW, REGRESSION, INCONCLUSIVE, ENV, ONLY_BASE, ONLY_NEW, FAILED_BOTH, FAILED_BASE, SKIPPED,
         IMPROVEMENT, WITHIN_NOISE, UNCHANGED)
STYLE = {REGRESSION: "bold red", FAILED_NEW: "bold red", IMPROVEMENT: "green", UNCHANGED: "", ENV: "yellow",
         INCONCLUSIVE: "yellow", WITHIN_NOISE: "dim yellow"}


def median_ci(samples, confidence: float = 0.99, seed: int = 0) -> tuple[float, float]:
    """Bootstrap (percentile) confidence interval of the median of `samples`."""
    import numpy as np
    x = np.asarray(samples, dtype=float)
    if x.size < 3 or np.ptp(x) == 0:
        m = float(np.median(x))
        return m, m
    from scipy.stats import bootstrap
    res = bootstrap((x,), np.median, confidence_level=confidence, n_resamples=4000, method="percentile",
                    vectorized=True, axis=-1, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mann_whitney_floor(n: int, m: int) -> float:
    """The smallest two-sided p the exact Mann-Whitney U test can give for samples of n and m: 2 / C(n+m, n)."""
    from scipy.special import comb
    return 2 / comb(n + m, min(n, m)) if n and m else 1.0


def significant(a, b) -> tuple[bool, float | None, str]:
    """asv's test: two-sided Mann-Whitney U p < P_MAX when the sample sizes can reach it (7 v 7, 6 v 7; not
    6 v 6, whose floor is 2/924 = 0.0022), else non-overlapping 99% bootstrap CIs of the medians."""
    from scipy.stats import mannwhitneyu
    if mann_whitney_floor(len(a), len(b)) < P_MAX:
        p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        return p < P_MAX, p, f"Mann-Whitney p={p:.2g}"
    (alo, ahi), (blo, bhi) = median_ci(a), median_ci(b)
    apart = ahi < blo or bhi < alo
    return apart, None, "99% CIs " + ("apart" if apart else "overlap")


def ratio_ci(ratios, confidence: float = 0.99, seed: int = 0) -> tuple[float, float, float]:
    """Median of pairwise ratios and its bootstrap CI (computed on log ratios, so A/B and B/A are symmetric)."""
    import numpy as np
    logs = np.log(np.asarray(ratios, dtype=float))
    lo, hi = median_ci(logs, confidence, seed)
    return math.exp(float(np.median(logs))), math.exp(lo), math.exp(hi)


def noise(machine: str, path=None) -> tuple[float, str] | None:
    """(run-to-run noise in %, where it comes from) for `machine` from the noise file, or None if unknown."""
    path = Path(path) if path else NOISE_FILE
    if not path.exists():
        if path != NOISE_FILE:
            raise UsageError(f"{path}: no such noise file (write one with scripts/aa_evidence.py --write-noise)")
        return None
    try:
        rec = json.loads(path.read_text()).get("machines", {}).get(machine)
    except (OSError, ValueError, AttributeError) as e:
        raise UsageError(f"{path}: not a noise file ({e})") from None
    if not rec:
        return None
    return float(rec["run_to_run_pct"]), (f"run-to-run noise of {machine} measured by {rec.get('by', '?')} on "
                                          f"{rec.get('measured', '?')} ({rec.get('how', '')}; {path.name})")


def counts(cells) -> dict:
    """How many cells got each verdict, in ORDER."""
    got = [c["verdict"] for c in cells]
    return {v: got.count(v) for v in ORDER if v in got}


def finish(report: dict, gated=GATED) -> dict:
    """Sort the cells worst first, count the verdicts, set the exit code (1 on any `gated` verdict)."""
    report["cells"].sort(key=lambda c: ORDER.index(c["verdict"]))
    report["counts"] = counts(report["cells"])
    report["gated"] = list(gated)
    report["exit"] = int(any(c["verdict"] in gated for c in report["cells"]))
    return report


def headline(report: dict) -> str:
    """'2 regressions, 1 failed in new, 27 unchanged (threshold 5%)'."""
    parts = [f"{n} {v}" + ("s" if v in (REGRESSION, IMPROVEMENT) and n != 1 else "")
             for v, n in report["counts"].items()]
    return ", ".join(parts) or "no cells"


def _pct(r) -> str:
    return "–" if r is None else f"{(r - 1) * 100:+.1f}%"


def rows(report: dict) -> list[list[str]]:
    """Table rows: cell, base, new, change, CI/test, verdict, note."""
    from bench.report.lib import fmt_s
    out = []
    for c in report["cells"]:
        ci = c.get("ratio_ci")
        test = f"[{_pct(ci[0])}, {_pct(ci[1])}]" if ci else (c.get("test") or "")
        out.append([c["name"], fmt_s(c.get("base_median_s")), fmt_s(c.get("new_median_s")), _pct(c.get("ratio")),
                    test, c["verdict"], c.get("note") or ""])
    return out


def columns(report: dict) -> list[str]:
    """Column names of `rows`."""
    test = f"{report.get('confidence', 0.99):.0%} CI of change" if report["kind"] == "ab" else "significance"
    return ["cell", "base", "new", "change", test, "verdict", "note"]


def print_table(report: dict) -> None:  # pragma: no mutate block
    """The verdicts as a rich table on stdout, then the headline and the threshold's source."""
    import sys
    from rich.console import Console
    from rich.table import Table
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"fwbench {report['kind']}: {report['base']['label']} -> {report['new']['label']}")
    for i, col in enumerate(columns(report)):
        table.add_column(col, justify="right" if 1 <= i <= 4 else "left")
    for c, row in zip(report["cells"], rows(report)):
        table.add_row(*row, style=STYLE.get(c["verdict"], "dim"))
    console.print(table)
    console.print(f"{headline(report)}. {report['rule']}", markup=False)


def markdown(report: dict) -> str:
    """The verdicts as Markdown (a PR comment): headline, rule, table."""
    mark = ":x:" if report["exit"] else ":white_check_mark:"
    lines = [f"### {mark} fwbench {report['kind']}: {headline(report)}", "",
             f"base: `{report['base']['label']}`, new: `{report['new']['label']}`. {report['rule']}", "",
             "| " + " | ".join(columns(report)) + " |", "|" + "---|" * len(columns(report))]
    for c, row in zip(report["cells"], rows(report)):
        if c["verdict"] in report["gated"]:
            row[5] = f"**{row[5]}**"
        lines.append("| " + " | ".join(s.replace("|", "\\|") for s in row) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(report: dict, args) -> int:  # pragma: no mutate block
    """Print the table, write --markdown and --json if asked; the exit code."""
    print_table(report)
    if getattr(args, "markdown", None):
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown(report))
    if getattr(args, "json", None):
        from bench.results import write_atomic
        write_atomic(args.json, report)
    return report["exit"]


def add_output_arguments(p) -> None:  # pragma: no mutate block
    """--markdown and --json, shared by compare and ab."""
    p.add_argument("--markdown", metavar="FILE", help="also write the verdicts as Markdown (e.g. a PR comment)")
    p.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON")
