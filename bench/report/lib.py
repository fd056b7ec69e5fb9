"""Shared pieces of the report: number formatting, table cells, run groups and the headline size per task."""
from __future__ import annotations

import json
import math


def fmt_s(x) -> str:
    """Seconds as a short human figure: '850 ns', '12.3 µs', '4.56 ms', '7.3 s'; '–' when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x * 1e9:.3g} ns"


def fmt_x(r) -> str:
    """A ratio as '1.3×' / '12×'."""
    return "–" if r is None or not math.isfinite(r) else (f"{r:.2g}×" if r < 10 else f"{r:.0f}×")


def fmt_n(x) -> str:
    """A count of steps: '17', '6,300', '1.2 million'."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x / 1e6:.2g} million" if x >= 1e6 else f"{int(round(x, -2 if x >= 1e4 else 0)):,}"


def fmt_pct(x) -> str:
    """A percentage: '39%', '0.53%', '<0.01%'; '–' when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.2g}%" if x >= 0.01 else "<0.01%"


def fmt_g(x, digits=3) -> str:
    """A plain number with `digits` significant digits, '–' when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def missing(x) -> bool:
    """Whether a frame value is absent (None or NaN)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def cell(text, cls="", sub=None, title=None) -> dict:
    """One table cell: main text, an optional small second line, a CSS class and a hover title."""
    return {"text": str(text), "cls": cls, "sub": sub, "title": title}


def table(columns, rows, caption="", num_from=1, heading=None, figure=None) -> dict:
    """A table for every output format: column names, rows of cells (or strings), numeric columns from `num_from`.

    `heading` (a machine/device group's name) goes above it, `figure` (an SVG string) right below it.
    """
    rows = [[c if isinstance(c, dict) else cell(c) for c in r] for r in rows]
    columns = [c if isinstance(c, dict) else cell(c) for c in columns]
    return {"columns": columns, "rows": rows, "caption": caption, "num_from": num_from, "heading": heading,
            "figure": figure}


def section(sid, title, reading, tables=(), figures=(), **extra) -> dict:
    """A report section: anchor id, title, plain-language reading (paragraphs), tables, SVG figures, extras."""
    return {"id": sid, "title": title, "reading": [p for p in reading if p], "tables": list(tables),
            "figures": list(figures), **extra}


def plural(n, word, many=None) -> str:
    """'1 cell', '3 cells'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def listing(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def short_machine(name) -> str:
    """A machine label without trademark noise: 'Intel(R) Xeon(R) Processor @ 2.50GHz x2' -> 'Intel Xeon @ 2.50GHz x2'."""
    import re
    name = re.sub(r"\((R|TM|r|tm)\)|\b(Processor|CPU)\b", "", str(name))
    return re.sub(r"\s+", " ", name).strip() or str(name)


def prepare(df):
    """The frame with a 'where' column naming each run's machine, and main cells only.

    Where one machine has several runs on the same device, 'where' adds the run's profile ('quick', 'full')
    when that tells them apart, else its run id. A/A duplicate cells (variant set) are dropped: they exist
    for the regression gate, not the report.
    """
    df = df.copy()
    runs = df.drop_duplicates(["run_id", "device"])[["run_id", "machine", "device", "profile"]]
    where = {}
    for (_, _), same in runs.groupby(["machine", "device"]):
        tag = "profile" if same["profile"].nunique() == len(same) else "run_id"
        for _, r in same.iterrows():
            name = short_machine(r["machine"])
            where[r["run_id"], r["device"]] = name if len(same) == 1 else f"{name} ({r[tag]})"
    df["where"] = [where[r, d] for r, d in zip(df["run_id"], df["device"])]
    return df[df["variant"].isna()].reset_index(drop=True)


def groups(df) -> list[tuple[str, str]]:
    """The (where, device) combinations that hold at least one cell, the one with most measured cells first."""
    order = list(dict.fromkeys(zip(df["where"], df["device"])))
    ok = df[df["status"] == "ok"].groupby(["where", "device"]).size().to_dict()
    return sorted(order, key=lambda g: -ok.get(g, 0))


def group_label(where, device, many) -> str:
    """How a (where, device) group is named in headings: '' when it is the only one."""
    return f"{where} · {device.upper()}" if many else ""


def default_size_json(task) -> str:
    """The task's default size as the frame's size_json (sorted JSON, tuples as lists)."""
    from bench import tasks
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in tasks.get(task).defaults.items()}
    return json.dumps(d, sort_keys=True)


def headline_sizes(df) -> dict:
    """{task: size_json} the report's per-task tables use: the default size if measured, else the most-measured."""
    out = {}
    for task, sub in df.groupby("task", sort=False):
        ok = sub[sub["status"] == "ok"]
        pool = ok if len(ok) else sub
        try:
            default = default_size_json(task)
        except ValueError:
            default = None
        if default in set(pool["size_json"]):
            out[task] = default
        else:
            out[task] = pool["size_json"].value_counts().index[0]
    return out


def task_order(df) -> list[str]:
    """Tasks in DESIGN.md order (unknown ones after, as they appear)."""
    from bench import tasks
    known = [t for t in tasks.TASKS if t in set(df["task"])]
    return known + [t for t in dict.fromkeys(df["task"]) if t not in known]


def impl_order(df) -> list[str]:
    """Implementations in registry order (unknown ones after)."""
    from bench.registry import IMPLS
    known = [i for i in IMPLS if i in set(df["impl"])]
    return known + [i for i in dict.fromkeys(df["impl"]) if i not in known]
