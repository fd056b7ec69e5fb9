"""`fwbench ab`: the same cells in two environments, their blocks interleaved in one run.

Sides are two Pythons (--base-python/--new-python: two venvs, two tox envs, or wrapper scripts) or two git
revisions of this project (--base-rev/--new-rev, checked out into temporary worktrees whose workers run from
there). bench.runner.run_cells times round r of every cell on both sides back to back, so per cell the ratios
new/base of round r compare blocks that alternated in time. Verdict: regression when the median ratio exceeds
1 + threshold and its bootstrap CI lies above 1; improvement symmetrically; else unchanged.
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

from bench import gate
from bench.errors import UsageError

DEFAULT_THRESHOLD = 5.0
BLOCKS = {"quick": 21, "full": 31}      # more than `run`: the verdict rests on the spread of the pairwise ratios
PROBE = ("import json, sys, platform, importlib.metadata as m\n"
         "def v(names):\n    for n in names:\n        try:\n            return m.version(n)\n"
         "        except m.PackageNotFoundError:\n            pass\n"
         "print(json.dumps({'python': platform.python_version(), 'executable': sys.executable,\n"
         "                  'frameworks': {k: v(n) for k, n in json.loads(sys.argv[1]).items()}}))")


def add_arguments(p):
    from bench import registry, runner, tasks
    from bench.cli import csv_list
    for side in ("base", "new"):
        p.add_argument(f"--{side}-python", metavar="PYTHON", help=f"Python of the {side} side (a venv's, a tox "
                       "env's, or a wrapper script); with --*-rev it runs that revision (default: this Python)")
        p.add_argument(f"--{side}-rev", metavar="REV", help=f"git revision of this project for the {side} side")
        p.add_argument(f"--{side}-label", default=side, help=f"name of the {side} side in the outputs")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"slowdown in percent a regression must exceed (default {DEFAULT_THRESHOLD:g})")
    p.add_argument("--confidence", type=float, default=0.95, help="level of the ratio's bootstrap CI (default 0.95)")
    p.add_argument("--tasks", type=csv_list(tuple(tasks.TASKS)), help="comma-separated (default: all)")
    p.add_argument("--impls", type=csv_list(registry.IMPLS), help="comma-separated (default: the profile's)")
    p.add_argument("--devices", type=csv_list(registry.DEVICES), help="comma-separated (default: cpu, + gpu if any)")
    p.add_argument("--profile", choices=tuple(runner.PROFILES), default="quick")
    p.add_argument("--threads", type=int, help="threads for every framework (default: physical cores)")
    p.add_argument("--blocks", type=int, help="steady-state blocks per cell and side (default: "
                   + ", ".join(f"{k} {v}" for k, v in BLOCKS.items()) + ")")
    p.add_argument("--cell-timeout", type=float, default=600.0, metavar="S", help="seconds per cell phase")
    p.add_argument("--machine", help="a short name for this machine in the results")
    p.add_argument("--out-dir", metavar="DIR", help="where both sides' results files go (default: runs/ab-<id>/)")
    gate.add_output_arguments(p)


def _python(path: str, flag: str) -> str:
    """`path` if it names an executable (absolute, relative or on PATH), else UsageError."""
    found = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
    if not found or Path(found).is_dir():
        raise UsageError(f"{flag} {path}: not an executable Python")
    return str(Path(found).absolute())


def _git(*args, cwd) -> str:
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise UsageError(f"git {' '.join(args)}: {(r.stderr.strip().splitlines() or ['failed'])[-1]}")
    return r.stdout.strip()


@contextmanager
def worktree(rev: str, flag: str):
    """This project at git revision `rev`, checked out into a temporary worktree (removed afterwards)."""
    from bench.runner import ROOT
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


def probe(side, flag: str) -> dict:
    """The side's Python version and framework versions, asked of that Python (UsageError if it cannot run)."""
    from bench.environment import DISTS
    try:
        r = subprocess.run([side.python, "-c", PROBE, json.dumps(DISTS)], cwd=side.root, capture_output=True,
                           text=True, timeout=120)
        return json.loads(r.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        raise UsageError(f"{flag} {side.python}: cannot run it as Python") from None


def judge(b: dict, n: dict, threshold_pct: float, confidence: float) -> dict:
    """Verdict of one cell from its two records: status first, then the pairwise ratios of its rounds."""
    from bench.compare import judge as by_status
    if b["status"] != "ok" or n["status"] != "ok":
        return by_status({**b, "median_s": None}, {**n, "median_s": None}, threshold_pct)
    bs, ns = b["step"]["samples_s"], n["step"]["samples_s"]
    ratios = [y / x for x, y in zip(bs, ns)]
    med, lo, hi = gate.ratio_ci(ratios, confidence)
    limit = 1 + threshold_pct / 100
    verdict = gate.UNCHANGED
    if lo > 1 and med > limit:
        verdict = gate.REGRESSION
    elif hi < 1 and med < 1 / limit:
        verdict = gate.IMPROVEMENT
    return {"base_median_s": b["step"]["median_s"], "new_median_s": n["step"]["median_s"], "ratio": med,
            "ratio_ci": [lo, hi], "pairs": len(ratios), "verdict": verdict, "note": ""}


def verdicts(records, sides, envs, threshold_pct, confidence) -> list[dict]:
    """One verdict per cell: records come in cell order, the two sides of a cell next to each other."""
    from bench.compare import env_diff
    from bench.results import size_label
    cells = []
    for b, n in zip(records[::2], records[1::2]):
        fw = b["impl"].split("/")[0]
        name = f"{b['task']} {size_label(b['size'])} {b['impl']} {b['device']}"
        entry = {"name": name, "task": b["task"], "impl": b["impl"], "device": b["device"],
                 "size": size_label(b["size"]), "variant": b.get("variant"), **judge(b, n, threshold_pct, confidence)}
        diff = env_diff({"framework": fw, "device": b["device"]}, envs[0], envs[1])
        entry["note"] = "; ".join(filter(None, [entry["note"], *diff]))
        cells.append(entry)
    return cells


def side_results(base: dict, side, how: str, info: dict, records, workers: dict, first: bool, pair: str) -> dict:
    """The results file of one side: the shared run data, this side's environment and its records."""
    from bench.environment import git
    env = {**base["environment"], "python": info["python"], "executable": info["executable"],
           "frameworks": info["frameworks"], "git": git(side.root)}
    suffix = "" if first else f"@{side.label}"
    env["workers"] = {k[:-len(suffix)] if suffix else k: v for k, v in workers.items()
                      if (k.endswith(suffix) if suffix else "@" not in k)}
    return {**base, "run_id": f"{base['run_id']}-{side.label}", "environment": env,
            "ab": {"side": side.label, "pair": pair, "how": how},
            "results": [{k: v for k, v in r.items() if k != "side"} for r in records if r["side"] == side.label]}


def run(args) -> int:
    import secrets
    from datetime import datetime, timezone

    from bench import environment, registry, results, runner, tasks, timing
    from bench.progress import Progress
    pythons = {s: getattr(args, f"{s}_python") for s in ("base", "new")}
    revs = {s: getattr(args, f"{s}_rev") for s in ("base", "new")}
    if (revs["base"] is None) != (revs["new"] is None) or (not any(revs.values())
                                                          and None in pythons.values()):
        raise UsageError("give --base-python P --new-python P (two environments) or --base-rev R --new-rev R "
                         "(two revisions of this project)")
    if args.base_label == args.new_label:
        raise UsageError(f"--base-label and --new-label must differ (both are {args.base_label!r})")
    for name in ("threads", "blocks"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.threshold < 0 or not 0.5 <= args.confidence < 1:
        raise UsageError("--threshold must be >= 0 and --confidence in [0.5, 1)")
    spec = runner.PROFILES[args.profile]
    impls = args.impls or [i for i in registry.IMPLS if args.profile == "full" or i != "torch/compile"]
    devices = args.devices or ["cpu"] + (["gpu"] if registry.nvidia_gpu_present() else [])
    threads = args.threads or environment.physical_cores()
    blocks = args.blocks or BLOCKS.get(args.profile, spec["blocks"])
    cells = runner.make_cells(args.profile, args.tasks or list(tasks.TASKS), impls, devices)
    now = datetime.now(timezone.utc)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    out_dir = Path(args.out_dir or f"runs/ab-{run_id}")
    with ExitStack() as stack:
        sides, how = [], []
        for s, label in (("base", args.base_label), ("new", args.new_label)):
            py = _python(pythons[s], f"--{s}-python") if pythons[s] else sys.executable
            root, desc = str(runner.ROOT), f"python {pythons[s] or '(this one)'}"
            if revs[s]:
                root, sha = stack.enter_context(worktree(revs[s], f"--{s}-rev"))
                desc = f"rev {revs[s]} ({sha[:7]})" + (f", python {pythons[s]}" if pythons[s] else "")
            sides.append(runner.Side(label, py, root))
            how.append(desc)
        infos = [probe(side, f"--{s}-python") for side, s in zip(sides, ("base", "new"))]
        shared = {"schema": results.SCHEMA, "run_id": run_id, "created": now.isoformat(timespec="seconds"),
                  "profile": args.profile, "command": "fwbench " + " ".join(sys.argv[1:]),
                  "environment": environment.collect(threads, environment.thread_env(threads), args.machine),
                  "harness": {"overhead_s": timing.overhead(), "timer": timing.TIMER, "min_block_s": timing.MIN_BLOCK_S,
                              "blocks": blocks, "warmup_s": spec["warmup_s"], "wall_s": 0.0, "interrupted": False}}
        os.environ.setdefault("PYTHONHASHSEED", "0")   # both sides' workers hash alike: one less A/A difference
        workers, t0 = {}, time.perf_counter()
        files = [out_dir / f"{side.label}.json" for side in sides]

        def save(records):
            shared["harness"]["wall_s"] = round(time.perf_counter() - t0, 3)
            for i, (side, info, f) in enumerate(zip(sides, infos, files)):
                results.write_atomic(f, side_results(shared, side, how[i], info, records, workers, i == 0,
                                                     files[1 - i].name))

        progress = Progress()
        progress.note(f"fwbench ab {run_id}: {len(cells)} cells x 2 sides ({args.profile}, {blocks} blocks), "
                      f"{args.base_label} = {how[0]}, {args.new_label} = {how[1]} -> {out_dir}")
        try:
            records = runner.run_cells(cells, sides, threads=threads, blocks=blocks, warmup_s=spec["warmup_s"],
                                       cell_timeout=args.cell_timeout, workers=workers, progress=progress,
                                       on_update=save)
        except runner.Interrupted as e:
            shared["harness"]["interrupted"] = True
            save(e.records)
            sys.stderr.write(f"fwbench ab: interrupted; finished cells kept in {out_dir}\n")
            return 130
        save(records)
    wall = time.perf_counter() - t0
    envs = [side_results(shared, s, "", i, [], workers, k == 0, "")["environment"]
            for k, (s, i) in enumerate(zip(sides, infos))]
    report = {"kind": "ab", "threshold_pct": args.threshold, "confidence": args.confidence, "wall_s": wall,
              "rule": (f"Regression: the median of the per-round ratios {args.new_label}/{args.base_label} (blocks "
                       f"that alternated in time) exceeds {1 + args.threshold / 100:.3g} and its {args.confidence:.0%} "
                       f"bootstrap CI lies above 1; improvement symmetrically. {blocks} blocks per cell and side; "
                       f"wall {wall:.0f} s; results: {files[0]}, {files[1]}."),
              "base": {"label": args.base_label, "how": how[0], "file": str(files[0])},
              "new": {"label": args.new_label, "how": how[1], "file": str(files[1])},
              "cells": verdicts(records, sides, envs, args.threshold, args.confidence)}
    gate.finish(report, gated=gate.GATED + (gate.FAILED_BOTH,))
    return gate.write_outputs(report, args)
