"""`fwbench report RESULTS... --out DIR`: one self-contained HTML page plus Markdown, LaTeX and CSV exports, and
the slide figures (SVG, PNG and a caption each) under DIR/figures/.

Renders from results files only (never a live run). Everything is written to a temporary folder first and
moved into DIR at the end, so bad input or a crash leaves nothing half-written there.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bench.errors import UsageError

OUTPUTS = ("index.html", "report.md", "report.tex", "results.csv")
TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "µ": r"\textmu{}", "×": r"$\times$",
       "–": "--", "—": "---", "≈": r"$\approx$", "∞": r"$\infty$", "·": r"\textperiodcentered{}", "−": "$-$",
       "≥": r"$\geq$", "≤": r"$\leq$", "→": r"$\rightarrow$", "★": r"$\star$"}


def add_arguments(p):
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files (or folders of *.json) to combine")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for index.html, report.md/.tex, results.csv")
    p.add_argument("--title", default="fwbench report", help="the page title")


def tex_escape(text) -> str:
    """Plain text made safe for LaTeX (special characters, and the Unicode the report uses)."""
    return "".join(TEX.get(ch, ch) for ch in str(text))


def md_escape(text) -> str:
    """Plain text made safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def context(df, runs, title) -> dict:
    """Everything the templates need: run summary, table of contents, and the sections."""
    from bench.report import env, graph, layers, more, speed, sweep
    from bench.report.lib import prepare, task_order
    main = prepare(df)
    where = dict(zip(main["run_id"], main["where"]))
    sections = [speed.headline(main), speed.tf10x(main), graph.define_and_run(main),
                layers.layers(main),
                sweep.sweep(main), more.gradients(main, runs), more.efficiency(main, runs),
                env.source(task_order(main)), env.environment(runs, where)]
    for n, s in enumerate(sections, 1):
        s["n"] = n
        s.setdefault("key", _key(s))
    runs_info = [{"run_id": d["run_id"], "created": str(d["created"])[:16].replace("T", " ") + " UTC", "profile": d.get("profile", "?"),
                  "where": where.get(d["run_id"], (d.get("environment") or {}).get("machine", "?")),
                  "devices": sorted(set(main[main["run_id"] == d["run_id"]]["device"])),
                  "cells": int((df["run_id"] == d["run_id"]).sum()), "caveat": caveat(d)} for _, d in runs]
    glance = [(s["id"], s["title"], s["key"]) for s in sections if s.get("key")]
    return {"title": title, "runs": runs_info, "sections": sections, "glance": glance, "css_code": env.pygments_css(),
            "n_cells": len(df), "n_ok": int((df["status"] == "ok").sum())}


def caveat(data) -> str | None:
    """A warning for a run whose workers had their thread runtimes retuned (what users run differs), or that
    started on a busy machine; else None."""
    from bench.environment import RUNTIME_TUNING, busy_warning
    env = data.get("environment") or {}
    seen = {**(env.get("thread_env") or {}), **(env.get("runtime_tuning") or {}), **(env.get("worker_env_extra") or {})}
    tuned = {k: v for k, v in seen.items() if k in RUNTIME_TUNING}
    said = [busy_warning(env.get("busy_at_start"))]
    if tuned:
        said.append("workers ran with runtime-tuning variables (" + ", ".join(f"{k}={v}" for k, v in tuned.items())
                    + "): their thread pools behave unlike a user's default, so step times can differ from what users "
                      "see")
    return "; ".join(s for s in said if s) or None


def _key(s):
    """The one paragraph of a section that answers its question, for the 'At a glance' box (None: none)."""
    r = s["reading"]
    if s["id"] == "tf10x" and len(r) > 1:
        return r[1]
    if s["id"] in ("graph", "layers", "gradients") and r and not r[0].startswith("No "):
        return r[0]
    if s["id"] == "efficiency":
        return next((p for p in r if p.startswith("Best achieved")), None)
    return None


def templates():
    """The Jinja2 environment over bench/report/templates with the report's filters (report, history, site)."""
    import jinja2
    env = jinja2.Environment(loader=jinja2.PackageLoader("bench.report", "templates"), trim_blocks=True, lstrip_blocks=True,
                             autoescape=jinja2.select_autoescape(["html.j2"]), undefined=jinja2.StrictUndefined)
    env.filters["tex"] = tex_escape
    env.filters["md"] = md_escape
    return env


def csv_frame(df):
    """The frame as written to results.csv: samples as one space-separated column."""
    out = df.copy()
    out["samples_s"] = [" ".join(f"{x:.6g}" for x in s) for s in out["samples_s"]]
    return out


def render(df, runs, folder: Path, title="fwbench report") -> dict:
    """Write index.html, report.md, report.tex and results.csv into `folder`; return {name: bytes written}."""
    from markupsafe import Markup
    ctx = context(df, runs, title)
    for s in ctx["sections"]:
        s["figures"] = [Markup(f) for f in s["figures"]]
        for t in s["tables"]:
            t["figure"] = Markup(t["figure"]) if t["figure"] else None
        for p in s.get("panels", []):
            for c in p["cols"]:
                c["html"] = Markup(c["html"]) if c["html"] else None
        for c in s.get("cores", []):
            c["html"] = Markup(c["html"])
    env = templates()
    for name, template in (("index.html", "report.html.j2"), ("report.md", "report.md.j2"),
                           ("report.tex", "report.tex.j2")):
        (folder / name).write_text(env.get_template(template).render(**ctx), encoding="utf-8")
    csv_frame(df).to_csv(folder / "results.csv", index=False)
    from bench.report import figures
    figures.write(prepare_main(df), runs, folder / "figures")
    return {name: (folder / name).stat().st_size for name in OUTPUTS}


def prepare_main(df):
    """The frame as the sections read it (bench.report.lib.prepare)."""
    from bench.report.lib import prepare
    return prepare(df)


def publish(tmp: Path, out: Path):
    """Move the rendered files from `tmp` into `out` (each by an atomic rename), then remove `tmp`."""
    if not out.exists():
        os.replace(tmp, out)
        return
    for name in OUTPUTS:
        os.replace(tmp / name, out / name)
    if (tmp / "figures").exists():
        if (out / "figures").is_dir():
            shutil.rmtree(out / "figures")
        os.replace(tmp / "figures", out / "figures")
    shutil.rmtree(tmp, ignore_errors=True)


def run(args) -> int:
    from bench.report.frame import load_frame
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    df, runs = load_frame(args.results)
    if df.empty:
        raise UsageError(f"{', '.join(map(str, args.results))}: no cells to report")
    sizes = write_report(df, runs, out, args.title)
    print(f"report: {len(df)} cells from {len(runs)} results file(s) -> {out}/")
    for name, size in sizes.items():
        print(f"  {name:<12} {size / 1024:8.1f} KiB")
    shown = sorted(p.name for p in (out / "figures").glob("*.svg"))
    print(f"  figures/     {len(shown)} slide figures (SVG, PNG, caption .txt): {', '.join(shown)}")
    return 0


def write_report(df, runs, out: Path, title="fwbench report") -> dict:
    """Render into a temporary folder beside `out`, then move the files in: {name: bytes written}."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        sizes = render(df, runs, tmp, title)
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sizes
