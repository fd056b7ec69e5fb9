"""The tasks written in each framework: one folder per framework, the same file names in each.

A folder is a framework to the harness through what its `__init__.py` declares (data, and no framework import):

    ORDER = 10                  # where its rows go in tables (lower first)
    FRAMEWORKS = {id: {         # one entry per worker process it needs: "<id>/<mode>" are its implementation ids
        "imports": (...),       # modules its worker imports (timed as import_s; the first one's version is reported)
        "gpu_imports": (...),   # more modules a GPU worker needs (optional)
        "extra": "name",        # the pyproject extra that installs them: pip install 'fwbench[name]' (-e '.[name]')
        "module_extras": {module: "extra"},         # a module another extra installs (optional)
        "install": {module: "how to install it"},   # where no extra does (optional)
        "env": {...},           # environment its worker sets before the imports (optional)
        "allocator": "fw",      # whose GPU allocator counts its memory (default: the id)
        "worker": "fw",         # run its cells in that framework's worker process (default: its own); its env is set
                                # and its imports made (timed, added to that worker's import_s) at its first cell
        "modes": {mode: {"paradigm": ..., "colour": "#rrggbb",
                         "quick": False (left out of the quick profile) or (tasks it runs there) (default: all),
                         "retrace": "what a new batch size costs" (graph modes: measured in the full profile),
                         "wraps": "fw/mode" (the raw implementation this one is a layer over)}},
        "skip_tasks": {task: reason},   # tasks it does not implement, and why (optional)
    }}
    DISTS = {module: (distribution names,)}   # where a module's distribution has another name (optional)
    def skip_reason(fw, mode, device): ...     # needs beyond the imports, checked without importing them (optional)

`core.py` holds one Workload class per mode (`Eager`, `Jit`, ...), `set_threads(n)` and `device_of(device)`.
"""
