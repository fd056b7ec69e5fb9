"""`fwbench confirm TRACK_JSON`: A/B each new change point `fwbench track` found; alert only on confirmed ones.

A change point in a machine's history is a hint, not a verdict: runs minutes or days apart differ by the machine's
mood. For every change with new=true, confirm runs `fwbench ab --base-rev commit_before --new-rev commit_after`
on that cell (one ab per pair of commits, its tasks x impls x devices; verdicts are matched back to each change's
cell, size and variant). The change is confirmed when ab's verdict for the cell is a regression; an ab improvement
is reported, never alerted; unchanged rejects it; anything else (inconclusive, a failed side, a cell ab did not
measure) leaves it inconclusive. A change between two runs of the same commit is not a code change and has nothing
to A/B. Exit 1 when any regression is confirmed, else 0; 2 on bad input.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.errors import UsageError
from bench.gate import rules

CONFIRMED, IMPROVEMENT, REJECTED = "confirmed", "improvement", "rejected"
INCONCLUSIVE, SAME_COMMIT = "inconclusive", "same commit"
ORDER = (CONFIRMED, INCONCLUSIVE, IMPROVEMENT, REJECTED, SAME_COMMIT)
CHANGE_FIELDS = ("cell", "task", "impl", "device", "size", "variant", "run_before", "run_after", "commit_before",
                 "commit_after", "ratio", "ci", "p", "new")


def add_arguments(p):  # pragma: no mutate block
    from bench.gate import ab
    from bench.run import runner
    p.add_argument("track", metavar="TRACK_JSON", help="the --json of `fwbench track`")
    p.add_argument("--markdown", metavar="FILE", help="also write the alert's issue body as Markdown")
    p.add_argument("--json", metavar="FILE", help="also write the decisions as JSON")
    p.add_argument("--trend-url", metavar="URL", help="link to the machine's trend page; '{machine}' in it is "
                   "replaced by the machine's folder name in `fwbench publish`'s site")
    p.add_argument("--threshold", type=float, default=ab.DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"ab's threshold: slowdown in percent a regression must exceed (default {ab.DEFAULT_THRESHOLD:g})")
    p.add_argument("--profile", choices=tuple(runner.PROFILES), default="quick", help="ab's profile (default quick)")
    p.add_argument("--threads", type=int, help="ab's threads (default: physical cores); use the tracked runs' count")
    p.add_argument("--out-dir", metavar="DIR", help="where each ab's side files go (default: runs/confirm-<time>/)")


def size_of(size) -> str | None:
    """A change's or verdict's size as a label ('batch=64'), whether given as a label or as the knobs."""
    from bench.results import size_label
    return size_label(size) if isinstance(size, dict) else size


def key(c: dict) -> tuple:
    """(task, impl, device, size label, variant): what a track change and an ab verdict share."""
    return c["task"], c["impl"], c["device"], size_of(c.get("size")), c.get("variant")


def pair(change: dict) -> tuple[str, str]:
    """(commit_before, commit_after) of a change: the revisions its ab compares."""
    return change["commit_before"], change["commit_after"]


def load_track(path) -> dict:
    """Read a `fwbench track --json` report; UsageError (what to do) when it is not one or lacks commits."""
    try:
        track = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read it as JSON ({e})") from None
    if not isinstance(track, dict) or track.get("kind") != "track" or not isinstance(track.get("changes"), list):
        raise UsageError(f"{path}: not a track report (write one with `fwbench track RESULTS... --json FILE`)")
    for c in track["changes"]:
        missing = [f for f in CHANGE_FIELDS if f not in c]
        if missing:
            raise UsageError(f"{path}: a change lacks {', '.join(missing)} (not a track report of this version?)")
        if c["new"] and not (c["commit_before"] and c["commit_after"]):
            raise UsageError(f"{path}: the change of {c['cell']} between runs {c['run_before']} and {c['run_after']} "
                             "has no git commit on both sides: store results files taken from a git checkout")
    return track


def status_of(change: dict, verdict: dict | None) -> tuple[str, str]:
    """(status, why) of one new change from ab's verdict for its cell (None: ab measured no such cell)."""
    if change["commit_before"] == change["commit_after"]:
        return SAME_COMMIT, ("both runs measured the same commit: no code change to A/B (the runner, the "
                             "frameworks' wheels or the machine changed)")
    if verdict is None:
        return INCONCLUSIVE, "ab measured no such cell (is its size in ab's profile?)"
    v = verdict["verdict"]
    status = {rules.REGRESSION: CONFIRMED, rules.IMPROVEMENT: IMPROVEMENT, rules.UNCHANGED: REJECTED}.get(v, INCONCLUSIVE)
    return status, f"ab: {v}" + (f" ({verdict['note']})" if verdict.get("note") else "")


def decide(track: dict, ab_verdicts: dict) -> dict:
    """The confirm report of a track report and {(commit_before, commit_after): ab report} (its `cells`)."""
    out = []
    for c in (c for c in track["changes"] if c["new"]):
        report = ab_verdicts.get(pair(c)) or {}
        verdict = next((v for v in report.get("cells", []) if key(v) == key(c)), None)
        status, why = status_of(c, verdict)
        ab = None if verdict is None else {k: verdict.get(k) for k in ("name", "verdict", "ratio", "ratio_ci", "pairs")}
        if ab is not None:
            ab.update(confidence=report.get("confidence"), threshold_pct=report.get("threshold_pct"))
        out.append({**c, "status": status, "why": why, "ab": ab})
    out.sort(key=lambda c: ORDER.index(c["status"]))
    got = [c["status"] for c in out]
    return {"kind": "confirm", "machine": track.get("machine"), "runs": len(track.get("runs", [])),
            "track_exit": track.get("exit"), "changes": out,
            "counts": {s: got.count(s) for s in ORDER if s in got}, "exit": int(CONFIRMED in got)}


def _pct(r) -> str:
    return "–" if r is None else f"{(r - 1) * 100:+.1f}%"


def _ci(ci) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]" if ci else ""


def trend_link(url: str | None, machine: str | None) -> str | None:
    """--trend-url with '{machine}' replaced by the machine's folder in `fwbench publish`'s site."""
    from bench.gate.publish import slug
    return url.replace("{machine}", slug(machine or "unknown machine")) if url else None


def headline(report: dict) -> str:
    """'1 confirmed, 2 rejected' or 'no new change points'."""
    return ", ".join(f"{n} {s}" for s, n in report["counts"].items()) or "no new change points"


def markdown(report: dict, trend_url: str | None = None) -> str:
    """The alert's issue body: each confirmed change (cell, change point, size, A/B verdict), then every new change."""
    mark = ":x:" if report["exit"] else ":white_check_mark:"
    link = trend_link(trend_url, report["machine"])
    lines = [f"### {mark} fwbench confirm on {report['machine']}: {headline(report)}", "",
             "Change points that `fwbench track` found in the newest runs of this machine"
             + (f" ({report['runs']} runs in all)" if report["runs"] else "") + ", each "
             "checked by `fwbench ab` of the commits before and after it (blocks of both interleaved in one run): "
             "an ab regression confirms it." + (f" Trend page: {link}" if link else ""), ""]
    for c in (c for c in report["changes"] if c["status"] == CONFIRMED):
        a = c["ab"]
        conf = f"{a['confidence']:.0%} " if a.get("confidence") else ""
        p = "" if c["p"] is None else f", p = {c['p']:.2g}"
        lines += [f"#### `{c['cell']}` got {_pct(c['ratio'])} slower", "",
                  f"- change point: between run `{c['run_before']}` (commit {c['commit_before'][:10]}) and run "
                  f"`{c['run_after']}` (commit {c['commit_after'][:10]})",
                  f"- size of the change in the history: {_pct(c['ratio'])}, interval {_ci(c['ci'])}{p}",
                  f"- A/B `fwbench ab --base-rev {c['commit_before'][:10]} --new-rev {c['commit_after'][:10]}`: "
                  f"**regression**, {_pct(a['ratio'])} ({conf}CI {_ci(a['ratio_ci'])}, {a['pairs']} pairs of blocks)",
                  ""]
        if link:
            lines[-1:] = [f"- trend: {link}", ""]
    if report["changes"]:
        lines += ["| cell | runs | commits | change (interval) | p | A/B change (CI) | status |", "|" + "---|" * 7]
        for c in report["changes"]:
            a = c["ab"] or {}
            row = [f"`{c['cell']}`", f"{c['run_before']} → {c['run_after']}",
                   f"{c['commit_before'][:7]} → {c['commit_after'][:7]}", f"{_pct(c['ratio'])} {_ci(c['ci'])}",
                   "" if c["p"] is None else f"{c['p']:.2g}", f"{_pct(a.get('ratio'))} {_ci(a.get('ratio_ci'))}",
                   f"**{c['status']}**" if c["status"] == CONFIRMED else f"{c['status']}: {c['why']}"]
            lines.append("| " + " | ".join(s.replace("|", "\\|") for s in row) + " |")
    return "\n".join(lines) + "\n"


def check_commits(track: dict, path) -> None:  # pragma: no mutate block
    """UsageError naming what to do when a new change's commit is not in this clone (a shallow checkout)."""
    from bench.gate.ab import _git
    from bench.run.runner import ROOT
    for c in (c for c in track["changes"] if c["new"]):
        for sha in pair(c):
            if subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=ROOT, capture_output=True).returncode:
                shallow = _git("rev-parse", "--is-shallow-repository", cwd=ROOT) == "true"
                raise UsageError(f"{path}: commit {sha} (change of {c['cell']}) is not in this clone"
                                 + (": it is shallow, fetch the full history (actions/checkout with fetch-depth: 0, "
                                    "or git fetch --unshallow)" if shallow else ": fetch it (git fetch origin)"))


def ab_argv(before: str, after: str, changes, args, out: Path) -> list[str]:
    """`fwbench ab` arguments for the cells of `changes`, base = before, new = after, verdicts to out/ab.json."""
    union = lambda f: ",".join(dict.fromkeys(c[f] for c in changes))
    argv = ["ab", "--base-rev", before, "--new-rev", after, "--base-label", "before", "--new-label", "after",
            "--tasks", union("task"), "--impls", union("impl"), "--devices", union("device"),
            "--profile", args.profile, "--threshold", f"{args.threshold:g}", "--out-dir", str(out),
            "--json", str(out / "ab.json")]
    return argv + (["--threads", str(args.threads)] if args.threads else [])


def run_ab(argv: list[str], quiet: bool = False) -> dict:  # pragma: no mutate block
    """Run `fwbench ab ARGV` in a child process (its table and progress go to this one's output, or nowhere when
    `quiet`); its report. UsageError when it ends with no verdicts."""
    from bench.run.runner import ROOT
    out = Path(argv[argv.index("--json") + 1])
    if not quiet:
        print(f"fwbench confirm: fwbench {' '.join(argv)}", flush=True)
    r = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=ROOT, capture_output=quiet, text=True)
    if r.returncode not in (0, 1) or not out.exists():
        said = (r.stderr or "").strip().splitlines() or ["see its message above"]
        raise UsageError(f"fwbench ab {argv[argv.index('--base-rev') + 1][:7]} {argv[argv.index('--new-rev') + 1][:7]} "
                         f"exited with {r.returncode} and no verdicts: {said[-1]}")
    return json.loads(out.read_text())


def run(args) -> int:  # pragma: no mutate block
    from datetime import datetime, timezone
    track = load_track(args.track)
    check_commits(track, args.track)
    out_dir = Path(args.out_dir or f"runs/confirm-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}")
    groups = {}
    for c in track["changes"]:
        if c["new"] and c["commit_before"] != c["commit_after"]:
            groups.setdefault(pair(c), []).append(c)
    verdicts = {p: run_ab(ab_argv(*p, cs, args, out_dir / f"{p[0][:7]}-{p[1][:7]}")) for p, cs in groups.items()}
    report = decide(track, verdicts)
    report["threshold_pct"] = args.threshold
    for c in report["changes"]:
        print(f"{c['status']:>12}  {c['cell']}: {_pct(c['ratio'])} between {c['commit_before'][:7]} and "
              f"{c['commit_after'][:7]}; {c['why']}")
    print(f"fwbench confirm: {headline(report)}")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown(report, args.trend_url))
    if args.json:
        from bench.results import write_atomic
        write_atomic(args.json, report)
    return report["exit"]
