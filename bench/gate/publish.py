"""`fwbench publish RESULTS... --out SITE`: one self-contained static site of many runs on many machines.

    SITE/index.html                  machines, their runs, the latest run per machine and profile, links
    SITE/<machine>/history.html      the trend of that machine's runs only (bench.gate.history): machines never mix
    SITE/<machine>/<profile>/        the report of the machine's latest run of that profile (bench.report.render),
                                     and compare.md: its verdict against the previous run of the same kind
    SITE/results/<machine>/<file>    every results file, byte for byte, for download
    SITE/site.json                   the index as data
    SITE/docs/                       the manual (docs/, MkDocs), where this runs from a checkout with the docs extra

Folders are searched recursively for *.json. The site is built in a temporary folder and then swapped in, so
re-running on a grown results folder replaces the whole site at once; nothing in it needs a server or the network.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from bench.errors import UsageError

MARKER = "site.json"          # a folder holding this is a site `publish` may replace


def add_arguments(p):
    from bench.gate.compare import DEFAULT_THRESHOLD
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="results files, or folders of them (searched recursively)")
    p.add_argument("--out", required=True, metavar="SITE", help="folder for the site (replaced if it is one already)")
    p.add_argument("--title", default="fwbench", help="the site's title")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"compare's threshold between consecutive runs (default {DEFAULT_THRESHOLD:g})")
    p.add_argument("--noise", type=float, metavar="PCT", help="run-to-run noise in percent (default: noise file)")
    p.add_argument("--noise-file", metavar="FILE", help="noise file to read (default: machines/noise.json)")


def slug(text: str) -> str:
    """A machine's label as a folder name: 'Intel(R) Xeon(R) x2' -> 'intel-r-xeon-r-x2'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "machine"


def find(paths, out: Path) -> list[Path]:
    """Results files named directly or found (*.json, recursively) in named folders, skipping the site itself."""
    found = []
    for p in map(Path, paths):
        if not p.exists():
            raise UsageError(f"{p}: no such results file or folder")
        if p.is_dir():
            inside = [f for f in sorted(p.rglob("*.json")) if out.resolve() not in f.resolve().parents]
            if not inside:
                raise UsageError(f"{p}: folder holds no results files (*.json)")
            found += inside
        else:
            found.append(p)
    return list(dict.fromkeys(found))


def load_runs(paths, out: Path) -> dict:
    """{machine: [(path, data), ...] oldest first}; the same run found twice is kept once."""
    from bench import results
    machines, seen = {}, set()
    for path in find(paths, out):
        data = results.load(path)
        machine = data["environment"].get("machine") or "unknown machine"
        if (machine, data["run_id"]) in seen:
            continue
        seen.add((machine, data["run_id"]))
        machines.setdefault(machine, []).append((path, data))
    for runs in machines.values():
        runs.sort(key=lambda r: (datetime.fromisoformat(r[1]["created"]), r[1]["run_id"]))
    return machines


def folders(machines) -> dict:
    """{machine: its folder name in the site}, unique even where two labels make the same slug."""
    out, used = {}, set()
    for m in sorted(machines):
        name, n = slug(m), 2
        while name in used or name == "results":
            name, n = f"{slug(m)}-{n}", n + 1
        used.add(name)
        out[m] = name
    return out


def run_row(path: Path, data: dict, href: str) -> dict:
    """One run as the index lists it."""
    git = data["environment"].get("git") or {}
    statuses = [c["status"] for c in data["results"]]
    return {"run_id": data["run_id"], "created": data["created"], "date": data["created"][:16].replace("T", " "),
            "commit": (git.get("commit") or "")[:7], "dirty": bool(git.get("dirty")),
            "profile": data.get("profile") or "unprofiled",
            "cells": len(statuses), "ok": statuses.count("ok"), "failed": statuses.count("failed"),
            "versions": ", ".join(f"{k} {v}" for k, v in (data["environment"].get("frameworks") or {}).items() if v),
            "file": path.name, "href": href}


def build(machines: dict, site: Path, title: str, threshold_pct, noise_pct=None, noise_file=None) -> dict:
    """Write the whole site into the empty folder `site`; return the index (site.json's content)."""
    from bench.gate import compare, history, manual, rules
    from bench.report import render
    from bench.report.frame import frame
    index = {"title": title, "machines": []}
    for machine, name in folders(machines).items():
        runs = machines[machine]
        (site / "results" / name).mkdir(parents=True)
        rows = []
        for path, data in runs:
            target = site / "results" / name / path.name
            if target.exists():
                target = target.with_name(f"{path.stem}-{data['run_id']}.json")
            shutil.copyfile(path, target)
            rows.append(run_row(path, data, target.relative_to(site).as_posix()))
        ctx = history.page([p for p, _ in runs], threshold_pct, noise_pct, noise_file)
        ctx.update(title=f"{title} history: {machine}", home="../index.html")
        history.write(ctx, site / name)
        latest = []
        for profile in dict.fromkeys(r["profile"] for r in reversed(rows)):
            same = [(p, d) for (p, d), r in zip(runs, rows) if r["profile"] == profile]
            folder = site / name / slug(profile)
            folder.mkdir(parents=True)
            path, data = same[-1]
            render.render(frame([(str(path), data)]), [(str(path), data)], folder,
                          f"{title}: latest {profile} run on {machine}")
            entry = {"profile": profile, "run_id": data["run_id"], "date": data["created"][:16].replace("T", " "),
                     "report": f"{name}/{slug(profile)}/index.html", "runs": len(same), "verdict": None}
            if len(same) > 1:
                verdict = compare.compare(same[-2][0], path, threshold_pct, noise_pct, noise_file)
                (folder / "compare.md").write_text(rules.markdown(verdict), encoding="utf-8")
                entry["verdict"] = {"against": verdict["base"]["run_id"], "headline": rules.headline(verdict),
                                    "exit": verdict["exit"], "markdown": f"{name}/{slug(profile)}/compare.md",
                                    "cells": [c for c in verdict["cells"] if c["verdict"] in rules.GATED]}
            latest.append(entry)
        index["machines"].append({"machine": machine, "folder": name, "history": f"{name}/history.html",
                                  "regressions": len(ctx["regressions"]),
                                  "changes": len(ctx["changes"]), "runs": rows[::-1], "latest": latest})
    index["machines"].sort(key=lambda m: max(r["created"] for r in m["runs"]), reverse=True)
    index["manual"] = manual.build(site / "docs")            # the manual beside the reports, or why it is not
    (site / MARKER).write_text(json.dumps(index, indent=1, default=str) + "\n", encoding="utf-8")
    (site / "index.html").write_text(render_index(index), encoding="utf-8")
    return index


def render_index(index: dict) -> str:
    """index.html from the index."""
    from bench.gate import rules
    from bench.report.render import templates
    return templates().get_template("site.html.j2").render(**index, p_max=rules.P_MAX,
                                                   n_runs=sum(len(m["runs"]) for m in index["machines"]))


def swap(tmp: Path, out: Path):
    """Replace `out` (absent, empty, or a site) by the freshly built `tmp`."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run(args) -> int:
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise UsageError(f"--out {out}: exists and is not a fwbench site; name a new or empty folder")
    machines = load_runs(args.results, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        index = build(machines, tmp, args.title, args.threshold, args.noise, args.noise_file)
        tmp.chmod(0o755)
        swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"publish: {sum(len(r) for r in machines.values())} runs on {len(machines)} machine(s) -> {out}/index.html")
    for m in index["machines"]:
        verdicts = "; ".join(f"{e['profile']}: {e['verdict']['headline'] if e['verdict'] else 'first run'}"
                             for e in m["latest"])
        print(f"  {m['machine']}: {len(m['runs'])} runs, latest vs previous: {verdicts}")
    return 0
