"""The table `fwbench run` prints at the end: the cells, the A/A agreement, where the file went."""
from __future__ import annotations

import json
import sys


def print_summary(data: dict, out) -> None:
    """A table of the cells, the A/A agreement when there are copies, and where the file went."""
    import statistics
    from rich.console import Console
    from rich.table import Table
    from bench.results import size_label
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    table = Table(title=f"fwbench run {data['run_id']} ({data['profile']}): per-step medians")
    for col in ("task", "size", "impl", "device", "median", "95% CI", "±CI", "IQR/med", "blocks", "build",
                "first step"):
        table.add_column(col, justify="right" if col not in ("task", "size", "impl", "device") else "left")
    pairs, bad_grads, other, missed = {}, [], {}, []
    for r in data["results"]:
        name = r["impl"] + (f" ({r['variant']})" if r.get("variant") else "")
        head = (r["task"], size_label(r["size"]), name, r["device"])
        if r["status"] != "ok":
            other.setdefault((r["status"], r["reason"]), []).append(" ".join(head[::2]))
            if r["status"] == "failed":
                table.add_row(*head, "FAILED", "", "", "", "", "", "")
            continue
        s, ph = r["step"], r["phases"]
        prec = precision_text(s)
        if prec.endswith("MISSED"):
            missed.append(" ".join(head[::2]))
        table.add_row(*head, _fmt_s(s["median_s"]), f"{_fmt_s(s['ci95_s'][0])}–{_fmt_s(s['ci95_s'][1])}", prec,
                      f"{s['iqr_s'] / s['median_s']:.0%}" + (" noisy" if s["noisy"] else ""),
                      f"{len(s['samples_s'])}×{s['block']}", _fmt_s(ph["build_s"]), _fmt_s(ph["first_step_s"]))
        pairs.setdefault((r["task"], json.dumps(r["size"]), r["impl"], r["device"]), []).append(s["samples_s"])
        if r.get("gradcheck") and not r["gradcheck"]["ok"]:
            bad_grads.append(f"{r['task']} {r['impl']}")
    console.print(table)
    for (status, reason), names in other.items():
        console.print(f"{status} ({len(names)}): {reason} [{', '.join(names[:4])}{', ...' if len(names) > 4 else ''}]")
    aa = aa_ratios(pairs.values())
    if aa:
        paired, of_medians = zip(*aa)
        within = sum(abs(x - 1) <= 0.02 for x in paired)
        console.print(f"A/A (aa-copy / cell, {len(aa)} pairs): median of per-round ratios {statistics.median(paired):.4f}"
                      f" (range {min(paired):.3f}–{max(paired):.3f}, {within} of {len(aa)} within ±2%); ratio of "
                      f"medians {statistics.median(of_medians):.4f} (range {min(of_medians):.3f}–{max(of_medians):.3f})")
    spread = sorted(((r["step"]["process_spread"], f"{r['task']} {r['impl']}") for r in data["results"]
                     if r["status"] == "ok" and r["step"].get("process_spread")), reverse=True)
    if spread:
        console.print(f"processes: {data['harness']['processes']} per cell; slowest/fastest process median: "
                      f"{statistics.median(x for x, _ in spread):.3f} (median over cells), widest "
                      + ", ".join(f"{name} {x:.2f}" for x, name in spread[:3]))
    if bad_grads:
        console.print(f"gradcheck disagreement in: {', '.join(bad_grads)}")
    short = [r for r in data["results"] if (r.get("step") or {}).get("short_blocks")]
    if short:
        console.print(f"{len(short)} cell(s) had steady-state blocks shorter than the minimum (step.short_blocks): "
                      + ", ".join(f"{r['task']} {r['impl']} ({r['step']['short_blocks']} of "
                                  f"{len(r['step']['samples_s'])})" for r in short[:6]) + (", ..." if len(short) > 6 else ""))
    h = data["harness"]
    if h.get("precision"):
        pr, ok = h["precision"], sum(r["status"] == "ok" for r in data["results"])
        console.print(f"precision: {ok - len(missed)} of {ok} cells within ±{pr['target_pct']:g}% (95% CI half-width "
                      f"/ median), budget {pr['max_time_s']:g} s; stopped: {h.get('stopped', '?')}"
                      + (f"; MISSED the target: {', '.join(missed[:6])}{', ...' if len(missed) > 6 else ''}"
                         if missed else ""))
    counts = {s: sum(r["status"] == s for r in data["results"]) for s in ("ok", "skipped", "failed")}
    console.print(f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed; wall {h['wall_s']:.1f} s; "
                  f"harness overhead {h['overhead_s'] * 1e9:.0f} ns/step; results: {out}")


def precision_text(step: dict) -> str:
    """'±3.1%' (the 95% CI half-width reached), '±7.2% > 5% MISSED' when it missed its target."""
    pr = step.get("precision") or {}
    if pr.get("reached_pct") is None:
        return "–"
    x = pr["reached_pct"]
    return (f"±{x:.0f}%" if x >= 10 else f"±{x:.2g}%") + (f" > {pr['target_pct']:g}% MISSED"
                                                         if pr.get("met") is False else "")


def aa_ratios(pairs) -> list[tuple[float, float]]:
    """Per A/A pair [samples of the cell, samples of its copy]: (median of the per-round ratios copy/cell,
    ratio of the two medians). Rounds pair by index: both blocks of round r ran back to back."""
    import statistics
    out = []
    for pair in pairs:
        if len(pair) == 2 and len(pair[0]) == len(pair[1]) and pair[0]:
            a, b = pair
            out.append((statistics.median(y / x for x, y in zip(a, b)), statistics.median(b) / statistics.median(a)))
    return out


def _fmt_s(s) -> str:
    """Seconds with a unit that fits: 6.1 µs, 46.2 ms, 3.51 s."""
    if s is None:
        return "–"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"
