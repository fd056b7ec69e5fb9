"""bench.run.timing on a virtual clock: a fake step whose cost only its sync() pays, so every figure is known exactly."""
import numpy as np
import pytest

from bench.run import timing


class Clock:
    """A perf_counter that moves only when the fake device does work."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Device:
    """step() enqueues `cost` seconds of work; sync() waits for it (advances the clock)."""

    def __init__(self, clock, cost):
        self.clock, self.cost, self.pending, self.steps, self.syncs = clock, cost, 0, 0, 0

    def step(self):
        self.pending += 1
        self.steps += 1
        assert self.pending <= 10**5, "steps queued without a sync"

    def sync(self):
        self.clock.now += self.pending * self.cost
        self.pending = 0
        self.syncs += 1


@pytest.fixture
def dev(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    return Device(clock, cost=0.001)


def test_a_block_is_n_steps_and_one_sync_inside_the_timer(dev):
    assert timing.run_block(dev.step, dev.sync, 7) == pytest.approx(0.007)
    assert (dev.steps, dev.syncs, dev.pending) == (7, 1, 0)


def test_warm_up_syncs_every_step(dev):
    done = timing.warm_up(dev.step, dev.sync, 0.0105)
    assert done == 11 and dev.syncs == 11 and dev.pending == 0      # 11 ms of 1 ms steps: 0.0105 s passed
    assert timing.warm_up(dev.step, dev.sync, 0.0, min_steps=3) == 3


def test_calibrate_finds_a_block_of_at_least_the_minimum(dev):
    n, seconds = timing.calibrate(dev.step, dev.sync, 0.01)
    assert seconds == pytest.approx(n * 0.001) and seconds >= 0.01
    assert n <= 13                                     # roughly the smallest: 10 steps needed, 20% margin at most
    dev.cost = 0.02                                     # one step already exceeds the minimum
    assert timing.calibrate(dev.step, dev.sync, 0.01) == (1, pytest.approx(0.02))
    dev.cost = 1e-9                                    # a step too cheap to reach it: capped at max_n
    assert timing.calibrate(dev.step, dev.sync, 0.01, max_n=1000)[0] == 1000


def test_calibrate_is_not_fooled_by_one_slow_reading(dev):
    """The first readings are 3x slow (another tenant); the check blocks are not: n fits the quick step."""
    slow, quick = 0.003, 0.001

    def sync():
        dev.cost = slow if dev.syncs < 2 else quick      # 1 and 4 steps slow (calibration), then the checks quick
        Device.sync(dev)
    n, seconds = timing.calibrate(dev.step, sync, 0.01)
    assert n * quick >= 0.01 and seconds == pytest.approx(n * quick, rel=0.2)
    dev.syncs, dev.cost = 0, quick                       # a steady step: the checks change nothing
    assert timing.calibrate(dev.step, dev.sync, 0.01)[0] == timing.calibrate(dev.step, dev.sync, 0.01, checks=0)[0]


def test_calibrate_grows_from_a_zero_reading(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    ns = []

    def step():
        ns.append(1)

    def sync():                                      # a timer that reads 0 until 50 steps are queued
        if len(ns) >= 50:
            clock.now += 1.0
        ns.clear()
    n, _ = timing.calibrate(step, sync, 0.01)
    assert n == 100                                  # 1 -> 100 (x100 on a zero reading), which then suffices


def test_overhead_is_the_per_step_cost_of_an_empty_loop(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    calls = []
    monkeypatch.setattr(timing, "_noop", lambda: (calls.append(1), setattr(clock, "now", clock.now + 1e-7)))
    # every call of the empty step (and the empty sync) costs 0.1 µs: per step, (n + 1) / n * 0.1 µs
    assert timing.overhead(blocks=5, min_block_s=0.001) == pytest.approx(1e-7, rel=1e-3)


def test_stats_of_known_samples():
    s = timing.stats([3.0, 1.0, 2.0, 4.0, 100.0])
    assert s["median_s"] == 3.0 and s["min_s"] == 1.0 and s["mean_s"] == 22.0
    assert s["iqr_s"] == 2.0                           # numpy's linear percentiles: 4 - 2
    assert s["samples_s"] == [3.0, 1.0, 2.0, 4.0, 100.0]
    assert s["ci95_s"][0] <= 3.0 <= s["ci95_s"][1] and s["ci95_s"][0] >= 1.0 and s["ci95_s"][1] <= 100.0
    assert s["noisy"]                                  # IQR/median = 0.67
    flat = timing.stats([2.0] * 5)
    assert flat["ci95_s"] == [2.0, 2.0] and not flat["noisy"] and flat["iqr_s"] == 0.0
    tight = timing.stats([1.0, 1.04, 0.96, 1.02, 0.98, 1.0])
    assert not tight["noisy"] and tight["iqr_s"] == pytest.approx(0.03)
    assert timing.stats([1.0, 1.05, 1.10, 1.15, 1.20])["noisy"] is False   # IQR/median = 0.1/1.1 < 0.10
    assert timing.stats([1.0, 1.06, 1.12, 1.18, 1.24])["noisy"] is True    # 0.12/1.12 > 0.10
    with pytest.raises(ValueError):
        timing.stats([])


def test_the_confidence_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits, widths = 0, []
    for seed in range(200):
        x = rng.lognormal(0.0, 0.2, 16)                 # true median: 1.0
        lo, hi = timing.stats(x, seed=seed)["ci95_s"]
        hits += lo <= 1.0 <= hi
        widths.append(hi - lo)
    # 95% percentile-bootstrap of a median of 16: ~0.93 here; a 50% or 99.9% interval would miss the band
    assert 0.85 <= hits / 200 <= 0.99, hits
    assert 0.1 < np.median(widths) < 0.3


def test_precision_pct_is_half_the_ci_width_in_percent_of_the_median():
    step = {"median_s": 0.5, "ci95_s": [0.475, 0.575], "samples_s": [0.475, 0.5, 0.575]}
    assert timing.precision_pct(step) == pytest.approx(10.0)          # (0.575 - 0.475) / 2 / 0.5 = 10%
    assert timing.precision_pct({**step, "samples_s": [2.0, 2.0]}) == float("inf")    # two blocks: unknown
    assert timing.precision_pct({**step, "median_s": 0.0, "ci95_s": [0.0, 0.0]}) == float("inf")
    assert timing.precision_pct({**step, "ci95_s": [0.5, 0.5]}) == 0.0


def test_warm_up_stops_once_the_time_has_passed_and_runs_two_steps_at_least(dev):
    dev.cost = 2.0 ** -10                                # exact in binary: the clock lands on the deadline
    assert timing.warm_up(dev.step, dev.sync, 10 * 2.0 ** -10) == 10
    assert timing.warm_up(dev.step, dev.sync, 0.0) == 2


def test_calibrate_takes_one_step_that_lasts_exactly_the_minimum(dev):
    dev.cost = 2.0 ** -7
    assert timing.calibrate(dev.step, dev.sync, 2.0 ** -7) == (1, 2.0 ** -7)


def test_calibrate_grows_at_most_100x_and_at_least_2x_per_short_block(dev, monkeypatch):
    tried = []
    real = timing.run_block
    monkeypatch.setattr(timing, "run_block", lambda step, sync, n: (tried.append(n), real(step, sync, n))[1])
    dev.cost = 1e-4
    # 1 step: 0.1 ms, 121x short of 1.2 x 10.1 ms -> x100; 100 steps: 10 ms, 1% short -> x2 (not x1.21)
    assert timing.calibrate(dev.step, dev.sync, 0.0101)[0] == 200 and tried == [1, 100, 200, 200, 200]   # 2 checks


def test_median_of_odd_and_even_counts():
    assert timing._median([3.0, 1.0, 2.0]) == 2.0
    assert timing._median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert timing._median([5.0, 1.0, 4.0, 2.0, 3.0, 6.0]) == 3.5
    assert timing._median([7.0]) == 7.0


def test_stats_bootstrap_from_three_distinct_samples_on():
    assert timing.stats([1.0, 2.0])["ci95_s"] == [1.5, 1.5]            # two samples: no interval
    lo, hi = timing.stats([1.0, 2.0, 4.0])["ci95_s"]
    assert 1.0 <= lo < 2.0 < hi <= 4.0
    with pytest.raises(ValueError, match="^no samples$"):
        timing.stats([])


def test_noisy_flag_on_sub_second_samples_and_at_its_boundary():
    us = 1e-4                                                          # real samples are fractions of a second
    assert timing.stats([us, 1.06 * us, 1.12 * us, 1.18 * us, 1.24 * us])["noisy"] is True
    assert timing.stats([us, 1.05 * us, 1.10 * us, 1.15 * us, 1.20 * us])["noisy"] is False
    s = 2.0 ** -12                                                     # exact in binary: IQR / median == 0.1
    at = timing.stats([2.3 * s, 2.375 * s, 2.5 * s, 2.625 * s, 2.7 * s])
    assert at["iqr_s"] / at["median_s"] == timing.NOISY and at["noisy"] is False
    zero = timing.stats([0.0, 0.0, 0.0, 1e-9, 2e-9])                   # a median of 0 (timer resolution)
    assert zero["median_s"] == 0.0 and zero["noisy"] is False
