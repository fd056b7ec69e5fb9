"""`fwbench bisect GOOD BAD --tasks T --impls I`: the first commit between GOOD and BAD that made the cells slower.

Candidates are `git rev-list --first-parent --reverse GOOD..BAD` (merges of main count as one commit each). First
`fwbench ab --base-rev GOOD --new-rev BAD` checks that BAD is slower at all; then a binary search, each step an ab of
the newest commit known good (base) against the middle candidate (new): a regression of any cell makes the middle
bad, unchanged or improved cells on all of them make it good. Anything else (inconclusive, a failed side) is retried
once with twice ab's time budget; a second undecided verdict stops the search and names the commits the first bad
one still lies among. Exit 0 when the first bad commit is named, 1 when BAD is not slower or the search stopped.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.gate import rules

BAD, GOOD, UNDECIDED = "bad", "good", "undecided"
RETRIES = 1                # an undecided step is measured once more (with twice the time), then the search stops


def add_arguments(p):  # pragma: no mutate block
    from bench import registry, tasks
    from bench.gate import ab
    from bench.options import csv_list
    from bench.run import runner
    p.add_argument("good", metavar="GOOD", help="a revision where the cells were fast")
    p.add_argument("bad", metavar="BAD", help="a later revision where they are slower")
    p.add_argument("--tasks", required=True, type=csv_list(tuple(tasks.TASKS)), help="comma-separated")
    p.add_argument("--impls", required=True, type=csv_list(registry.IMPLS), help="comma-separated")
    p.add_argument("--devices", type=csv_list(registry.DEVICES), default=["cpu"], help="comma-separated (default cpu)")
    p.add_argument("--threshold", type=float, default=ab.DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"ab's threshold: slowdown in percent a regression must exceed (default {ab.DEFAULT_THRESHOLD:g})")
    p.add_argument("--profile", choices=tuple(runner.PROFILES), default="quick", help="ab's profile (default quick)")
    p.add_argument("--threads", type=int, help="ab's threads (default: physical cores)")
    p.add_argument("--json", metavar="FILE", help="also write the steps and the result as JSON")


def outcome(verdict: str) -> str:
    """A step's outcome from its ab verdict: bad (regression), good (unchanged or improved), else undecided."""
    if verdict == rules.REGRESSION:
        return BAD
    return GOOD if verdict in (rules.UNCHANGED, rules.IMPROVEMENT) else UNDECIDED


def search(good: str, commits: list[str], measure, retries: int = RETRIES, log=lambda step: None) -> dict:
    """Binary search for the first bad commit of `commits` (oldest first, the last one BAD) after `good`.
    measure(base, new, attempt) -> ab verdict (or (verdict, detail)); `log` sees each step as it ends.
    Result: {"status": found | not reproduced | stopped | empty, "first_bad", "suspects", "steps"}."""
    steps = []

    def step(lo: int, new: int) -> str:
        base = good if lo < 0 else commits[lo]
        for attempt in range(retries + 1):
            got = measure(base, commits[new], attempt)
            verdict, detail = (got, "") if isinstance(got, str) else got
            steps.append({"base": base, "new": commits[new], "attempt": attempt, "verdict": verdict,
                          "outcome": outcome(verdict), "detail": detail})
            log(steps[-1])
            if outcome(verdict) != UNDECIDED:
                break
        return outcome(verdict)

    done = lambda status, first=None, suspects=(): {"status": status, "first_bad": first,
                                                    "suspects": list(suspects), "steps": steps}
    if not commits:
        return done("empty")
    lo, hi = -1, len(commits) - 1          # commits[lo] (or good) is known good, commits[hi] known (or assumed) bad
    first = step(lo, hi)
    if first == GOOD:
        return done("not reproduced")
    if first == UNDECIDED:
        return done("stopped", suspects=commits)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        got = step(lo, mid)
        if got == UNDECIDED:
            return done("stopped", suspects=commits[lo + 1:hi + 1])
        lo, hi = (lo, mid) if got == BAD else (mid, hi)
    return done("found", commits[hi], [commits[hi]])


def candidates(good: str, bad: str, root) -> tuple[str, list[tuple[str, str]]]:  # pragma: no mutate block
    """(GOOD's sha, [(sha, subject)] of `git rev-list --first-parent --reverse GOOD..BAD`)."""
    from bench.errors import UsageError
    from bench.gate.ab import _git
    shas = []
    for rev in (good, bad):
        try:
            shas.append(_git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=root))
        except UsageError:
            raise UsageError(f"{rev}: not a commit of the repository at {root}") from None
    listed = _git("log", "--first-parent", "--reverse", "--format=%H %s", f"{shas[0]}..{shas[1]}", cwd=root)
    commits = [tuple(line.split(" ", 1)) if " " in line else (line, "") for line in listed.splitlines()]
    if not commits:
        raise UsageError(f"no commits in {good}..{bad}: BAD must be a descendant of GOOD")
    return shas[0], commits


def _change(ratio, ci) -> str:
    """'+48.2% [+45.0%, +51.3%]' of an ab ratio and its CI ('' for a cell without one)."""
    pct = lambda r: f"{(r - 1) * 100:+.1f}%"
    return f"{pct(ratio)} [{pct(ci[0])}, {pct(ci[1])}]" if ratio and ci else ""


def ab_measure(args, out_dir: Path):  # pragma: no mutate block
    """measure(base, new, attempt) by `fwbench ab` in a child process (fwbench confirm's): the worst verdict of the
    cells, and a detail; a retry gets twice the time budget of the attempt before it."""
    from bench.gate.confirm import ab_argv, run_ab
    from bench.run.runner import PROFILES
    cells = [{"task": t, "impl": i, "device": d} for t in args.tasks for i in args.impls for d in args.devices]

    def measure(base: str, new: str, attempt: int):
        argv = ab_argv(base, new, cells, args, out_dir / f"{base[:7]}-{new[:7]}-{attempt}")
        if attempt:
            argv += ["--max-time", f"{PROFILES[args.profile]['ab_max_time_s'] * 2 ** attempt:g}"]
        verdicts = run_ab(argv, quiet=True)["cells"]
        got = [outcome(c["verdict"]) for c in verdicts]
        verdict = (rules.REGRESSION if BAD in got else rules.INCONCLUSIVE if UNDECIDED in got or not verdicts
                   else rules.UNCHANGED)
        return verdict, "; ".join(f"{c['name']}: {c['verdict']} {_change(c.get('ratio'), c.get('ratio_ci'))}"
                                  for c in verdicts)
    return measure


def run(args) -> int:  # pragma: no mutate block
    import time
    from bench.gate.ab import _git
    from bench.run.runner import ROOT
    root = _git("rev-parse", "--show-toplevel", cwd=ROOT)
    good, commits = candidates(args.good, args.bad, root)
    subject = dict(commits)
    print(f"fwbench bisect: {len(commits)} candidate commit(s) in {args.good}..{args.bad}; cells "
          f"{','.join(args.tasks)} x {','.join(args.impls)} x {','.join(args.devices)}, threshold {args.threshold:g}%",
          flush=True)
    t0 = time.perf_counter()

    def log(s):
        again = f" (retry {s['attempt']})" if s["attempt"] else ""
        print(f"  step {s['base'][:7]} -> {s['new'][:7]} {subject.get(s['new'], '')!r}{again}: {s['verdict']} "
              f"=> {s['outcome']}  [{s['detail']}] ({time.perf_counter() - t0:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="fwbench-bisect-") as tmp:
        result = search(good, [c for c, _ in commits], ab_measure(args, Path(tmp)), log=log)
    if result["status"] == "found":
        sha = result["first_bad"]
        print(f"first bad commit: {sha} {subject[sha]}")
    elif result["status"] == "not reproduced":
        print(f"{args.bad} is not slower than {args.good} at {args.threshold:g}%: nothing to bisect")
    else:
        print(f"stopped: a step stayed undecided after {RETRIES} retry; the first bad commit is one of:")
        for sha in result["suspects"]:
            print(f"  {sha} {subject[sha]}")
    if args.json:
        from bench.results import write_atomic
        write_atomic(args.json, {"kind": "bisect", "good": good, "bad": commits[-1][0], "threshold_pct": args.threshold,
                                 "wall_s": time.perf_counter() - t0, **result,
                                 "subjects": {sha: subject[sha] for sha in result["suspects"]}})
    return int(result["status"] != "found")
