"""The timed block, its calibration, the harness's own overhead, and the statistics of the samples.

A block is `[step() x n; sync()]` timed with `time.perf_counter`; one sample is block time / n. The same
`run_block` times every cell (in the worker), the harness overhead (an empty step) and `pytest --benchmark`.
"""
from __future__ import annotations

import math
import time

TIMER = "perf_counter"
MIN_BLOCK_S = {"cpu": 0.01, "gpu": 0.05}   # a block must last this long (>> timer resolution, >> one sync)
NOISY = 0.10                               # IQR / median above this flags a cell as noisy


def run_block(step, sync, n: int) -> float:
    """Seconds for `n` calls of `step` followed by one `sync` (the sync is inside the timed region)."""
    clock = time.perf_counter
    t0 = clock()
    for _ in range(n):
        step()
    sync()
    return clock() - t0


def warm_up(step, sync, seconds: float, min_steps: int = 2) -> int:
    """Run [step(); sync()] until `seconds` have passed and `min_steps` ran; how many ran.

    Syncing every step matters: an asynchronous framework would otherwise queue seconds of work in `seconds`.
    """
    done, t_end = 0, time.perf_counter() + seconds
    while done < min_steps or time.perf_counter() < t_end:
        step()
        sync()
        done += 1
    return done


def calibrate(step, sync, min_block_s: float, max_n: int = 10**7, checks: int = 2) -> tuple[int, float]:
    """(n, seconds): the smallest (roughly) n whose block `[step() x n; sync()]` lasts >= `min_block_s`, in the first
    reading and in `checks` more: one reading taken in a slow moment of the machine gives blocks that come out short
    once it is quick again (numpy/manual elementwise: 7 of 8 blocks at ~7 ms in a noisy hour), so a quicker check
    grows n by 20% over what it needs. `seconds`: the quickest reading, scaled to the final n."""
    n = 1
    while True:
        t = run_block(step, sync, n)
        if t >= min_block_s or n >= max_n:
            break
        grow = min_block_s * 1.2 / t if t > 0 else math.inf      # a zero reading: grow by the most allowed
        n = min(max_n, max(n * 2, math.ceil(n * min(grow, 100))))
    for _ in range(checks):
        if n >= max_n:
            break
        again = run_block(step, sync, n)
        if again >= min_block_s:
            t = min(t, again)
            continue
        scale = min_block_s * 1.2 / again if again > 0 else 100.0
        n, t = min(max_n, math.ceil(n * scale)), again * scale
    return n, t


def _noop():
    """The empty step (and sync) the harness overhead is measured around."""


def overhead(blocks: int = 7, min_block_s: float = MIN_BLOCK_S["cpu"]) -> float:
    """Per-step seconds of the timing loop itself: median over blocks of an empty step (never subtracted)."""
    n, _ = calibrate(_noop, _noop, min_block_s)
    return _median([run_block(_noop, _noop, n) / n for _ in range(blocks)])


def _median(xs):
    s, k = sorted(xs), len(xs)
    return (s[(k - 1) // 2] + s[k // 2]) / 2


def stats(samples, seed: int = 0) -> dict:
    """Median, IQR, min, mean, 95% bootstrap CI of the median and the noisy flag of per-step samples (s)."""
    import numpy as np
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    median = float(np.median(x))
    q1, q3 = np.percentile(x, [25, 75])
    lo = hi = median
    if x.size >= 3 and np.ptp(x) > 0:
        from scipy.stats import bootstrap
        res = bootstrap((x,), np.median, confidence_level=0.95, n_resamples=2000, method="percentile",
                        vectorized=True, axis=-1, rng=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    iqr = float(q3 - q1)
    return {"median_s": median, "iqr_s": iqr, "min_s": float(x.min()), "mean_s": float(x.mean()),
            "ci95_s": [lo, hi], "samples_s": [float(v) for v in x],
            "noisy": bool(median > 0 and iqr / median > NOISY)}


def precision_pct(step: dict) -> float:
    """Half the width of a `stats` dict's 95% CI of the median, in percent of the median (inf if unknown)."""
    lo, hi = step["ci95_s"]
    median = step["median_s"]
    return 100 * (hi - lo) / 2 / median if median > 0 and len(step["samples_s"]) >= 3 else float("inf")
