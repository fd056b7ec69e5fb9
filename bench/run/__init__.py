"""Taking timings: the runner, its worker processes, the timing loop, progress, quiescing and the harness check."""
