"""Report sections: side-by-side source of each task, the runs' environment, and how to cite them."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from bench.report.lib import fmt_s, section, table



def folders() -> list[str]:
    """The implementations/ folders, in the registry's order of their frameworks."""
    from bench.registry import FRAMEWORKS
    return list(dict.fromkeys(d["folder"] for d in FRAMEWORKS.values()))


def implementations_dir() -> Path | None:
    """The checkout's implementations/ folder, found without importing any framework module."""
    spec = importlib.util.find_spec("implementations")
    locs = list(spec.submodule_search_locations or []) if spec else []
    return Path(locs[0]) if locs else None


def highlight(code: str) -> str:
    """Python source as syntax-highlighted HTML (pygments, CSS classes under .hl)."""
    from pygments import highlight as hl
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    return hl(code, PythonLexer(), HtmlFormatter(cssclass="hl"))


def pygments_css() -> str:
    """The highlighting colours: a light style, and a dark one under prefers-color-scheme: dark."""
    from pygments.formatters import HtmlFormatter
    light = HtmlFormatter(style="default").get_style_defs(".hl")
    dark = HtmlFormatter(style="monokai").get_style_defs(".hl")
    return light + "\n@media (prefers-color-scheme: dark) {\n" + dark + "\n}\n"


def source(tasks) -> dict:
    """Section 8: each task's file in every framework, side by side, plus each framework's core.py folded."""
    root = implementations_dir()
    panels, absent = [], []
    for task in tasks:
        cols = []
        for fw in folders():
            path = root / fw / f"{task}.py" if root else None
            if path and path.is_file():
                text = path.read_text()
                cols.append({"fw": fw, "path": f"implementations/{fw}/{task}.py", "html": highlight(text),
                             "lines": text.count("\n")})
            else:
                absent.append(f"implementations/{fw}/{task}.py")
                cols.append({"fw": fw, "path": f"implementations/{fw}/{task}.py", "html": None, "lines": 0})
        panels.append({"task": task, "cols": cols})
    cores = []
    for fw in folders():
        path = root / fw / "core.py" if root else None
        if path and path.is_file():
            cores.append({"fw": fw, "path": f"implementations/{fw}/core.py", "html": highlight(path.read_text())})
    reading = ["Each task is one short file per framework: the loss function only. The training step around it "
               "(gradients, SGD update, graph building, device placement) lives once per framework in its core.py, "
               "folded below. The source is read from this checkout, which may be newer than the runs."]
    counts = {p["task"]: {c["fw"]: c["lines"] for c in p["cols"] if c["html"]} for p in panels}
    if any(counts.values()):
        reading.append("Lines per file: " + "; ".join(f"{t}: " + ", ".join(f"{fw} {n}" for fw, n in c.items())
                                                     for t, c in counts.items() if c) + ".")
    if absent:
        reading.append("Not in this checkout: " + ", ".join(absent) + ".")
    return section("source", "Side by side: the code behind each number", reading, panels=panels, cores=cores)


def _blas(env) -> str:
    """A short summary of threadpoolctl's BLAS info (a list, or a dict of lists by worker)."""
    blas = env.get("blas") or []
    items = blas if isinstance(blas, list) else [b for v in blas.values() for b in (v if isinstance(v, list) else [v])]
    out = []
    for b in items:
        if isinstance(b, dict):
            out.append(" ".join(str(b[k]) for k in ("internal_api", "version", "architecture") if b.get(k))
                       + (f", {b['num_threads']} threads" if b.get("num_threads") else ""))
    return "; ".join(dict.fromkeys(out)) or "–"


def _versions(env, used=None) -> str:
    """'numpy 2.1, torch 2.13, ...' for the frameworks present (only those in `used`, when given)."""
    fws = env.get("frameworks") or {}
    return ", ".join(f"{k} {v}" for k, v in fws.items() if v and (used is None or k in used)) or "–"


def _used(d) -> set:
    """The packages whose workers measured at least one cell of run `d` (what each framework's folder imports)."""
    from bench.registry import modules
    out = set()
    for c in d["results"]:
        if c["status"] == "ok":
            out.update(modules(c["impl"].partition("/")[0], c["device"]))
    return out


def _load(state) -> str:
    """'2% of 2 CPUs busy, load 0.4 (idle)' from the run's busy_at_start record."""
    from bench.environment import busy_warning
    if not state:
        return "not recorded"
    return (f"{state['cpu_pct']:.0f}% of {state.get('cpus', '?')} CPUs busy, load {state.get('load_1m', '?')} "
            f"({'BUSY: timings suspect' if busy_warning(state) else 'idle'})")


def environment(runs, where) -> dict:
    """Section 9: each run's environment side by side, and a citation (text + BibTeX) pinned to the run."""
    cols, fields = ["", *[where.get(d["run_id"], d["run_id"]) for _, d in runs]], []
    def add(name, fn):
        fields.append([name, *[str(fn(d)) for _, d in runs]])
    env = lambda d: d.get("environment") or {}
    cpu = lambda d: env(d).get("cpu") or {}
    har = lambda d: d.get("harness") or {}
    add("run id", lambda d: d["run_id"])
    add("created (UTC)", lambda d: d["created"])
    add("profile", lambda d: d.get("profile", "–"))
    add("command", lambda d: d.get("command", "–"))
    add("machine", lambda d: env(d).get("machine", "–"))
    add("CPU", lambda d: f"{cpu(d).get('model', '–')} ({cpu(d).get('cores_physical', '?')} physical / "
                         f"{cpu(d).get('cores_logical', '?')} logical cores, AVX2 {cpu(d).get('flags_avx2', '?')})")
    add("fp32 peak", lambda d: f"{cpu(d).get('peak_gflops') or '–'} GFLOP/s — {cpu(d).get('peak_basis') or 'no basis'}")
    add("memory", lambda d: f"{env(d).get('memory_gb', '–')} GB")
    add("GPUs", lambda d: ", ".join(f"{g.get('name')} ({g.get('memory_gb')} GB, driver {g.get('driver')})"
                                    for g in env(d).get("gpus") or []) or "none")
    add("Python / platform", lambda d: f"{env(d).get('python', '–')} / {env(d).get('platform', '–')}")
    add("frameworks", lambda d: _versions(env(d)))
    add("BLAS", lambda d: _blas(env(d)))
    add("threads", lambda d: f"{env(d).get('threads', '–')} "
                             f"({', '.join(f'{k}={v}' for k, v in (env(d).get('thread_env') or {}).items())})")
    add("worker environment", lambda d: ", ".join(f"{k}={v}" for k, v in (env(d).get("worker_env_extra") or {}).items())
        or "thread count only (nothing else of the frameworks' runtime set)")
    add("machine at start", lambda d: _load(env(d).get("busy_at_start")))
    add("idle wait", lambda d: _idle(har(d)))
    add("git commit", lambda d: f"{(env(d).get('git') or {}).get('commit') or '–'}"
                                f"{' (dirty)' if (env(d).get('git') or {}).get('dirty') else ''}")
    add("fwbench", lambda d: env(d).get("fwbench", "–"))
    add("harness", lambda d: f"timing-loop overhead {fmt_s(har(d).get('overhead_s'))} per step (not subtracted); "
                             f"{har(d).get('blocks', '?')} blocks; {fmt_s(har(d).get('wall_s'))} wall"
                             f"{'; INTERRUPTED' if har(d).get('interrupted') else ''}")
    cites = [cite(d) for _, d in runs]
    reading = [f"{len(runs)} run(s). Cite a number together with its run id: the same code gives different "
               "numbers on another machine, thread count or library version."]
    return section("environment", "Environment and how to cite", reading,
                   [table(cols, fields, "", num_from=99)], cites=cites)


def cite(d) -> dict:
    """A plain-text citation and a BibTeX entry pinning numbers to run id, date, machine, versions and threads."""
    env = d.get("environment") or {}
    git = env.get("git") or {}
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    date = str(d.get("created", ""))[:10]
    machine = env.get("machine", "unknown machine")
    versions = _versions(env, _used(d))
    text = (f"fwbench {env.get('fwbench', '')} results, run {d['run_id']} ({date}), {machine}; "
            f"Python {env.get('python', '?')}, {versions}; {env.get('threads', '?')} threads; "
            f"profile {d.get('profile', '?')}; commit {commit}.")
    key = "fwbench-" + re.sub(r"[^A-Za-z0-9]+", "-", d["run_id"]).strip("-")
    bib = (f"@misc{{{key},\n  title = {{fwbench: define-and-run vs define-by-run step times, run {d['run_id']}}},\n"
           f"  author = {{{{fwbench contributors}}}},\n  year = {{{date[:4]}}},\n"
           f"  howpublished = {{fwbench {env.get('fwbench', '')}, commit {commit}}},\n"
           f"  note = {{Run {d['run_id']}, {date}, {machine}; Python {env.get('python', '?')}, {versions}; "
           f"{env.get('threads', '?')} threads; profile {d.get('profile', '?')}}}\n}}")
    return {"run_id": d["run_id"], "text": text, "bibtex": bib}


def _idle(h) -> str:
    """How the run kept idle workers off the cores: the wait at each switch of worker, and what it cost."""
    q = h.get("quiesce")
    if not q:
        return "not recorded (a harness before the idle wait, or none)"
    return (f"{q['switches']} switches of worker, waited {q['total_s']:.2f} s in all (longest {q['max_s'] * 1e3:.0f} ms"
            f", {q['capped']} cut at the cap) for the last worker's threads to go idle")
