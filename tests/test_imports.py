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


def test_no_lower_layer_imports_the_command_line():
    import re
    from pathlib import Path
    bench = Path(__file__).resolve().parent.parent / "bench"
    pattern = re.compile(r"^\s*(from bench\.cli import|from bench import .*\bcli\b|import bench\.cli)", re.M)
    importers = [p.name for p in bench.rglob("*.py") if p.name not in ("cli.py", "__main__.py")
                 and pattern.search(p.read_text())]
    assert importers == [], f"these import bench.cli: {importers}"
