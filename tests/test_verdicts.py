"""The regression verdicts on synthetic samples with real noise: significant or not, a CI straddling 1, a new
framework version. No run, no framework: each case's truth is built in."""
import json
import statistics

import numpy as np
import pytest
from synth import ENV, cell, write

from bench.gate import ab, compare, rules
from bench.errors import UsageError

US = 1e-4
BASE = [x * US for x in (0.95, 0.97, 0.99, 1.0, 1.01, 1.02, 1.03, 1.05)]


def row(samples, status="ok", reason=None):
    """A frame row as compare.judge reads it."""
    return {"status": status, "reason": reason, "median_s": statistics.median(samples) if samples else None,
            "samples_s": samples}


def verdict(base, new, threshold=10.0):
    return compare.judge(row(base), row(new), threshold)


def test_a_significant_slowdown_beyond_the_threshold_is_a_regression():
    v = verdict(BASE, [x * 1.2 for x in BASE])
    assert v["verdict"] == rules.REGRESSION and v["ratio"] == pytest.approx(1.2) and v["p"] < rules.P_MAX
    assert verdict([x * 1.2 for x in BASE], BASE)["verdict"] == rules.IMPROVEMENT


def test_a_slowdown_within_the_threshold_is_unchanged_however_significant():
    v = verdict(BASE, [x * 1.08 for x in BASE])
    assert v["p"] < rules.P_MAX and v["verdict"] == rules.UNCHANGED
    assert verdict([x * 1.08 for x in BASE], BASE)["verdict"] == rules.UNCHANGED
    assert verdict(BASE, [x * 1.08 for x in BASE], threshold=5.0)["verdict"] == rules.REGRESSION


def test_a_large_but_insignificant_change_is_inconclusive_not_gated():
    noisy_base = [x * US for x in (0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.5, 1.7)]
    noisy_new = [x * US for x in (0.6, 0.8, 1.0, 1.15, 1.25, 1.45, 1.65, 1.9)]
    v = verdict(noisy_base, noisy_new)
    assert v["ratio"] > 1.1 and v["p"] > 0.5 and v["verdict"] == rules.INCONCLUSIVE and "not significant" in v["note"]
    assert verdict(noisy_new, noisy_base)["verdict"] == rules.INCONCLUSIVE          # an unproven improvement too
    assert rules.INCONCLUSIVE not in rules.GATED
    # p = 0.006: significant at the usual 5%, not at asv's 0.002; 19% slower
    new = [x * US for x in (1.0, 1.04, 1.15, 1.18, 1.22, 1.25, 1.3, 1.35)]
    v = verdict(BASE, new)
    assert 0.002 < v["p"] < 0.01 and v["ratio"] > 1.19 and v["verdict"] == rules.INCONCLUSIVE
    assert "Mann-Whitney p=0.0063" == v["test"]
    v = verdict(noisy_base, [x * 1.05 for x in noisy_base])                         # within the threshold
    assert v["verdict"] == rules.UNCHANGED and v["note"] == ""


def test_too_few_blocks_for_the_test_fall_back_to_99_percent_cis():
    base = [x * US for x in (0.98, 1.0, 1.02, 0.99, 1.01)]
    v = verdict(base, [x * 1.3 for x in base])
    assert v["p"] is None and v["test"] == "99% CIs apart" and v["verdict"] == rules.REGRESSION
    overlapping = [x * US for x in (0.9, 1.2, 1.5, 1.3, 1.25)]
    v = verdict(base, overlapping)
    assert v["ratio"] == pytest.approx(1.25) and v["test"] == "99% CIs overlap" and v["verdict"] == rules.INCONCLUSIVE


def test_status_comes_before_numbers():
    ok, failed = row(BASE), row([], "failed", "worker died")
    skipped = row([], "skipped", "no GPU")
    assert compare.judge(ok, failed, 10)["verdict"] == rules.FAILED_NEW
    assert compare.judge(failed, failed, 10)["verdict"] == rules.FAILED_BOTH
    assert compare.judge(failed, ok, 10)["verdict"] == rules.FAILED_BASE
    assert compare.judge(ok, skipped, 10) == {**compare.judge(ok, skipped, 10), "verdict": rules.SKIPPED,
                                                "note": "no GPU"}


def test_compare_files_gates_only_what_it_may(tmp_path):
    """numpy slowed 30% in a run where torch also changed release: numpy is a regression; torch is listed, not
    judged; an unchanged cell in noise stays unchanged; the exit code follows."""
    def cells(numpy_median, torch_median, seed):
        return [cell("mlp", "numpy/manual", numpy_median, seed=seed), cell("mlp", "torch/eager", torch_median, seed=seed),
                cell("single_layer", "numpy/manual", 5e-5, seed=seed + 7)]
    base = write(tmp_path / "base.json", cells(1e-4, 3e-4, 1))
    new = write(tmp_path / "new.json", cells(1.3e-4, 6e-4, 2), frameworks={"numpy": "2.0", "torch": "2.14.0"})
    report = compare.compare(base, new, 10.0, noise_pct=0)
    got = {(c["task"], c["impl"]): c for c in report["cells"]}
    assert got["mlp", "numpy/manual"]["verdict"] == rules.REGRESSION
    torch = got["mlp", "torch/eager"]
    assert torch["verdict"] == rules.ENV and "torch 2.13.0 -> 2.14.0" in torch["note"] and "regression" in torch["note"]
    assert got["single_layer", "numpy/manual"]["verdict"] == rules.UNCHANGED
    assert report["exit"] == 1
    report = compare.compare(base, new, 10.0, noise_pct=0, ignore_env=["framework"])
    assert {c["verdict"] for c in report["cells"]} == {rules.REGRESSION, rules.UNCHANGED} and report["exit"] == 1
    same = write(tmp_path / "same.json", cells(1e-4, 3e-4, 3))          # A/A: fresh noise, same medians
    report = compare.compare(base, same, 10.0, noise_pct=0)
    assert {c["verdict"] for c in report["cells"]} == {rules.UNCHANGED} and report["exit"] == 0


def test_threshold_raised_to_the_noise(tmp_path):
    base = write(tmp_path / "base.json", [cell("mlp", "numpy/manual", 1e-4, seed=1)])
    new = write(tmp_path / "new.json", [cell("mlp", "numpy/manual", 1.3e-4, seed=2)])
    assert compare.compare(base, new, 10.0, noise_pct=0)["exit"] == 1
    report = compare.compare(base, new, 10.0, noise_pct=40)
    assert report["exit"] == 0 and report["threshold_pct"] == 40 and report["cells"][0]["verdict"] == rules.WITHIN_NOISE
    assert report["cells"][0]["note"].startswith("changes below 40% cannot be seen here; shift not estimated")
    assert "Changes below 40% cannot be seen here: cells within it are 'within noise'" in report["rule"]
    assert "cannot be seen" not in compare.compare(base, new, 10.0, noise_pct=5)["rule"]
    assert compare.compare(base, new, 10.0, noise_pct=5)["threshold_pct"] == 10.0


# ---------------------------------------------------------------- ab: the CI of the median pairwise ratio
def ab_verdict(ratios, threshold=5.0, confidence=ab.CONFIDENCE):
    base = [US] * len(ratios)
    new = [US * r for r in ratios]
    b, n = ({"status": "ok", "step": {"median_s": statistics.median(x), "samples_s": x}} for x in (base, new))
    return ab.judge(b, n, ab.pair_ratios([b], [n]), threshold, confidence)


def test_ab_flags_a_slowdown_whose_ci_lies_above_one():
    v = ab_verdict([1.09, 1.10, 1.12, 1.08, 1.11, 1.10, 1.13, 1.09])
    assert v["verdict"] == rules.REGRESSION and v["ratio"] == pytest.approx(1.10) and v["ratio_ci"][0] > 1.05
    v = ab_verdict([1 / r for r in (1.09, 1.10, 1.12, 1.08, 1.11, 1.10, 1.13, 1.09)])
    assert v["verdict"] == rules.IMPROVEMENT


def test_ab_leaves_a_median_above_the_threshold_alone_when_its_ci_straddles_one():
    v = ab_verdict([0.8, 1.3, 0.9, 1.25, 1.1, 1.1, 0.95, 1.2])
    assert v["ratio"] == pytest.approx(1.10) and v["ratio_ci"][0] < 1 < v["ratio_ci"][1]
    assert v["verdict"] == rules.INCONCLUSIVE              # neither a regression nor, with that CI, unchanged
    assert ab_verdict([1 / r for r in (0.8, 1.3, 0.9, 1.25, 1.1, 1.1, 0.95, 1.2)])["verdict"] == rules.INCONCLUSIVE


def test_ab_uses_its_99_percent_interval():
    ratios = [1.12, 1.056, 1.269, 1.236, 1.154, 0.869, 1.089, 1.16]   # 95% CI above 1, 99% CI not
    assert ab.CONFIDENCE == 0.99
    assert rules.ratio_ci(ratios, 0.95)[1] > 1 >= rules.ratio_ci(ratios, 0.99)[1]
    assert ab_verdict(ratios, confidence=0.95)["verdict"] == rules.REGRESSION
    assert ab_verdict(ratios)["verdict"] == rules.INCONCLUSIVE


def test_ab_within_the_threshold_is_unchanged():
    v = ab_verdict([1.03, 1.04, 1.035, 1.04, 1.03, 1.04, 1.035, 1.04])
    assert v["ratio_ci"][0] > 1 and v["verdict"] == rules.UNCHANGED


def test_ratio_ci_is_symmetric_in_base_and_new():
    ratios = [0.97, 1.02, 1.05, 0.99, 1.01, 1.08, 0.96, 1.03]
    med, lo, hi = rules.ratio_ci(ratios)
    imed, ilo, ihi = rules.ratio_ci([1 / r for r in ratios])
    assert med * imed == pytest.approx(1) and lo * ihi == pytest.approx(1) and hi * ilo == pytest.approx(1)
    assert rules.median_ci([2.0, 2.0, 2.0]) == (2.0, 2.0) and rules.median_ci([1.0, 3.0]) == (2.0, 2.0)


def test_gate_exit_code_and_order():
    report = rules.finish({"cells": [{"verdict": v} for v in (rules.UNCHANGED, rules.IMPROVEMENT, rules.REGRESSION)]})
    assert report["exit"] == 1 and [c["verdict"] for c in report["cells"]][0] == rules.REGRESSION
    assert report["counts"] == {rules.REGRESSION: 1, rules.IMPROVEMENT: 1, rules.UNCHANGED: 1}
    assert rules.headline(report) == "1 regression, 1 improvement, 1 unchanged"
    assert rules.finish({"cells": [{"verdict": rules.ENV}, {"verdict": rules.SKIPPED}]})["exit"] == 0
    assert rules.finish({"cells": [{"verdict": rules.FAILED_NEW}]})["exit"] == 1
    assert json.dumps(rules.GATED) == json.dumps([rules.REGRESSION, rules.FAILED_NEW])


def test_the_noise_file_is_read_per_machine(tmp_path):
    path = tmp_path / "noise.json"
    path.write_text(json.dumps({"machines": {"m": {"run_to_run_pct": 30, "by": "aa", "measured": "today",
                                                   "how": "10 runs"}}}))
    assert rules.noise("m", path) == (30.0, "run-to-run noise of m measured by aa on today (10 runs; noise.json)")
    assert rules.noise("other", path) is None
    path.write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a noise file"):
        rules.noise("m", path)
    with pytest.raises(UsageError, match="no such noise file"):
        rules.noise("m", tmp_path / "none.json")
    (tmp_path / "n2.json").write_text(json.dumps({"machines": {"m": {"run_to_run_pct": 30}}}))
    thr, why = compare.threshold(10.0, "m", noise_file=tmp_path / "n2.json")
    assert thr == 30.0 and why.startswith("threshold 10% raised to 30%, the run-to-run noise of m measured by ?")
    with pytest.raises(UsageError):
        compare.threshold(-1.0, "m")
    with pytest.raises(UsageError):
        compare.threshold(10.0, "m", noise_pct=-1.0)


def test_ab_side_pairs_pair_each_base_process_with_its_new_partner():
    samples = {"base": [1], "new": [2], "base#2": [3], "new#2": [4], "new#3": [5], "base#4": [6], "baseline": [7],
               "newline": [8]}
    assert ab.side_pairs(samples, ("base", "new")) == [([1], [2]), ([3], [4])]   # base#4 has no partner
    assert ab.side_pairs({"A#2": [1], "B#2": [2], "B": [3]}, ("A", "B")) == [([1], [2])]
    assert ab.side_pairs({"new": [2], "base": [1]}, ("new", "base")) == [([2], [1])]


def test_ab_decided_stops_a_cell_when_its_pooled_ratio_ci_decides():
    tight = [1.10 + 0.002 * (k % 3 - 1) for k in range(8)]              # 10% slower, tight: decided at 5%
    near = [1.05 + 0.03 * (k % 3 - 1) for k in range(8)]               # at the threshold: not decided
    def samples(ratios, procs=2):
        out = {}
        for j in range(procs):
            suffix = f"#{j + 1}" if j else ""
            out["base" + suffix], out["new" + suffix] = [US] * len(ratios), [US * r for r in ratios]
        return out
    done = ab.decided(("base", "new"), 5.0, 0.99)
    assert done(samples(tight)) is True and done(samples(near)) is False
    assert done({}) is True and done({"base": [US], "new#2": [US]}) is True     # no pairs: nothing to wait for
    assert ab.decided(("base", "new"), 20.0, 0.99)(samples(near)) is True     # inside ±20%: unchanged, decided
    assert ab.decided(("x", "y"), 5.0, 0.99)(samples(near)) is True          # other labels: no pairs
    # the confidence is the one given: this CI lies above 1.05 at 50%, not at 99%
    spread = [1.07, 1.08, 1.09, 1.10, 1.11, 1.12, 1.13, 1.0]
    assert ab.decided(("base", "new"), 5.0, 0.5)(samples(spread, 1)) is True and done(samples(spread, 1)) is False


def test_compare_against_a_folder_picks_the_latest_earlier_run_of_the_same_machine_and_profile(tmp_path):
    c = [cell("mlp", "numpy/manual", 1e-4)]
    new = write(tmp_path / "runs" / "new.json", c, created="2026-01-05T00:00:00+00:00")
    write(tmp_path / "runs" / "jan1.json", c, created="2026-01-01T00:00:00+00:00")
    want = write(tmp_path / "runs" / "sub" / "jan3.json", c, created="2026-01-03T00:00:00+00:00")
    write(tmp_path / "runs" / "jan4-other-machine.json", c, created="2026-01-04T00:00:00+00:00", machine="other")
    write(tmp_path / "runs" / "jan4-full.json", c, created="2026-01-04T00:00:00+00:00", profile="full")
    write(tmp_path / "runs" / "jan6-later.json", c, created="2026-01-06T00:00:00+00:00")
    write(tmp_path / "runs" / "copy.json", c, created="2026-01-04T00:00:00+00:00", run_id="new")   # NEW's copy
    write(tmp_path / "runs" / "same-time.json", c, created="2026-01-05T00:00:00+00:00")   # not before NEW
    assert compare.previous_run(tmp_path / "runs", new) == str(want)
    assert compare.previous_run(tmp_path / "runs", tmp_path / "runs" / "jan1.json") is None
    assert compare.previous_run(tmp_path / "runs", tmp_path / "runs" / "jan4-full.json") is None


def test_ab_merge_pools_the_processes_and_recomputes_the_figures():
    a, b = cell("mlp", "numpy/manual", given=[1e-3, 2e-3, 3e-3]), cell("mlp", "numpy/manual", given=[4e-3, 5e-3])
    for r in (a, b):
        r["flops"] = 2e6
    m = ab.merge([{**a, "side": "base"}, {**b, "side": "base#2"}])
    assert "side" not in m and m["step"]["samples_s"] == [1e-3, 2e-3, 3e-3, 4e-3, 5e-3]
    assert m["step"]["median_s"] == 3e-3 and m["step"]["processes"] == 2 and m["step"]["blocks_per_process"] == [3, 2]
    assert m["gflops"] == 2e6 / 3e-3 / 1e9                               # the pooled median's, not process 1's
    assert ab.merge([{**a, "flops": None}, b])["gflops"] is None
    assert ab.merge([a]) == a                                            # one process: its record as it is


def test_ab_merge_of_a_cell_that_did_not_run_everywhere_keeps_the_failure():
    ok = cell("mlp", "numpy/manual", 1e-3)
    skipped = cell("mlp", "numpy/manual", status="skipped", reason="no GPU")
    failed = cell("mlp", "numpy/manual", status="failed", reason="worker died")
    assert ab.merge([ok, skipped]) == skipped
    assert ab.merge([skipped, failed, ok]) == failed                  # failed comes before skipped
    assert ab.merge([failed, skipped]) == failed


def test_verdict_columns_and_markdown():
    assert rules.columns({"kind": "compare"})[4] == "significance"
    assert rules.columns({"kind": "ab", "confidence": 0.95})[4] == "95% CI of change"
    assert rules.columns({"kind": "ab"})[4] == "99% CI of change"
    report = rules.finish({"kind": "compare", "rule": "r.", "base": {"label": "a"}, "new": {"label": "b"},
                          "cells": [{"name": "x", "verdict": rules.UNCHANGED, "note": "torch 2|3", "ratio": 1.0}]})
    md = rules.markdown(report)
    assert md.startswith("### :white_check_mark: fwbench compare: 1 unchanged\n")
    assert "| torch 2\\|3 |" in md                                       # a | in a note does not split the row


def test_noise_without_a_record_is_unknown(tmp_path):
    assert rules.noise("a machine that is on no record") is None         # the bundled noise file
    (tmp_path / "empty.json").write_text("{}")
    assert rules.noise("m", tmp_path / "empty.json") is None
    (tmp_path / "bare.json").write_text(json.dumps({"machines": {"m": {"run_to_run_pct": 12.5}}}))
    assert rules.noise("m", tmp_path / "bare.json") == (12.5, "run-to-run noise of m measured by ? on ? (; bare.json)")


L5 = 1 + 5.0 / 100          # ab's limit at a 5% threshold


@pytest.mark.parametrize("med, lo, hi, verdict, decided", [
    (1.00, 0.99, 1.01, rules.UNCHANGED, True),
    (1.10, 1.07, 1.13, rules.REGRESSION, True),
    (0.90, 0.88, 0.92, rules.IMPROVEMENT, True),
    (0.97, 0.93, 0.99, rules.INCONCLUSIVE, False),       # faster, but not by 5%
    (1.0499, 1.02, 1.08, rules.INCONCLUSIVE, False),     # just under 1.05: no regression
    # on the boundaries: "beyond" and "inside" are strict
    (1.06, L5, 1.08, rules.REGRESSION, False),           # CI touches the limit: not yet decided
    (1.00, 0.99, L5, rules.INCONCLUSIVE, False),         # CI up to the limit: not inside it
    (1.00, 1 / L5, 1.02, rules.INCONCLUSIVE, False),     # CI down to 1/limit: not inside it
    (0.90, 0.85, 1 / L5, rules.IMPROVEMENT, False),
    (0.90, 0.85, 1.00, rules.INCONCLUSIVE, False),       # CI reaches 1: no improvement
    (1.10, 1.00, 1.20, rules.INCONCLUSIVE, False),       # CI reaches 1: no regression
    (L5, 1.01, 1.10, rules.INCONCLUSIVE, False),         # median at the limit: not beyond it
    (1 / L5, 0.90, 0.99, rules.INCONCLUSIVE, False),
])
def test_ab_decide_at_and_around_the_threshold(med, lo, hi, verdict, decided):
    assert ab.decide(med, lo, hi, 5.0) == (verdict, decided)


def test_ab_judge_notes_and_statuses():
    v = ab_verdict([0.8, 1.3, 0.9, 1.25, 1.1, 1.1, 0.95, 1.2])
    assert v["note"] == "the CI straddles the threshold: more rounds (a larger --max-time) would decide"
    assert ab_verdict([1.09, 1.10, 1.12, 1.08, 1.11, 1.10, 1.13, 1.09])["note"] == ""
    ok = {"status": "ok", "step": {"median_s": US, "samples_s": [US]}}
    failed = {"status": "failed", "reason": "boom"}
    v = ab.judge(failed, ok, [], 5.0, 0.99)
    assert v["verdict"] == rules.FAILED_BASE and v["note"] == "boom" and v["new_median_s"] is None
    assert ab.judge(ok, failed, [], 5.0, 0.99)["verdict"] == rules.FAILED_NEW


def test_ab_verdicts_carry_the_variant_and_the_environment_difference():
    recs = [{**cell("mlp", "numpy/manual", 1e-4, seed=s), "variant": "aa-copy", "side": side}
            for s, side in ((1, "base"), (2, "new"))]
    envs = [{"machine": "m", "frameworks": {"numpy": "2.0"}}, {"machine": "m", "frameworks": {"numpy": "2.1"}}]
    cells, merged = ab.verdicts(recs, 2, envs, 5.0, 0.99)
    assert cells[0]["variant"] == "aa-copy" and cells[0]["name"] == "mlp n=500 hidden=5x3x4 numpy/manual cpu"
    assert "numpy 2.0 -> 2.1" in cells[0]["note"] and merged[0][0]["variant"] == "aa-copy"


def test_cell_names_and_environment_differences():
    r = {"task": "mlp", "size": "n=5", "impl": "torch/eager", "device": "cpu", "variant": "aa-copy",
         "framework": "torch"}
    assert compare.cell_name(r) == "mlp n=5 torch/eager cpu (aa-copy)"
    assert compare.cell_name({**r, "variant": None}) == "mlp n=5 torch/eager cpu"
    a, b = {"machine": "m1", "threads": 2}, {"machine": "m2", "threads": 2}
    assert compare.env_diff(r, a, b) == ["machine m1 -> m2"]
    assert compare.env_diff(r, a, b, ignore=["machine"]) == []
    assert rules.headline({"counts": {}}) == "no cells"


def test_median_ci_bootstraps_from_three_samples_on():
    assert rules.median_ci([1.0, 2.0, 4.0])[0] < 2.0 < rules.median_ci([1.0, 2.0, 4.0])[1]
    lo, hi = rules.median_ci([1.0, 2.0, 1.5, 1.2])                       # a spread of exactly 1
    assert lo < hi
    ratios = [0.97, 1.02, 1.05, 0.99, 1.01, 1.08, 0.96, 1.03]
    for seed in (0, 3):                                                 # the seed reaches the bootstrap
        lo, hi = rules.median_ci(np.log(ratios), 0.99, seed)
        assert rules.ratio_ci(ratios, 0.99, seed)[1:] == pytest.approx((np.exp(lo), np.exp(hi)), rel=1e-12)
    assert rules.ratio_ci(ratios, 0.99, 0) != rules.ratio_ci(ratios, 0.99, 3)


def test_a_change_exactly_at_the_threshold_is_not_beyond_it():
    base = [1.0 + 0.001 * k for k in range(-7, 8)]                    # median exactly 1.0
    slower = [1.1 + 0.001 * k for k in range(-7, 8)]                  # median exactly 1.1: +10%, p tiny
    assert verdict(base, slower)["verdict"] == rules.UNCHANGED
    assert verdict(slower, base)["verdict"] == rules.UNCHANGED          # exactly 1/1.1
    assert verdict(base, [x * 1.095 for x in base])["verdict"] == rules.UNCHANGED     # 9.5% < 10%


def test_the_threshold_says_where_it_comes_from(tmp_path):
    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"machines": {"m": {"run_to_run_pct": 10.0, "by": "aa", "measured": "today"}}}))
    assert compare.threshold(0.0, "m", noise_pct=0) == (0.0, "threshold 0% (this machine's run-to-run noise is not "
                                                             "on record)")
    # --noise 0 leaves the noise file out; noise equal to the threshold does not raise it
    assert compare.threshold(10.0, "m", 0, noise)[0] == 10.0 and "not on record" in compare.threshold(10.0, "m", 0, noise)[1]
    assert compare.threshold(10.0, "m", None, noise) == (10.0, "threshold 10% (above the machine's run-to-run "
                                                               "noise, 10%)")
    with pytest.raises(UsageError, match="^--threshold must be a percentage >= 0, got -1$"):
        compare.threshold(-1.0, "m")
    with pytest.raises(UsageError, match="^--noise must be a percentage >= 0, got -2$"):
        compare.threshold(10.0, "m", noise_pct=-2.0)


def history_run(path, seed, created, machine="m", factor=1.0):
    """One run of six cells whose medians move by a few % from run to run (seeded)."""
    rng = np.random.default_rng(seed)
    cells = [cell(t, i, 1e-4 * (k + 1) * factor * float(np.exp(rng.normal(0, 0.05))), seed=seed + k)
             for k, (t, i) in enumerate((t, i) for t in ("mlp", "single_layer") for i in ("numpy/manual",
                                                                                          "torch/eager", "jax/jit"))]
    return write(path, cells, created=created, machine=machine)


def test_history_sets_the_threshold_and_leaves_out_base_and_new(tmp_path):
    hist = tmp_path / "hist"
    base = history_run(hist / "base.json", 1, "2026-01-01T00:00:00+00:00")
    new = history_run(hist / "new.json", 2, "2026-01-02T00:00:00+00:00", factor=1.3)
    history_run(hist / "other-machine.json", 3, "2026-01-03T00:00:00+00:00", machine="elsewhere")
    history_run(hist / "old.json", 4, "2025-12-01T00:00:00+00:00")
    thr, why = compare.threshold(5.0, "m", history=[hist], exclude=(base, new))
    assert (thr, why) == (5.0, "threshold 5% (--history holds fewer than two runs of m, so its run-to-run noise "
                               "is not known)")
    report = compare.compare(base, new, 5.0, history=[hist])         # base and new left out: same sentence
    assert "fewer than two runs of m" in report["rule"] and report["threshold_pct"] == 5.0
    history_run(hist / "older.json", 5, "2025-11-01T00:00:00+00:00")
    from bench.gate.shift import history_noise
    known = history_noise([hist], "m", (base, new))
    thr, why = compare.threshold(1.0, "m", history=[hist], exclude=(base, new))
    assert known[0] > 1.0 and thr == known[0] and why == f"threshold 1% raised to {known[0]:.3g}%, the {known[1]}"
    assert compare.compare(base, new, 1.0, history=[hist], noise_file=tmp_path / "none.json")["threshold_pct"] == thr


def test_compare_reads_the_noise_of_the_base_machine(tmp_path):
    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"machines": {"synthetic 2-core": {"run_to_run_pct": 40.0},
                                              "unknown machine": {"run_to_run_pct": 20.0}}}))
    base = write(tmp_path / "base.json", [cell("mlp", "numpy/manual", 1e-4, seed=1)])
    new = write(tmp_path / "new.json", [cell("mlp", "numpy/manual", 1.3e-4, seed=2)])
    report = compare.compare(base, new, 10.0, noise_file=noise)
    assert report["threshold_pct"] == 40.0 and report["exit"] == 0
    anonymous = write(tmp_path / "anon.json", [cell("mlp", "numpy/manual", 1e-4, seed=1)], machine="")
    assert compare.compare(anonymous, new, 10.0, noise_file=noise)["threshold_pct"] == 20.0


def test_compare_lists_cells_on_one_side_only_and_every_environment_difference(tmp_path):
    base = write(tmp_path / "base.json", [cell("mlp", "numpy/manual", 1e-4, seed=1), cell("mlp", "torch/eager", 3e-4)])
    new = write(tmp_path / "new.json", [cell("mlp", "numpy/manual", 1e-4, seed=2), cell("cnn", "jax/jit", 1e-2)],
                threads=4)
    got = {c["impl"]: c for c in compare.compare(base, new, 10.0, noise_pct=0, shift=False)["cells"]}
    assert got["jax/jit"]["verdict"] == rules.ONLY_NEW and got["jax/jit"]["name"] == "cnn batch=64 jax/jit cpu"
    assert got["torch/eager"]["verdict"] == rules.ONLY_BASE
    new = write(tmp_path / "new2.json", [cell("mlp", "numpy/manual", 1e-4, seed=2)], threads=4,
                frameworks={**ENV["frameworks"], "numpy": "2.1"})
    c = compare.compare(base, new, 10.0, noise_pct=0, shift=False)["cells"][0]
    assert c["verdict"] == rules.ENV and c["note"] == "threads 2 -> 4; numpy 2.0 -> 2.1 (was: unchanged)"


def test_a_gpu_cell_depends_on_the_gpu_and_its_gpu_packages():
    r = {"framework": "numpy", "device": "gpu"}
    a = {"frameworks": {"numpy": "2.0", "cupy": "13"}, "gpus": [{"name": "H100"}, {"name": "H100"}]}
    b = {"frameworks": {"numpy": "2.0", "cupy": "14"}, "gpus": [{"name": "H100"}, {}]}
    assert compare.env_diff(r, a, b) == ["cupy 13 -> 14", "GPU H100, H100 -> H100, ?"]
    assert compare.env_diff({**r, "device": "cpu"}, a, b) == []


def test_significance_needs_a_test_that_can_reach_p_below_0_002():
    # 1 v 499 samples: the smallest p the test can give is exactly 1/500 = P_MAX, not below: the CIs decide
    assert rules.significant([1.0], [2.0] * 499) == (True, None, "99% CIs apart")
    touching = [1.0, 1.0, 2.0, 2.0, 2.0]                               # its CI reaches down to 1.0
    assert rules.significant([1.0] * 5, touching)[2] == "99% CIs overlap"
    assert rules.significant(touching, [1.0] * 5)[2] == "99% CIs overlap"


def test_mann_whitney_only_where_its_two_sided_floor_is_below_p_max():
    # 6 v 6: the smallest two-sided p is 2 / C(12, 6) = 0.00216 > 0.002, so the CIs decide; 6 v 7, 7 v 7 reach it
    assert rules.mann_whitney_floor(6, 6) == pytest.approx(2 / 924)
    x = [1.0, 1.01, 0.99, 1.02, 0.98, 1.005, 0.995]
    assert rules.significant(x[:6], [v * 1.25 for v in x[:6]]) == (True, None, "99% CIs apart")
    for n, m in ((6, 7), (7, 6), (7, 7)):
        sig, p, test = rules.significant(x[:n], [v * 1.25 for v in x[:m]])
        assert sig and p == pytest.approx(rules.mann_whitney_floor(n, m))
        assert test.startswith("Mann-Whitney p=")


def test_a_noise_free_quarter_slowdown_of_six_blocks_is_a_regression():
    six = [x * US for x in (0.97, 1.0, 1.02, 0.99, 1.01, 1.03)]
    v = verdict(six, [x * 1.25 for x in six])
    assert v["verdict"] == rules.REGRESSION and v["test"] == "99% CIs apart" and v["p"] is None


def test_within_a_threshold_the_noise_raised_a_cell_is_within_noise_not_unchanged():
    v = compare.judge(row(BASE), row([x * 1.08 for x in BASE]), 25.0, 10.0)
    assert v["verdict"] == rules.WITHIN_NOISE and v["note"] == "changes below 25% cannot be seen here"
    assert compare.judge(row(BASE), row([x * 1.08 for x in BASE]), 10.0, 10.0)["verdict"] == rules.UNCHANGED
    assert compare.judge(row(BASE), row([x * 1.3 for x in BASE]), 25.0, 10.0)["verdict"] == rules.REGRESSION
    assert rules.WITHIN_NOISE not in rules.GATED and rules.WITHIN_NOISE in rules.ORDER and rules.WITHIN_NOISE in rules.STYLE


def test_a_shift_needs_four_other_cells_most_of_which_agree():
    from bench.gate import shift
    assert shift.agreeing([0.0, 0.0, 0.0, 0.2]) == [0.0, 0.0, 0.0]              # a MAD of 0: within 3% agree
    assert shift.agreeing([0.0, 0.01, -0.01, 0.02, 0.5]) == [0.0, 0.01, -0.01, 0.02]
    assert shift.agreeing([0.0, 0.1, 0.2, 0.3]) == [0.0, 0.1, 0.2, 0.3]
    assert shift.agreeing([0.0, 0.001, 0.002, 0.025, 0.04]) == [0.0, 0.001, 0.002, 0.025]   # not a MAD of 0.1%
    ok = lambda fw, m: ({"median_s": 1.0, "device": "cpu", "framework": fw}, {"median_s": m, "device": "cpu"})
    pairs = {k: ok("torch", 1.1) for k in range(4)} | {4: ok("torch", 1.4)}
    got = shift.estimate(pairs, set(pairs))
    assert got[4] == (pytest.approx(1.1), "4 other torch cpu cells")           # its own +40% does not cancel itself
    assert got[0] == (pytest.approx(1.1), "3 other torch cpu cells")           # nor move its four siblings
    three = {k: pairs[k] for k in (0, 1, 4)}                                     # 2 others each: too few
    got = shift.estimate(three, set(three))
    assert got[0] == (1.0, "shift not estimated (only 2 of 2 other cpu cells agree)")
    assert got[4] == (1.0, "shift not estimated (only 2 of 2 other cpu cells agree)")
