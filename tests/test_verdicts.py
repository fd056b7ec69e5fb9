"""The regression verdicts on synthetic samples with real noise: significant or not, a CI straddling 1, a new
framework version. No run, no framework: each case's truth is built in."""
import json
import statistics

import pytest
from synth import cell, write

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


def test_a_large_but_insignificant_slowdown_is_unchanged():
    noisy_base = [x * US for x in (0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.5, 1.7)]
    noisy_new = [x * US for x in (0.6, 0.8, 1.0, 1.15, 1.25, 1.45, 1.65, 1.9)]
    v = verdict(noisy_base, noisy_new)
    assert v["ratio"] > 1.1 and v["p"] > 0.5 and v["verdict"] == rules.UNCHANGED
    # p = 0.006: significant at the usual 5%, not at asv's 0.002; 19% slower
    new = [x * US for x in (1.0, 1.04, 1.15, 1.18, 1.22, 1.25, 1.3, 1.35)]
    v = verdict(BASE, new)
    assert 0.002 < v["p"] < 0.01 and v["ratio"] > 1.19 and v["verdict"] == rules.UNCHANGED
    assert "Mann-Whitney p=0.0063" == v["test"]


def test_too_few_blocks_for_the_test_fall_back_to_99_percent_cis():
    base = [x * US for x in (0.98, 1.0, 1.02, 0.99, 1.01)]
    v = verdict(base, [x * 1.3 for x in base])
    assert v["p"] is None and v["test"] == "99% CIs apart" and v["verdict"] == rules.REGRESSION
    overlapping = [x * US for x in (0.9, 1.2, 1.5, 1.3, 1.25)]
    v = verdict(base, overlapping)
    assert v["ratio"] == pytest.approx(1.25) and v["test"] == "99% CIs overlap" and v["verdict"] == rules.UNCHANGED


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
    assert report["exit"] == 0 and report["threshold_pct"] == 40 and report["cells"][0]["verdict"] == rules.UNCHANGED
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
