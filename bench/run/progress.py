"""Progress of a run on stderr: a live line (cell, phase, elapsed, ETA) on a terminal, plain lines in logs."""
from __future__ import annotations

import sys
import time


def _fmt(seconds) -> str:
    """'1m05s' / '42s' / '?'."""
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """What the runner reports: cells being prepared, steady-state rounds, the estimated time left."""

    def __init__(self, stream=None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.t0 = time.perf_counter()
        self.prepares_left, self.prepare_times, self.round_s, self.rounds_left = 0, [], 0.0, 0
        self.deadline = None
        self._rich = None

    # -- what the runner calls ------------------------------------------------------------
    def start(self, prepares: int, rounds: int, deadline: float | None = None):
        """A run with this many cells to prepare and steady-state rounds to time (at least, when rounds go on
        to a precision until the time.perf_counter() `deadline`)."""
        self.prepares_left, self.rounds_left, self.deadline = prepares, rounds, deadline
        if self.live:
            from rich.console import Console
            from rich.live import Live
            self._rich = Live(console=Console(file=self.stream), refresh_per_second=4, transient=True)
            self._rich.start()

    def phase(self, cell: str, what: str):
        """`cell` is now in phase `what` (import, prepare, steady, finish, ...)."""
        self._show(f"{cell}: {what}")

    def prepared(self, cell: str, seconds: float, summary: str):
        """One cell's prepare phase ended after `seconds`."""
        self.prepares_left = max(0, self.prepares_left - 1)
        self.prepare_times.append(seconds)
        self._line(f"{cell}: {summary}")

    def round(self, done: int, total: int | None, round_s: float, note: str = ""):
        """`done` of `total` (None: until a precision) steady-state rounds are done; one took `round_s`."""
        self.rounds_left, self.round_s = max(0, (total or 0) - done), round_s
        self._show(f"steady state: round {done}" + (f"/{total}" if total else "") + (f" ({note})" if note else ""),
                   plain=True)

    def note(self, text: str):
        """A line worth keeping in the log (a failure, a skip)."""
        self._line(text)

    def stop(self):
        """The run is over (or interrupted): clear the live display."""
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    # -- rendering ----------------------------------------------------------------------------
    def eta(self):
        """Seconds left: mean prepare time x cells left, plus rounds left x the last round's length."""
        if self.prepares_left and not self.prepare_times:
            return None
        mean = sum(self.prepare_times) / len(self.prepare_times) if self.prepare_times else 0.0
        eta = self.prepares_left * mean + self.rounds_left * self.round_s
        if self.deadline is not None:        # rounds to a precision: the minimum blocks, then at most the budget
            eta = max(eta, self.deadline - time.perf_counter())
        return eta

    def _status(self, text: str) -> str:
        return f"[{_fmt(time.perf_counter() - self.t0):>6}] {text}  (ETA {_fmt(self.eta())})"

    def _show(self, text: str, plain: bool = False):
        if self._rich is not None:
            from rich.text import Text
            self._rich.update(Text(self._status(text)))
        elif plain:
            self._write(self._status(text))

    def _line(self, text: str):
        if self._rich is not None:
            self._rich.console.print(text, highlight=False, markup=False)
        else:
            self._write(f"[{_fmt(time.perf_counter() - self.t0):>6}] {text}")

    def _write(self, text: str):
        self.stream.write(text + "\n")
        self.stream.flush()
