"""`fwbench ab`: the same cells in two environments, their blocks interleaved in one run.

Sides are two Pythons (--base-python/--new-python: two venvs, two tox envs, or wrapper scripts) or two git
revisions of this project (--base-rev/--new-rev, checked out into temporary worktrees whose workers run from
there). bench.run.runner.run_cells times round r of every cell on both sides back to back, so per cell the ratios
new/base of round r compare blocks that alternated in time. Each side runs in --processes worker processes
per framework (pyperf's remedy: two processes of identical code can differ by a few percent for their whole
life), paired base#j with new#j, and the ratios of all pairs are pooled. Verdict: regression when the median
ratio exceeds 1 + threshold and its bootstrap CI lies above 1; improvement symmetrically; unchanged when the CI
lies inside (1/(1 + threshold), 1 + threshold); else inconclusive. Unless --blocks fixes the count, rounds go on
until every cell's CI decides (lies wholly on one side of the threshold and of its inverse) or --max-time is
spent; a decided cell's records (both sides, every process) drop out together.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.gate import rules
from bench.errors import UsageError

DEFAULT_THRESHOLD = 5.0
CONFIDENCE = 0.99      # A/A on a loaded 2-core machine: 2 of 48 cells flagged at 0.95, 1 at 0.99
PROCESSES = 3          # worker processes per side and framework: one process can be a few % off another (A/A)
PROBE = ("import json, sys, platform, importlib.metadata as m\n"
         "def v(names):\n    for n in names:\n        try:\n            return m.version(n)\n"
         "        except m.PackageNotFoundError:\n            pass\n"
         "print(json.dumps({'python': platform.python_version(), 'executable': sys.executable,\n"
         "                  'frameworks': {k: v(n) for k, n in json.loads(sys.argv[1]).items()}}))")


def add_arguments(p):  # pragma: no mutate block
    from bench import registry, tasks
    from bench.run import runner
    from bench.options import csv_list
    for side in ("base", "new"):
        p.add_argument(f"--{side}-python", metavar="PYTHON", help=f"Python of the {side} side (a venv's, a tox "
                       "env's, or a wrapper script); with --*-rev it runs that revision (default: this Python)")
        p.add_argument(f"--{side}-rev", metavar="REV", help=f"git revision of this project for the {side} side")
        p.add_argument(f"--{side}-label", default=side, help=f"name of the {side} side in the outputs")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"slowdown in percent a regression must exceed (default {DEFAULT_THRESHOLD:g})")
    p.add_argument("--confidence", type=float, default=CONFIDENCE,
                   help=f"level of the ratio's bootstrap CI (default {CONFIDENCE})")
    p.add_argument("--tasks", type=csv_list(tuple(tasks.TASKS)), help="comma-separated (default: all)")
    p.add_argument("--impls", type=csv_list(registry.IMPLS), help="comma-separated (default: the profile's)")
    p.add_argument("--devices", type=csv_list(registry.DEVICES), help="comma-separated (default: cpu, + gpu if any)")
    p.add_argument("--profile", choices=tuple(runner.PROFILES), default="quick")
    p.add_argument("--threads", type=int, help="threads for every framework (default: physical cores)")
    runner.add_precision_arguments(p, "ab")
    p.add_argument("--processes", type=int, default=PROCESSES,
                   help=f"worker processes per side and framework, ratios pooled (default {PROCESSES})")
    p.add_argument("--cell-timeout", type=float, default=600.0, metavar="S", help="seconds per cell phase")
    p.add_argument("--machine", help="a short name for this machine in the results")
    p.add_argument("--out-dir", metavar="DIR", help="where both sides' results files go (default: runs/ab-<id>/)")
    rules.add_output_arguments(p)


def _python(path: str, flag: str) -> str:  # pragma: no mutate block
    """`path` if it names an executable (absolute, relative or on PATH), else UsageError."""
    found = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
    if not found or Path(found).is_dir():
        raise UsageError(f"{flag} {path}: not an executable Python")
    return str(Path(found).absolute())


def _git(*args, cwd) -> str:  # pragma: no mutate block
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise UsageError(f"git {' '.join(args)}: {(r.stderr.strip().splitlines() or ['failed'])[-1]}")
    return r.stdout.strip()


@contextmanager
def worktree(rev: str, flag: str):  # pragma: no mutate block
    """This project at git revision `rev`, checked out into a temporary worktree (removed afterwards)."""
    from bench.run.runner import ROOT
    top = _git("rev-parse", "--show-toplevel", cwd=ROOT)
    try:
        sha = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=top)
    except UsageError:
        raise UsageError(f"{flag} {rev}: not a commit of the repository at {top}") from None
    path = Path(tempfile.mkdtemp(prefix=f"fwbench-ab-{sha[:7]}-")) / "tree"
    _git("worktree", "add", "--detach", str(path), sha, cwd=top)
    try:
        yield str(path), sha
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=top, capture_output=True)
        shutil.rmtree(path.parent, ignore_errors=True)


def probe(side, flag: str) -> dict:  # pragma: no mutate block
    """The side's Python version and framework versions, asked of that Python (UsageError if it cannot run)."""
    from bench.registry import dists
    try:
        r = subprocess.run([side.python, "-c", PROBE, json.dumps(dists())], cwd=side.root, capture_output=True,
                           text=True, timeout=120)
        return json.loads(r.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        raise UsageError(f"{flag} {side.python}: cannot run it as Python") from None


def merge(recs: list[dict]) -> dict:
    """One results-file cell from the records of the same cell in several processes of one environment."""
    from bench.run import timing
    bad = [r for r in recs if r["status"] == "failed"] or [r for r in recs if r["status"] != "ok"]
    out = {k: v for k, v in (bad or recs)[0].items() if k != "side"}
    if not bad and len(recs) > 1:
        samples = [s for r in recs for s in r["step"]["samples_s"]]
        out["step"] = {**timing.stats(samples), "block": recs[0]["step"]["block"], "processes": len(recs),
                       "blocks_per_process": [len(r["step"]["samples_s"]) for r in recs]}
        out["gflops"] = out["flops"] / out["step"]["median_s"] / 1e9 if out.get("flops") else None
    return out


def decide(med: float, lo: float, hi: float, threshold_pct: float) -> tuple[str, bool]:
    """(verdict, decided) of a median ratio new/base and its CI: decided when the CI lies wholly on one side
    of 1 + threshold and of its inverse, so that more rounds would not change the verdict."""
    limit = 1 + threshold_pct / 100
    decided = (lo > limit or hi < limit) and (lo > 1 / limit or hi < 1 / limit)
    if lo > 1 and med > limit:
        return rules.REGRESSION, decided
    if hi < 1 and med < 1 / limit:
        return rules.IMPROVEMENT, decided
    if 1 / limit < lo and hi < limit:
        return rules.UNCHANGED, decided
    return rules.INCONCLUSIVE, decided


def side_pairs(samples: dict, labels) -> list[tuple[list, list]]:
    """(base samples, new samples) of each process pair in {side label: samples} (base#j with new#j)."""
    out = []
    for label, xs in samples.items():
        if label.split("#")[0] == labels[0]:
            partner = labels[1] + label[len(labels[0]):]
            if partner in samples:
                out.append((xs, samples[partner]))
    return out


def decided(labels, threshold_pct: float, confidence: float):
    """The runner's Until.done for ab: the cell's pooled ratio CI decides at the threshold."""
    def done(samples: dict) -> bool:
        ratios = [y / x for b, n in side_pairs(samples, labels) for x, y in zip(b, n)]
        return not ratios or decide(*rules.ratio_ci(ratios, confidence), threshold_pct)[1]
    return done


def judge(b: dict, n: dict, ratios, threshold_pct: float, confidence: float) -> dict:
    """Verdict of one cell: status first, then the median of the per-round ratios new/base and its CI."""
    from bench.gate.compare import judge as by_status
    if b["status"] != "ok" or n["status"] != "ok":
        return by_status({**b, "median_s": None}, {**n, "median_s": None}, threshold_pct)
    med, lo, hi = rules.ratio_ci(ratios, confidence)
    verdict, _ = decide(med, lo, hi, threshold_pct)
    note = ("the CI straddles the threshold: more rounds (a larger --max-time) would decide"
            if verdict == rules.INCONCLUSIVE else "")
    return {"base_median_s": b["step"]["median_s"], "new_median_s": n["step"]["median_s"], "ratio": med,
            "ratio_ci": [lo, hi], "pairs": len(ratios), "verdict": verdict, "note": note}


def pair_ratios(base_recs, new_recs) -> list[float]:
    """new/base of the same round, process pair by process pair (the blocks that ran back to back)."""
    return [y / x for b, n in zip(base_recs, new_recs) if b["status"] == n["status"] == "ok"
            for x, y in zip(b["step"]["samples_s"], n["step"]["samples_s"])]


def verdicts(records, n_sides, envs, threshold_pct, confidence) -> tuple[list[dict], list[list[dict]]]:
    """One verdict per cell, and each environment's merged cells. A cell's records come together, in side
    order: base, new, base#2, new#2, ..."""
    from bench.gate.compare import env_diff
    from bench.results import size_label
    cells, merged = [], [[], []]
    for i in range(0, len(records), n_sides):
        chunk = records[i:i + n_sides]
        b, n = merge(chunk[0::2]), merge(chunk[1::2])
        merged[0].append(b)
        merged[1].append(n)
        name = f"{b['task']} {size_label(b['size'])} {b['impl']} {b['device']}"
        entry = {"name": name, "task": b["task"], "impl": b["impl"], "device": b["device"],
                 "size": size_label(b["size"]), "variant": b.get("variant"),
                 **judge(b, n, pair_ratios(chunk[0::2], chunk[1::2]), threshold_pct, confidence)}
        diff = env_diff({"framework": b["impl"].split("/")[0], "device": b["device"]}, envs[0], envs[1])
        entry["note"] = "; ".join(filter(None, [entry["note"], *diff]))
        cells.append(entry)
    return cells, merged


def environment_of(base_env: dict, label: str, first: bool, how: str, info: dict, root: str, workers: dict) -> dict:  # pragma: no mutate block
    """One environment's `environment` block: the run's, with that Python's versions, git and workers."""
    from bench.environment import git
    env = {**base_env, "python": info["python"], "executable": Path(info["executable"]).name,
           "frameworks": info["frameworks"], "git": git(root), "ab": how}
    env["workers"] = {}
    for key, v in workers.items():
        name, _, side = key.partition("@")
        if (side.split("#")[0] == label) or (first and not side):
            env["workers"].setdefault(name, v)
    return env


def check(args) -> None:  # pragma: no mutate block
    """Usage errors of the ab-specific options, one line each."""
    pythons = (args.base_python, args.new_python)
    revs = (args.base_rev, args.new_rev)
    if (revs[0] is None) != (revs[1] is None) or (revs[0] is None and None in pythons):
        raise UsageError("give --base-python P --new-python P (two environments) or --base-rev R --new-rev R "
                         "(two revisions of this project)")
    if args.base_label == args.new_label or "#" in args.base_label + args.new_label:
        raise UsageError(f"--base-label and --new-label must differ and hold no '#' ({args.base_label!r}, "
                         f"{args.new_label!r})")
    for name in ("threads", "processes"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.threshold < 0 or not 0.5 <= args.confidence < 1:
        raise UsageError("--threshold must be >= 0 and --confidence in [0.5, 1)")


def run(args) -> int:  # pragma: no mutate block
    import secrets
    from datetime import datetime, timezone

    from bench import environment, registry, results, tasks
    from bench.run import runner, timing
    from bench.run.progress import Progress
    check(args)
    spec = runner.PROFILES[args.profile]
    devices = args.devices or ["cpu"] + (["gpu"] if registry.nvidia_gpu_present() else [])
    threads = args.threads or environment.physical_cores()
    (blocks, _, max_time), k = runner.plan(args, spec, "ab"), args.processes
    t_start = time.perf_counter()
    cells = runner.make_cells(args.profile, args.tasks or list(tasks.TASKS), args.impls, devices)
    now = datetime.now(timezone.utc)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    out_dir = Path(args.out_dir or f"runs/ab-{run_id}")
    labels = (args.base_label, args.new_label)
    files = [out_dir / f"{label}.json" for label in labels]
    with ExitStack() as stack:
        envs = []                                  # (python, root, how) of base and new
        for s in ("base", "new"):
            py, rev = getattr(args, f"{s}_python"), getattr(args, f"{s}_rev")
            root, how = str(runner.ROOT), f"python {py or '(this one)'}"
            if rev:
                root, sha = stack.enter_context(worktree(rev, f"--{s}-rev"))
                how = f"rev {rev} ({sha[:7]})" + (f", python {py}" if py else "")
            envs.append((_python(py, f"--{s}-python") if py else sys.executable, root, how))
        sides = [runner.Side(label + (f"#{j + 1}" if j else ""), py, root)
                 for j in range(k) for label, (py, root, _) in zip(labels, envs)]
        infos = [probe(side, f"--{s}-python") for side, s in zip(sides, ("base", "new"))]
        shared = {"schema": results.SCHEMA, "run_id": run_id, "created": now.isoformat(timespec="seconds"),
                  "profile": args.profile, "command": "fwbench " + " ".join(sys.argv[1:]),
                  "environment": environment.collect(threads, environment.thread_env(threads), args.machine),
                  "harness": {"overhead_s": timing.overhead(), "timer": timing.TIMER, "min_block_s": timing.MIN_BLOCK_S,
                              "blocks": blocks, "processes": k, "warmup_s": spec["warmup_s"], "wall_s": 0.0,
                              "interrupted": False, "precision": None if max_time is None else {
                                  "max_time_s": max_time, "min_blocks": blocks, "threshold_pct": args.threshold,
                                  "rule": "rounds until each cell's ratio CI decides at the threshold, or no time "
                                          "for another pair of rounds; decided cells drop out (both sides)"}}}
        shared["environment"]["device_env"] = {device: environment.device_env(device) for device in devices}
        os.environ.setdefault("PYTHONHASHSEED", "0")   # both sides' workers hash alike: one less A/A difference
        workers, t0 = {}, time.perf_counter()
        side_envs = lambda: [environment_of(shared["environment"], label, i == 0, envs[i][2], infos[i], envs[i][1],
                                            workers) for i, label in enumerate(labels)]

        def save(records):
            shared["harness"]["wall_s"] = round(time.perf_counter() - t0, 3)
            merged = verdicts(records, len(sides), side_envs(), args.threshold, args.confidence)[1]
            for i, env in enumerate(side_envs()):
                results.write_atomic(files[i], {**shared, "run_id": f"{run_id}-{labels[i]}", "environment": env,
                                                "ab": {"side": labels[i], "pair": files[1 - i].name},
                                                "results": merged[i]})

        progress = Progress()
        how_long = (f"{blocks} blocks each" if max_time is None else
                    f"at least {blocks} blocks each, until each cell decides or {max_time:g} s")
        progress.note(f"fwbench ab {run_id}: {len(cells)} cells, {k} process(es) per side, {how_long} "
                      f"({args.profile}); {labels[0]} = {envs[0][2]}, {labels[1]} = {envs[1][2]} -> {out_dir}")
        until = None if max_time is None else runner.Until(
            decided(labels, args.threshold, args.confidence), blocks, t_start + max_time, None,
            f"to a verdict at ±{args.threshold:g}% by {max_time:g} s")
        try:
            records = runner.run_cells(cells, sides, threads=threads, blocks=blocks, warmup_s=spec["warmup_s"],
                                       cell_timeout=args.cell_timeout, workers=workers, progress=progress,
                                       on_update=save, until=until, stats=shared["harness"])
        except runner.Interrupted as e:
            shared["harness"]["interrupted"] = True
            save(e.records)
            sys.stderr.write(f"fwbench ab: interrupted; finished cells kept in {out_dir}\n")
            return 130
        save(records)
    wall = time.perf_counter() - t0
    counts = [len(r["step"]["samples_s"]) for r in records if r["status"] == "ok"]
    span = f"{min(counts, default=0)}–{max(counts, default=0)}" if max_time is not None else f"{blocks}"
    report = {"kind": "ab", "threshold_pct": args.threshold, "confidence": args.confidence, "wall_s": wall,
              "processes": k, "blocks": blocks, "max_time_s": max_time, "stopped": shared["harness"].get("stopped"),
              "rule": (f"Regression: the median of the per-round ratios {labels[1]}/{labels[0]} (blocks that "
                       f"alternated in time) exceeds {1 + args.threshold / 100:.3g} and its {args.confidence:.0%} "
                       f"bootstrap CI lies above 1; improvement symmetrically; unchanged when the CI lies within "
                       f"±{args.threshold:g}%; else inconclusive. {k} worker process(es) per side x {span} blocks "
                       f"per cell" + ("" if max_time is None else f" (rounds until each cell's CI decided, budget "
                                      f"{max_time:g} s; stopped: {shared['harness'].get('stopped')})")
                       + f"; wall {wall:.0f} s; results: {files[0]}, {files[1]}."),
              "base": {"label": labels[0], "how": envs[0][2], "file": str(files[0])},
              "new": {"label": labels[1], "how": envs[1][2], "file": str(files[1])},
              "cells": verdicts(records, len(sides), side_envs(), args.threshold, args.confidence)[0]}
    rules.finish(report, gated=rules.GATED + (rules.FAILED_BOTH,))
    return rules.write_outputs(report, args)
