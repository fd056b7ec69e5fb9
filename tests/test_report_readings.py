"""The report's readings on a synthetic multi-implementation run whose ranking, break-even and '10×' are known."""
import pytest
from synth import cell, run

from bench.report import frame, graph, render, speed
from bench.report.lib import prepare

pytestmark = pytest.mark.xdist_group("report_readings")   # one xdist worker: its module fixture runs once

# impl: (median step, build_s, import_s); setup_s is 1 ms and the first step twice the median (synth.cell)
IMPLS = {"numpy/manual": (20e-6, 0.0, 0.1), "torch/eager": (40e-6, 0.0, 2.0), "tensorflow/eager": (500e-6, 0.0, 7.0),
         "tensorflow/function": (200e-6, 0.3, 7.0), "tensorflow/session": (100e-6, 0.5, 7.0),
         "jax/eager": (1.2e-3, 0.0, 0.8), "jax/jit": (8e-6, 0.1, 0.8)}


def frame_of(impls):
    cells = [cell("elementwise", impl, m, build_s=b, import_s=imp, seed=k)
             for k, (impl, (m, b, imp)) in enumerate(impls.items())]
    return prepare(frame.frame([run(cells)]))


@pytest.fixture(scope="module")
def df():
    return frame_of(IMPLS)


def test_headline_names_the_fastest_and_the_slowest(df):
    s = speed.headline(df)
    reading = s["reading"][1]
    assert reading.startswith("elementwise (shape=3x4 op=mul): jax/jit is fastest at 8 µs per step; "
                              "numpy/manual follows at 20 µs (2.5×, a clear gap")
    assert reading.endswith("the slowest, jax/eager, takes 150× as long.")      # 1.2 ms / 8 µs
    rows = {r[0]["text"]: r[1] for r in s["tables"][0]["rows"]}
    assert [impl for impl, c in rows.items() if "best" in c["cls"]] == ["jax/jit"]
    assert rows["jax/jit"]["text"] == "8 µs" and rows["jax/eager"]["text"] == "1.2 ms"
    assert "jax/jit 8 µs" in s["key"]


def test_ties_are_called_ties():
    close = {"numpy/manual": (20e-6, 0.0, 0.1), "torch/eager": (20.2e-6, 0.0, 2.0)}
    reading = speed.headline(frame_of(close))["reading"][1]
    assert "within the noise: their 95% CIs overlap" in reading and "slowest" not in reading


def test_break_even_of_each_graph_mode(df):
    s = graph.define_and_run(df)
    rows = {r[1]["text"]: r for r in s["tables"][0]["rows"]}
    assert set(rows) == {"tensorflow/function", "tensorflow/session", "jax/jit"}
    # build / (eager step - graph step): 0.3 / 300 µs, 0.5 / 400 µs, 0.1 / (1200 - 8) µs
    assert [rows[i][6]["text"] for i in ("tensorflow/function", "tensorflow/session", "jax/jit")] == \
        ["1,000", "1,250", "84"]
    assert rows["jax/jit"][5]["text"] == "150×" and rows["tensorflow/session"][5]["text"] == "5×"
    reading = s["reading"][0]
    assert "Quickest to pay off: jax/jit" in reading and "after 84 steps" in reading
    assert "Slowest to pay off: tensorflow/session on elementwise, after 1,250 steps" in reading
    slow_graph = frame_of({"torch/eager": (40e-6, 0.0, 2.0), "jax/eager": (10e-6, 0.0, 0.8), "jax/jit": (20e-6, 0.1, 0.8)})
    never = graph.define_and_run(slow_graph)
    assert "Never pays off" in " ".join(never["reading"]) and never["tables"][0]["rows"][0][6]["text"] == "never"
    assert graph.break_even_steps(1.0, 0.003, 0.001) == 500
    assert graph.break_even_steps(1.0, 0.001, 0.001) is None


def test_the_slides_ten_times_is_decomposed(df):
    reading = speed.tf10x(df)["reading"][1]
    # what the slide timed: setup + build + first step = 1 ms + 500 ms + 200 µs against 1 ms + 0 + 80 µs
    once = (0.001 + 0.5 + 2e-4) / (0.001 + 8e-5)
    assert f"tensorflow/session takes 501 ms against torch/eager's 1.08 ms: {once:.0f}×" in reading
    assert "100% of it is the build (500 ms)" in reading and "2.5× slower" in reading
    assert "The slide's 14× is reproduced here" in reading
    cheap = dict(IMPLS, **{"tensorflow/session": (100e-6, 0.002, 7.0)})
    reading = speed.tf10x(frame_of(cheap))["reading"][1]
    assert "The slide's 14× is not reproduced here" in reading


def test_the_report_renders_every_implementation(df, tmp_path):
    data = run([cell("elementwise", impl, m, build_s=b, import_s=imp, seed=k)
                for k, (impl, (m, b, imp)) in enumerate(IMPLS.items())])
    ctx = render.context(frame.frame([data]), [("synthetic.json", data)], "t")
    assert ctx["n_cells"] == ctx["n_ok"] == len(IMPLS)
    assert [s["id"] for s in ctx["sections"]][:3] == ["headline", "tf10x", "graph"]


def test_layer_cost_pairs_rounds_and_reads_fixed_and_compute_costs():
    """keras-jax/jit over jax/jit: 10x on single_layer (a fixed cost: (300 - 30) µs x the median drift 1.05), 1.02x
    on cnn (lost in compute); keras-tensorflow/jit over tensorflow/function: 3x on single_layer, 2x on cnn (computed
    another way)."""
    from bench.report import layers as report_layers
    steps = {("single_layer", "jax/jit"): 30e-6, ("single_layer", "keras-jax/jit"): 300e-6,
             ("single_layer", "tensorflow/function"): 500e-6, ("single_layer", "keras-tensorflow/jit"): 1.5e-3,
             ("cnn", "jax/jit"): 100e-3, ("cnn", "keras-jax/jit"): 102e-3,
             ("cnn", "tensorflow/function"): 30e-3, ("cnn", "keras-tensorflow/jit"): 60e-3}
    drift = [1.0, 1.3, 0.9, 1.1] * 4                     # a per-round drift shared by all: paired ratios cancel it
    cells = [cell(task, impl, given=[m * d for d in drift], seed=k)
             for k, ((task, impl), m) in enumerate(steps.items())]
    s = report_layers.layers(prepare(frame.frame([run(cells)])))
    rows = {(r[0]["text"], r[1]["text"]): r for r in s["tables"][0]["rows"]}
    assert set(rows) == {(t, i) for t, i in steps if i.startswith("keras")}
    assert rows[("single_layer", "keras-jax/jit")][2]["text"] == "jax/jit"
    assert rows[("single_layer", "keras-jax/jit")][5]["text"] == "10×" and "paired" in \
        rows[("single_layer", "keras-jax/jit")][5]["sub"]
    assert rows[("cnn", "keras-tensorflow/jit")][5]["text"] == "2×"
    text = " ".join(s["reading"])
    assert "keras-jax/jit takes 1× (cnn) to 10× (single_layer) the time of jax/jit" in text
    assert "Within 10% of the raw step (the layer's cost is lost in the task's own compute): keras-jax/jit on cnn." \
        in text
    assert "Where the raw step is shortest (single_layer), the layers add 283 µs (keras-jax/jit) to 1.05 ms " \
           "(keras-tensorflow/jit) per step" in text
    assert "Where compute dominates (cnn), bookkeeping cannot explain keras-tensorflow/jit at 2× the time of " \
           "tensorflow/function" in text and "keras-jax/jit at" not in text.split("compute dominates")[1]


def test_no_layer_measured_says_so(df):
    from bench.report import layers as report_layers
    assert "No implementation that is a layer over another" in report_layers.layers(df)["reading"][0]


def test_a_measured_peak_above_the_theoretical_one_names_the_clock_it_implies():
    """A VM reports its nominal clock; a measured sgemm above the theoretical peak means the cores ran faster."""
    from bench.report import more
    cells = [cell("mlp", impl, m, seed=k) for k, (impl, (m, _, _)) in enumerate(IMPLS.items())]
    basis = "2 cores x 2.60 GHz (advertised) x 32 fp32 FLOP/cycle (AMD Zen 4)"
    cpu = {"model": "Synthetic CPU", "cores_physical": 2, "peak_gflops": 166.4, "peak_basis": basis}
    def reading(measured):
        data = run(cells, cpu={**cpu, "peak_measured_gflops": measured})
        return " ".join(more.efficiency(prepare(frame.frame([data])), [("x.json", data)])["reading"])
    assert "so the cores ran above the clock the system reports, at 3.15 GHz or more (turbo)" in reading(201.6)
    assert "turbo)" not in reading(150.0) and "the measured peak is 90% of it" in reading(150.0)
