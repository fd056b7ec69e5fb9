"""numpy/manual: every gradient derived by hand, on numpy (CPU) or CuPy (GPU)."""

ORDER = 10
FRAMEWORKS = {"numpy": {
    "imports": ("numpy",), "gpu_imports": ("cupy",), "extra": "", "install": {"cupy": "pip install cupy-cuda12x"},
    "modes": {"manual": {"paradigm": "hand-written backprop", "colour": "#555555"}},
}}
DISTS = {"cupy": ("cupy", "cupy-cuda12x", "cupy-cuda11x", "cupy-cuda13x")}
