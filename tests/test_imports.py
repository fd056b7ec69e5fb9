"""Importing bench, its API and its CLI loads no framework (checked in a fresh interpreter)."""
import json
import subprocess
import sys

FRAMEWORKS = ("torch", "tensorflow", "jax", "cupy")
CODE = """
import json, sys
import bench, bench.api, bench.cli
bench.cli.build_parser()
bench.api.skip_reason("torch/eager", "gpu")
print(json.dumps([m for m in %r if m in sys.modules]))
""" % (FRAMEWORKS,)


def test_importing_bench_loads_no_framework():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_implementations_folder_does_not_shadow_frameworks():
    import implementations
    assert all(not p.endswith("implementations") for p in sys.path)
    assert implementations.__name__ == "implementations"
