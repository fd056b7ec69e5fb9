"""Measuring from Python (a notebook, a script): `measure` runs `fwbench run` itself, `Results` holds its file.

There is no second timing path: `measure` builds the same options `fwbench run` parses and calls the same
runner (workers, rounds, precision, results file). It leaves the host's signals alone (Jupyter's included),
shows progress as plain lines on stdout (a notebook shows them), runs from any thread, and an interrupt
(Ctrl-C, a kernel interrupt) keeps the finished cells: `Interrupted.results` holds them, and `out=` has them.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path


class Interrupted(KeyboardInterrupt):
    """`measure` was interrupted: `results` holds the cells finished so far (the rest marked failed)."""

    def __init__(self, results):
        super().__init__(f"interrupted: {results.summary()}; the finished cells are in this exception's .results")
        self.results = results


class Results:
    """One results file in memory: cells as a frame, slide figures, captions, the file, the report."""

    def __init__(self, data: dict, source: str = "<memory>"):
        self.data, self.source = data, str(source)

    @classmethod
    def load(cls, path) -> "Results":
        """A results file read and checked against the schema."""
        from bench import results
        return cls(results.load(path), str(path))

    @property
    def interrupted(self) -> bool:
        """Whether the run was stopped before every cell finished."""
        return bool(self.data.get("harness", {}).get("interrupted"))

    def summary(self) -> str:
        """'12 cells: 10 ok, 2 skipped, 0 failed'."""
        cells = self.data.get("results", [])
        counts = {s: sum(c["status"] == s for c in cells) for s in ("ok", "skipped", "failed")}
        return f"{len(cells)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items())

    def frame(self):
        """One pandas row per cell (the columns of bench.report.frame)."""
        from bench.report.frame import frame
        return frame([(self.source, self.data)])

    def figures(self) -> list[str]:
        """The names of the slide figures these results can draw."""
        from bench.report import figures
        return figures.names(self._prepared())

    def figure(self, name: str):
        """Slide figure `name` (see figures()) as a matplotlib Figure, 16:9."""
        from bench.report import figures
        return figures.figure(self._prepared(), name)

    def caption(self, name: str) -> str:
        """The caption of figure `name`: its numbers with 95% CIs, machine, frameworks, date, results file."""
        from bench.report import figures
        return figures.caption(self._prepared(), [(self.source, self.data)], name)

    def speedups(self) -> list[dict]:
        """Each graph mode against its framework's eager mode (default sizes): ratio, lo, hi (95% CI), break-even."""
        from bench.report import figures
        return figures.speedups(self._prepared())

    def layer_costs(self) -> list[dict]:
        """Each layer over a framework against the raw implementation it runs on (default sizes): ratio, lo, hi."""
        from bench.report import figures
        return figures.layer_costs(self._prepared())

    def save(self, path) -> Path:
        """Write the results file (checked against the schema first); later captions name it."""
        from bench import results
        results.validate(self.data, str(path))
        path = results.write_atomic(path, self.data)
        self.source = str(path)
        return path

    def report(self, folder) -> Path:
        """What `fwbench report` renders from these results, into `folder` (figures/ included)."""
        from bench.report.render import write_report
        write_report(self.frame(), [(self.source, self.data)], Path(folder))
        return Path(folder)

    def _prepared(self):
        from bench.report.lib import prepare
        return prepare(self.frame())

    def __repr__(self):
        return (f"<fwbench Results {self.data.get('run_id')} ({self.data.get('profile')}): {self.summary()}"
                + (", interrupted" if self.interrupted else "") + f"; from {self.source}>")


class _Lines:
    """Progress lines on the stdout of the moment (a notebook's cell output), never a terminal display."""

    def write(self, text):
        sys.stdout.write(text)

    def flush(self):
        sys.stdout.flush()

    def isatty(self):
        return False


def measure(tasks=None, impls=None, devices=None, profile="quick", threads=None, out=None, *, blocks=None,
            precision=None, max_time=None, examples=False, sweep=False, on_update=None, progress=None) -> Results:
    """Time cells exactly as `fwbench run` does (same workers, rounds and file) and return their Results.

    tasks/impls/devices: names or lists (None: the profile's); profile: a `fwbench run --profile`; threads: per
    framework (None: the physical cores); out: results file to write after every finished cell (None: kept in
    memory only); blocks / precision / max_time: as `fwbench run --blocks/--precision/--max-time`; examples,
    sweep: as `fwbench run --examples/--sweep` (the slides' worked examples; every task at its sweep sizes);
    on_update(results): called after every change worth saving (raise KeyboardInterrupt in it to stop);
    progress: a bench.run.progress.Progress (None: plain lines on stdout).
    A KeyboardInterrupt raises `Interrupted`, whose .results holds the finished cells (also written to `out`).
    """
    from bench import results
    from bench.run import runner
    from bench.run.progress import Progress
    keep = None if out is not None else tempfile.TemporaryDirectory(prefix="fwbench-measure-")
    path = Path(out) if out is not None else Path(keep.name) / "results.json"
    args = runner.options(tasks, impls, devices, profile, threads, path, blocks, precision, max_time, examples, sweep)
    stopped = []

    def hook(data):                     # once it raised, not again: the runner saves once more while it stops
        if on_update is not None and not stopped:
            try:
                on_update(Results(data, str(path) if out is not None else "<memory>"))
            except KeyboardInterrupt:
                stopped.append(True)
                raise

    try:
        code = runner.run(args, progress=progress or Progress(stream=_Lines(), live=False), on_update=hook,
                          own_signals=False)
        got = Results(results.load(path), str(path) if out is not None else "<memory>")
        if out is None:                          # the command as one would run it again (it names no temp file)
            got.data["command"] = got.data["command"].replace(f" --out {path}", "")
    finally:
        if keep is not None:
            keep.cleanup()
    if code == 130:
        raise Interrupted(got)
    return got
