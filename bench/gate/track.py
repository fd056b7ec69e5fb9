"""`fwbench track RESULTS...`: the change points of every cell over one machine's history (Apache Otava).

Exit code 1 when a change point lies within the last --last runs (the newest runs start a new level of some
cell), 0 otherwise, 2 on bad input. See bench.gate.changes for the method and docs/tracking.md for the
parameters and the evidence behind them.
"""
from __future__ import annotations

from pathlib import Path

from bench.gate import changes as cp


def add_arguments(p):  # pragma: no mutate block
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files, or folders of them (*.json)")
    p.add_argument("--machine", metavar="M", help="the machine whose history to track (needed when the results "
                   "hold several)")
    p.add_argument("--last", type=int, default=cp.LAST, metavar="K",
                   help=f"a change point is new when it lies within the last K runs (default {cp.LAST})")
    p.add_argument("--window", type=int, default=cp.WINDOW_LEN, metavar="N",
                   help=f"Otava's window_len, in runs (default {cp.WINDOW_LEN})")
    p.add_argument("--max-p", type=float, default=cp.MAX_PVALUE, metavar="P",
                   help=f"Otava's max_pvalue (default {cp.MAX_PVALUE:g})")
    p.add_argument("--min-magnitude", type=float, default=cp.MIN_MAGNITUDE, metavar="R",
                   help=f"Otava's min_magnitude, about a relative change (default {cp.MIN_MAGNITUDE:g})")
    p.add_argument("--no-shift", action="store_true", help="track the raw medians: do not divide out each run's "
                   "run-wide shift of the cell's framework and device (the median change of its other cells)")
    p.add_argument("--json", metavar="FILE", help="also write the change points as JSON")
    p.add_argument("--markdown", metavar="FILE", help="also write a short Markdown table")


def _pct(x: float) -> str:
    return f"{(x - 1) * 100:+.1f}%"


def rows(report: dict) -> list[list[str]]:
    """One row per change point: cell, run, commits, change, CI, p, new."""
    out = []
    for c in report["changes"]:
        commits = f"{(c['commit_before'] or '?')[:7]} -> {(c['commit_after'] or '?')[:7]}"
        out.append([c["cell"], f"{c['index'] + 1} ({c['run_after']})", commits, _pct(c["ratio"]),
                    f"{_pct(c['ci'][0])} … {_pct(c['ci'][1])}", f"{c['p']:.2g}", "NEW" if c["new"] else ""])
    return out


COLUMNS = ["cell", "from run", "commits", "change", "95% CI", "p", "new"]


def headline(report: dict) -> str:
    """'2 change points over 22 runs of M, 1 new in the last 3 runs'."""
    n, new = len(report["changes"]), sum(c["new"] for c in report["changes"])
    return (f"{n} change point{'' if n == 1 else 's'} over {len(report['runs'])} runs of {report['machine']}, "
            f"{new} new in the last {report['last']} run{'' if report['last'] == 1 else 's'}")


def print_table(report: dict) -> None:  # pragma: no mutate block
    """The change points as a rich table on stdout, then the headline."""
    import sys

    from rich.console import Console
    from rich.table import Table
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"fwbench track: {report['machine']}")
    for i, col in enumerate(COLUMNS):
        table.add_column(col, justify="right" if 3 <= i <= 5 else "left")
    for c, row in zip(report["changes"], rows(report)):
        table.add_row(*row, style="bold red" if c["new"] else "")
    console.print(table)
    console.print(f"{headline(report)}.", markup=False)


def markdown(report: dict) -> str:
    """Headline and a short table of the change points."""
    mark = ":x:" if report["exit"] else ":white_check_mark:"
    lines = [f"### {mark} fwbench track: {headline(report)}", ""]
    if report["changes"]:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(s.replace("|", "\\|") for s in row) + " |" for row in rows(report)]
    return "\n".join(lines) + "\n"


def run(args) -> int:  # pragma: no mutate block
    from bench.results import write_atomic
    report = cp.track(args.results, args.machine, args.last, args.window, args.max_p, args.min_magnitude,
                      not args.no_shift)
    shown = {**report, "last": args.last}
    print_table(shown)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown(shown), encoding="utf-8")
    if args.json:
        write_atomic(args.json, report)
    return report["exit"]
