"""Exact outputs of the verdict code on fixed synthetic inputs, against tests/snapshots/outputs.json.

A changed verdict, ratio, note, rule, Markdown comment or README paragraph fails here; when the change is meant,
regenerate with `FWBENCH_UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py` and review the diff.
"""
import json
import os
from pathlib import Path

from synth import ENV, cell, run, write

from bench.gate import ab, compare, published, rules
from bench.run import timing

SNAPSHOT = Path(__file__).with_name("snapshots") / "outputs.json"


def rounded(x):
    """Floats to 6 significant digits (library versions may move the last bits), recursively."""
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {str(k): rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [rounded(v) for v in x]
    return x


def compare_outputs(tmp):
    gpu = [{"name": "H100"}]
    base = write(tmp / "base.json", [
        cell("mlp", "numpy/manual", 1e-4, seed=1), cell("mlp", "torch/eager", 3e-4, seed=2),
        cell("cnn", "jax/jit", 0.1, seed=3, n=5), cell("cnn", "numpy/manual", 0.09, seed=4),
        cell("elementwise", "numpy/manual", 2e-5, seed=5), cell("elementwise", "jax/eager", 1e-3, seed=6),
        cell("single_layer", "numpy/manual", status="failed", reason="worker died"),
        cell("single_layer", "torch/eager", status="skipped", reason="no GPU"),
        {**cell("mlp", "jax/jit", 2e-4, seed=7), "device": "gpu"}], gpus=gpu)
    new = write(tmp / "new.json", [
        cell("mlp", "numpy/manual", 1.3e-4, seed=11), cell("mlp", "torch/eager", 6e-4, seed=12),
        cell("cnn", "jax/jit", 0.05, seed=13, n=5), cell("cnn", "numpy/manual", 0.091, seed=14),
        cell("elementwise", "numpy/manual", status="failed", reason="gradient check failed"),
        cell("single_layer", "numpy/manual", 1e-5, seed=15), cell("single_layer", "torch/eager", 1e-5, seed=16),
        {**cell("mlp", "jax/jit", 2e-4, seed=17), "device": "gpu"}],
        frameworks={**ENV["frameworks"], "torch": "2.14.0"}, gpus=[{"name": "A100"}])
    # the verdict rules alone (shift=False: this run has too few cells per framework to estimate a run-wide
    # shift; the shift has its own tests in test_precision.py), then once with the shift
    reports = {f"compare threshold {t}": compare.compare(base, new, t, noise_pct=0, shift=False) for t in (10.0, 40.0)}
    reports["compare ignore framework,device"] = compare.compare(base, new, 10.0, noise_pct=0, shift=False,
                                                                 ignore_env=["framework", "device"])
    reports["compare with shift"] = compare.compare(base, new, 10.0, noise_pct=0)
    out = {}
    for name, r in reports.items():
        for side in ("base", "new"):
            r[side]["file"] = Path(r[side]["file"]).name
        out[name] = {"report": r, "markdown": rules.markdown(r), "headline": rules.headline(r)}
    out["thresholds"] = [compare.threshold(10.0, "m", 25.0), compare.threshold(10.0, "m", 5.0),
                         compare.threshold(10.0, "m", 0.0)]
    return out


def ab_outputs():
    recs = []
    for k, (task, base_med, ratio) in enumerate([("mlp", 1e-4, 1.10), ("cnn", 0.05, 1.0), ("elementwise", 2e-5, 0.8)]):
        for j in range(2):                                 # two processes per side: base, new, base#2, new#2
            b = cell(task, "numpy/manual", base_med, seed=10 * k + j, n=8)
            n = cell(task, "numpy/manual", given=[s * ratio * (1 + 0.01 * ((i * 7 + j) % 5 - 2))
                                                   for i, s in enumerate(b["step"]["samples_s"])])
            recs += [{**b, "side": "base" + (f"#{j + 1}" if j else "")}, {**n, "side": "new" + (f"#{j + 1}" if j else "")}]
    recs += [{**cell("single_layer", "numpy/manual", 1e-5), "side": s} for s in ("base", "new", "base#2")]
    recs.append({**cell("single_layer", "numpy/manual", status="failed", reason="boom"), "side": "new#2"})
    envs = [{"machine": "m", "threads": 2, "frameworks": {"numpy": "2.0"}},
            {"machine": "m", "threads": 4, "frameworks": {"numpy": "2.1"}}]
    cells, merged = ab.verdicts(recs, 4, envs, 5.0, 0.99)
    report = rules.finish({"kind": "ab", "confidence": 0.99, "rule": "r", "cells": cells,
                          "base": {"label": "base"}, "new": {"label": "new"}}, gated=rules.GATED + (rules.FAILED_BOTH,))
    return {"cells": cells, "merged": merged, "markdown": rules.markdown(report), "rows": rules.rows(report),
            "columns": rules.columns(report)}


def statistics_outputs():
    x = [1.0, 1.3, 0.9, 1.1, 2.5, 1.05, 0.95, 1.2]
    return {"stats": timing.stats(x), "stats seed 3": timing.stats(x, seed=3), "median_ci 99": rules.median_ci(x),
            "median_ci 95": rules.median_ci(x, 0.95), "ratio_ci": rules.ratio_ci(x),
            "significant 6 v 6": rules.significant(x[:6], [v * 1.5 for v in x[:6]]),
            "significant 5 v 5": rules.significant(x[:5], [v * 3 for v in x[:5]]),
            "significant 2 v 9": rules.significant(x[:2], x + [1.0])}


def published_outputs():
    quick = run([cell("mlp", "jax/jit", 2e-4), cell("mlp", "numpy/manual", 1e-4, block=50),
                 {**cell("mlp", "torch/eager", 5e-5), "variant": "aa-copy"}, cell("cnn", "torch/eager", 4e-2),
                 cell("cnn", "jax/jit", status="skipped", reason="no GPU")], created="2026-01-01T00:10:00+00:00")
    quick["environment"]["workers"] = {"jax/cpu": {"import_s": 0.8}, "torch/cpu": {"import_s": 2.0},
                                       "numpy/cpu": {"import_s": None}}
    avx2 = run([cell("mlp", "jax/jit", 2e-4)], created="2026-01-01T00:12:00+00:00",
               cpu={**ENV["cpu"], "flags_avx2": True}, gpus=[{"name": "H100"}, {"name": "H100"}])
    avx2["harness"]["wall_s"] = 30.5
    return {"paragraph": published.paragraph([("q.json", quick), ("a.json", avx2)]),
            "seconds": [published._s(x) for x in (2.5, 0.0123, 4.56e-5, 7.8e-9, 1.0, 1e-3, 1e-6)]}


def outputs(tmp):
    return rounded({"compare": compare_outputs(tmp), "ab": ab_outputs(), "statistics": statistics_outputs(),
                    "published": published_outputs()})


def test_outputs_match_the_snapshot(tmp_path):
    got = json.loads(json.dumps(outputs(tmp_path), default=list))
    if os.environ.get("FWBENCH_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(SNAPSHOT.read_text())
    for part in want:
        for key in want[part]:
            assert got[part][key] == want[part][key], f"{part} / {key} differs from {SNAPSHOT.name}"
    assert got == want


def test_the_snapshot_says_what_the_rules_say():
    """Spot checks of the snapshot itself, so that a wrong snapshot cannot be regenerated unnoticed."""
    want = json.loads(SNAPSHOT.read_text())
    verdicts = {c["name"]: c["verdict"] for c in want["compare"]["compare threshold 10.0"]["report"]["cells"]}
    assert verdicts["mlp n=500 hidden=5x3x4 numpy/manual cpu"] == rules.REGRESSION
    assert verdicts["mlp n=500 hidden=5x3x4 torch/eager cpu"] == rules.ENV
    assert verdicts["mlp n=500 hidden=5x3x4 jax/jit gpu"] == rules.ENV
    assert verdicts["cnn batch=64 jax/jit cpu"] == rules.IMPROVEMENT
    assert verdicts["cnn batch=64 numpy/manual cpu"] == rules.UNCHANGED
    assert verdicts["elementwise shape=3x4 op=mul numpy/manual cpu"] == rules.FAILED_NEW
    assert verdicts["elementwise shape=3x4 op=mul jax/eager cpu"] == rules.ONLY_BASE
    assert verdicts["single_layer n=64 d_in=4 d_out=2 numpy/manual cpu"] == rules.FAILED_BASE
    assert want["compare"]["compare threshold 10.0"]["report"]["exit"] == 1
    ab_verdicts = {c["task"]: c["verdict"] for c in want["ab"]["cells"]}
    assert ab_verdicts == {"mlp": rules.REGRESSION, "cnn": rules.UNCHANGED, "elementwise": rules.IMPROVEMENT,
                           "single_layer": rules.FAILED_NEW}
    assert "less than the 10 ms minimum: 2 of 4 (q), 0 of 1 (a)" in " ".join(want["published"]["paragraph"].split())
