# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Deep-learning frameworks, timed honestly: a lecture kit
#
# This notebook follows the course slides (PyTorch vs TensorFlow, define-and-run vs define-by-run) and measures
# every claim on *this* machine with fwbench: the same workers, rounds and results file as `fwbench run`.
# Each section shows one figure and one sentence whose number and 95% interval come from the run made below.
#
# Run it top to bottom. `FWBENCH_NOTEBOOK_PROFILE` picks the profile: `quick` (the default, a few minutes),
# `full` (every implementation and size, much longer: its rounds alone may take 15 minutes) or `smoke` (a check
# that everything runs, not a measurement).
# Interrupting the kernel keeps the cells already finished.

# %%
# Install fwbench where it is missing (Colab). The project publishes no URL yet: put the repository's here.
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO_URL = os.environ.get("FWBENCH_REPO_URL", "")   # e.g. "git+https://github.com/OWNER/REPO" (a placeholder)
if importlib.util.find_spec("bench") is None and Path("../bench/__init__.py").exists():
    sys.path.insert(0, str(Path("..").resolve()))   # opened from a checkout's notebooks/ folder
if importlib.util.find_spec("bench") is None:
    if not REPO_URL:
        raise RuntimeError("fwbench is not installed: set REPO_URL (or $FWBENCH_REPO_URL) to the repository's URL")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", f"fwbench[all] @ {REPO_URL}"])

# %matplotlib inline
import bench
from bench import examples, registry
from bench.report.lib import fmt_s, fmt_x

PROFILE = os.environ.get("FWBENCH_NOTEBOOK_PROFILE", "quick")
GPU = registry.nvidia_gpu_present()
DEVICES = ["cpu"] + (["gpu"] if GPU else [])
SMOKE = PROFILE == "smoke"
# smoke: a handful of cells (CI runs this notebook with it); otherwise the profile's own cells
TASKS = ["elementwise", "mlp"] if SMOKE else None
IMPLS = (["numpy/manual", "torch/eager", "tensorflow/eager", "tensorflow/session", "jax/jit", "keras-jax/jit"]
         if SMOKE else None)
SWEEP_IMPLS = ["numpy/manual", "torch/eager"] + ([] if SMOKE else ["tensorflow/function", "jax/jit"])
OUT = Path("lecture-results.json")
print(f"fwbench {bench.__version__}, profile {PROFILE}, devices {', '.join(DEVICES)}")

# %% [markdown]
# ## The run
#
# One `bench.measure` call times every cell the sections need, in isolated worker processes with steady-state
# blocks interleaved round by round, and writes `lecture-results.json` after every finished cell. It also
# computes the slides' worked examples in every framework.

# %%
try:
    run = bench.measure(tasks=TASKS, impls=IMPLS, devices=DEVICES, profile=PROFILE, examples=True, out=OUT)
except bench.Interrupted as stopped:          # the kernel was interrupted: keep what finished
    run = stopped.results
    print(f"interrupted: {run.summary()} kept in {OUT}")
run

# %% [markdown]
# ## 1. The worked examples: the slide's printed figure beside the computed one
#
# The slides compute a dog-vs-wolf single layer by hand and print gradients of `x * y * z` and `x + y + z`.
# Every implementation computes the same quantities here; the truth is numpy's float64 value.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

rows = examples.rows(run.data["examples"])
table = pd.DataFrame([{"example": r["example"], "quantity": r["quantity"], "slide": r["slide"],
                       "computed": np.round(r["truth"], 5).tolist(), "slide right?": r["agrees"],
                       "implementations agree": all(np.allclose(v, r["truth"], rtol=1e-4, atol=1e-6)
                                                    for v in r["computed"].values())} for r in rows])
display(table)

plt.rcParams.update({"font.size": 16})
fig, ax = plt.subplots(figsize=(13.33, 7.5))
colours = {"dog_wolf": "#0072B2", "elementwise_mul": "#E69F00", "elementwise_add": "#CC79A7"}
for r in rows:
    s, c = np.ravel(r["slide"]), np.ravel(r["truth"])
    ax.scatter(s, c, s=110, color=colours.get(r["example"], "#999999"), marker="o" if r["agrees"] else "X",
               zorder=3, label=r["example"].replace("_", " "))
    if len(s) == 1 and not r["agrees"]:
        ax.annotate(r["quantity"], (s[0], c[0]), xytext=(8, -4), textcoords="offset points", fontsize=12)
lim = [min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])]
ax.plot(lim, lim, color="#999999", linewidth=1)
handles = dict(zip(*ax.get_legend_handles_labels()[::-1]))
ax.legend(handles.values(), handles.keys(), loc="upper left")
ax.set_xlabel("printed on the slide")
ax.set_ylabel("computed (float64 reference)")
ax.set_title("Worked examples: on the diagonal, the slide is right (×: it is not)")
plt.show()
wrong = [r for r in rows if not r["agrees"]]
print(f"{len(rows) - len(wrong)} of {len(rows)} printed quantities agree with the computation (exact float64 "
      "arithmetic, every implementation agreeing: no interval needed); the slide is off in "
      + ", ".join(f"{r['example']} {r['quantity']}" for r in wrong) + ".")
for example, note in examples.NOTES.items():
    print(f"  {example}: {note}")

# %% [markdown]
# ## 2. Is TensorFlow 10× slower?
#
# The slide timed whole scripts with `datetime.now()` from after the imports: setup, graph build, Session start
# and one step. fwbench splits that time into its phases and also times the steady-state step.

# %%
from bench.report.figures import ratio_of_medians

display(run.figure("tf10x"))
df = run.frame()
ew = df[(df["task"] == "elementwise") & (df["status"] == "ok") & (df["device"] == "cpu")].set_index("impl")
slide = examples.SLIDE["timing"]
if {"tensorflow/session", "torch/eager"} <= set(ew.index):
    tf, pt = ew.loc["tensorflow/session"], ew.loc["torch/eager"]
    once = lambda r: r["setup_s"] + r["build_s"] + r["first_step_s"]  # noqa: E731
    steady, lo, hi = ratio_of_medians(tf["samples_s"], pt["samples_s"])
    print(f"The slide's TensorFlow/PyTorch ratio was {fmt_x(slide['tensorflow_session_s'] / slide['torch_s'])}; "
          f"timed its way here it is {fmt_x(once(tf) / once(pt))} ({fmt_s(tf['build_s'])} of TensorFlow's "
          f"{fmt_s(once(tf))} is the graph build), and per steady-state step it is {fmt_x(steady)} "
          f"(95% CI {fmt_x(lo)}–{fmt_x(hi)}).")
print(run.caption("tf10x"))

# %% [markdown]
# ## 3. Define-and-run vs define-by-run, and the break-even step count
#
# A graph mode (TF1 Session, `tf.function`, `jax.jit`) pays a build once and then runs faster steps. The
# break-even is the step count after which it is ahead: build / (eager step − graph step).

# %%
display(run.figure("headline"))
display(run.figure("break-even"))
pairs = run.speedups()
if pairs:
    best = max(pairs, key=lambda r: r["ratio"])
    paying = [r for r in pairs if r["break_even"] is not None]
    late = max(paying, key=lambda r: r["break_even"]) if paying else None
    print(f"The largest per-step speed-up is {best['impl']} over {best['eager']} on {best['task']}: "
          f"{fmt_x(best['ratio'])} (95% CI {fmt_x(best['lo'])}–{fmt_x(best['hi'])})"
          + (f"; the latest to pay off its build is {late['impl']} on {late['task']}, after {late['break_even']:,} "
             f"steps (from the steps' 95% CIs: {late['break_even_lo']:,}–{late['break_even_hi'] or '∞'})."
             if late else "."))

# %% [markdown]
# ## 4. Size sweep: where dispatch overhead stops mattering
#
# A second, small run times one task at growing sizes (`bench.measure(..., sweep=True)`).

# %%
try:
    sweep = bench.measure(tasks="single_layer", impls=SWEEP_IMPLS, devices="cpu", profile=PROFILE, sweep=True,
                          out="lecture-sweep.json")
except bench.Interrupted as stopped:
    sweep = stopped.results
display(sweep.figure("sweep-single_layer"))
sw = sweep.frame()
sw = sw[sw["status"] == "ok"].assign(n=lambda d: [int(s.split("n=")[1].split()[0]) for s in d["size"]])
small, large = sw["n"].min(), sw["n"].max()
a, b = (sw[(sw["n"] == n) & (sw["impl"] == "torch/eager")].iloc[0] for n in (small, large))
c, d = (sw[(sw["n"] == n) & (sw["impl"] == "numpy/manual")].iloc[0] for n in (small, large))
r_small, lo_small, hi_small = ratio_of_medians(a["samples_s"], c["samples_s"])
r_large, lo_large, hi_large = ratio_of_medians(b["samples_s"], d["samples_s"])
print(f"torch/eager takes {fmt_x(r_small)} (95% CI {fmt_x(lo_small)}–{fmt_x(hi_small)}) numpy's step at n={small} "
      f"and {fmt_x(r_large)} (95% CI {fmt_x(lo_large)}–{fmt_x(hi_large)}) at n={large}: the fixed dispatch cost "
      "matters less as the work grows.")

# %% [markdown]
# ## 5. What Keras costs over the framework it runs on

# %%
costs = run.layer_costs()
if costs:
    display(run.figure("layers"))
    top = max(costs, key=lambda r: r["ratio"])
    print(f"{top['impl']} takes {fmt_x(top['ratio'])} (95% CI {fmt_x(top['lo'])}–{fmt_x(top['hi'])}) the time of "
          f"{top['raw']} per {top['task']} step ({fmt_s(top['step_s'])} against {fmt_s(top['raw_s'])}).")
else:
    print("No Keras cell ran beside the implementation it wraps in this run.")

# %% [markdown]
# ## 6. On the GPU (runs only on a GPU runtime)

# %%
if GPU:
    gpu = df[(df["device"] == "gpu") & (df["status"] == "ok")]
    display(gpu.pivot_table(index="impl", columns="task", values="median_s").map(fmt_s))
    fastest = gpu.sort_values("median_s").groupby("task").head(1)
    for _, r in fastest.iterrows():
        print(f"GPU, {r['task']}: {r['impl']} is fastest at {fmt_s(r['median_s'])} per step "
              f"(95% CI {fmt_s(r['ci_lo_s'])}–{fmt_s(r['ci_hi_s'])}).")
else:
    print("No NVIDIA GPU here: the GPU cells were not run (on Colab: Runtime → Change runtime type → GPU).")

# %% [markdown]
# ## 7. Keep the results
#
# `lecture-results.json` and `lecture-sweep.json` are ordinary fwbench results files: `fwbench report` renders
# them (the slide figures land in `lecture-report/figures/`, each with a caption to paste under it) and
# `fwbench publish` adds them to a site of many runs.

# %%
report = run.report("lecture-report")
print(f"results: {OUT.resolve()}\nreport: {(report / 'index.html').resolve()}\nslide figures: "
      + ", ".join(sorted(p.name for p in (report / "figures").glob("*.svg"))))
print(f"publish: fwbench publish {OUT} lecture-sweep.json --out site")
if "google.colab" in sys.modules:
    from google.colab import files
    files.download(str(OUT))
