"""README's "Published runs" paragraph, rendered from the published results files so its figures cannot drift.

`python -m bench.gate.published` prints the paragraph; `--write` puts it into README.md between the markers
`<!-- published:begin -->` and `<!-- published:end -->`. tests/test_readme.py fails when README differs.
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = ("results/cpu-quick.json", "results/cpu-full.json")     # the quick run first: its steps are quoted
BEGIN, END = "<!-- published:begin -->", "<!-- published:end -->"
NAMES = {"numpy": "numpy", "torch": "torch", "tensorflow": "TensorFlow", "jax": "JAX"}


def _s(x: float) -> str:
    """Seconds, three significant digits with a unit: 16.7 µs, 45.5 ms, 7.5 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x * 1e9:.3g} ns"


def _span(data: dict) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(data["created"])
    return start, start + timedelta(seconds=data["harness"]["wall_s"])


def _short_blocks(data: dict) -> tuple[int, int]:
    """(cells whose median block lasted less than the minimum, ok cells)."""
    ok = [c for c in data["results"] if c["status"] == "ok"]
    minimum = data["harness"]["min_block_s"]
    short = [c for c in ok if c["step"]["median_s"] * c["step"]["block"] < minimum[c["device"]]]
    return len(short), len(ok)


def paragraph(runs: list[tuple[str, dict]]) -> str:
    """The paragraph for [(path as README names it, results dict), ...], the first run's steps quoted."""
    (first_path, first), env = runs[0], runs[0][1]["environment"]
    cpu, fws = env["cpu"], env["frameworks"]
    isa = "AVX-512" if cpu.get("flags_avx512") else "AVX2" if cpu.get("flags_avx2") else "no AVX2"
    gpus = ", ".join(g.get("name", "?") for g in env["gpus"]) or "no GPU"
    versions = ", ".join(f"{fw} {v}" for fw, v in fws.items() if v)
    runs_text = " and ".join(f"`{p}` ({len(d['results'])} cells, {d['harness']['wall_s']:.0f} s wall)" for p, d in runs)
    text = (f"{runs_text}: a {cpu['cores_physical']}-core {cpu['model']} ({isa}), {env['threads']} threads, {gpus}, "
            f"Python {env['python']}, {versions}.")
    imports = [(fw, w["import_s"]) for fw in NAMES for key, w in env.get("workers", {}).items()
               if key == f"{fw}/cpu" and w.get("import_s") is not None]
    if imports:
        text += " Imports: " + ", ".join(f"{NAMES[fw]} {_s(s)}" for fw, s in imports) + "."
    parts = []
    for task in dict.fromkeys(c["task"] for c in first["results"]):
        ok = sorted((c for c in first["results"] if c["task"] == task and c["status"] == "ok" and not c.get("variant")),
                    key=lambda c: c["step"]["median_s"])
        if ok:
            parts.append(f"{task} {ok[0]['impl']} {_s(ok[0]['step']['median_s'])} … {ok[-1]['impl']} "
                         f"{_s(ok[-1]['step']['median_s'])}")
    text += f" `{first_path}`, fastest and slowest step per task: " + "; ".join(parts) + "."
    text += (" Harness overhead per step: " + ", ".join(f"{_s(d['harness']['overhead_s'])} ({Path(p).stem})"
                                                         for p, d in runs) + ".")
    counts = [(Path(p).stem, *_short_blocks(d)) for p, d in runs]
    minimum = _s(first["harness"]["min_block_s"]["cpu"])
    text += (f" Cells whose median block lasted less than the {minimum} minimum: "
             + ", ".join(f"{n} of {k} ({name})" for name, n, k in counts) + ".")
    measured = [(Path(p).stem, d["environment"]["cpu"].get("peak_measured_gflops")) for p, d in runs]
    if any(v for _, v in measured):
        text += (" fp32 peak measured in each run (its best numpy sgemm): "
                 + ", ".join(f"{v:.0f} GFLOP/s ({name})" for name, v in measured if v) + ".")
    if cpu.get("peak_gflops"):
        text += f" Theoretical: {cpu['peak_gflops']:.0f} GFLOP/s" + (f" ({cpu['peak_basis']})." if cpu.get("peak_basis")
                                                                     else ".")
    best = max(((c["gflops"] / d["environment"]["cpu"]["peak_measured_gflops"], c, Path(p).stem) for p, d in runs
                for c in d["results"] if c["status"] == "ok" and c.get("gflops")
                and d["environment"]["cpu"].get("peak_measured_gflops")), key=lambda t: t[0], default=None)
    if best:
        frac, c, name = best
        text += (f" The most efficient step, {c['task']} {c['impl']} ({name}), reached {c['gflops']:.3g} GFLOP/s: "
                 f"{frac:.0%} of its run's measured peak.")
    fails = sum(c["status"] == "failed" for _, d in runs for c in d["results"])
    if fails:
        text += f" {fails} cells failed."
    for (pa, a), (pb, b) in zip(runs, runs[1:]):
        (a0, a1), (b0, b1) = _span(a), _span(b)
        shared = (min(a1, b1) - max(a0, b0)).total_seconds()
        if shared > 0:
            text += (f" The two runs overlapped on the same machine for {shared:.0f} s ({Path(pa).stem} "
                     f"{a['harness']['wall_s']:.0f} s, {Path(pb).stem} {b['harness']['wall_s']:.0f} s): their timings "
                     "shared the cores.")
    return _wrap(text)


def _wrap(text: str, width: int = 115) -> str:
    """Hard-wrapped at `width` columns like the rest of README."""
    import textwrap
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False))


def render(root: Path = ROOT, files=FILES) -> str:
    """The paragraph for the published results files under `root`."""
    from bench import results
    return paragraph([(f, results.load(root / f)) for f in files])


def readme_block(readme: str) -> str:
    """The text between the markers in README (ValueError if they are missing)."""
    m = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), readme, re.S)
    if not m:
        raise ValueError(f"README has no {BEGIN} ... {END} block")
    return m.group(1)


def write(root: Path = ROOT) -> bool:  # pragma: no mutate block
    """Rewrite README's block from the results files; whether it changed."""
    path = root / "README.md"
    old = path.read_text()
    block = readme_block(old)
    new = old.replace(f"{BEGIN}\n{block}\n{END}", f"{BEGIN}\n{render(root)}\n{END}")
    path.write_text(new)
    return new != old


def main(argv=None) -> int:  # pragma: no mutate block
    p = argparse.ArgumentParser(prog="python -m bench.gate.published", description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help="rewrite README.md's block instead of printing it")
    args = p.parse_args(argv)
    if args.write:
        print("README.md " + ("updated" if write() else "already up to date"))
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
