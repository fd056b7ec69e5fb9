"""numpy/manual: every gradient derived by hand, on numpy (CPU) or CuPy (GPU)."""
