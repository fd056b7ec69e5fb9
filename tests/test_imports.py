"""Importing bench, its API and its CLI loads no framework (checked in a fresh interpreter); the package's layers
(core, run/, report/, gate/, then the command line) import only downwards."""
import ast
import json
import subprocess
import sys
from pathlib import Path

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


BENCH = Path(__file__).resolve().parent.parent / "bench"
SUBPACKAGES = ("run", "report", "gate")
# what each layer may import besides the core (bench/*.py): the core nothing above it, taking timings and
# rendering results files nothing but the core, the gate over results files both of those; only the command
# line (bench/cli.py, bench/__main__.py) imports everything.
MAY_IMPORT = {"core": set(), "run": {"run"}, "report": {"report"}, "gate": {"gate", "run", "report"}}
FRONT_DOOR = {("bench/__init__.py", "bench.lab")}     # `bench.measure` and `bench.Results`, imported on first use


def bench_imports(path: Path) -> set[str]:
    """The bench modules `path` imports, lazily inside functions too, as dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "bench"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "bench":
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def layer(dotted: str) -> str | None:
    """core, run, report, gate or cli for a bench module name (bench.x.y), None for bench itself."""
    parts = dotted.split(".")[1:]
    if not parts or parts[0] == "__version__":
        return None
    if parts[0] in ("cli", "__main__", "lab"):        # the front ends: the command line and the Python API
        return "cli"
    return parts[0] if parts[0] in SUBPACKAGES else "core"


def modules():
    for path in sorted(BENCH.rglob("*.py")):
        yield path.relative_to(BENCH.parent), layer(".".join(path.relative_to(BENCH.parent).with_suffix("").parts))


def test_layout_has_the_subpackages():
    assert all((BENCH / sub / "__init__.py").is_file() for sub in SUBPACKAGES)
    assert sum(1 for _, where in modules() if where in SUBPACKAGES) > len(SUBPACKAGES)


def test_no_lower_layer_imports_the_command_line():
    importers = [str(rel) for rel, where in modules() if where != "cli"
                 and any(layer(name) == "cli" for name in bench_imports(BENCH.parent / rel)
                         if (str(rel), name) not in FRONT_DOOR)]
    assert importers == [], f"these import bench.cli: {importers}"


def test_layers_import_only_downwards():
    wrong = [f"{rel} imports {name}" for rel, where in modules() if where != "cli"
             for name in sorted(bench_imports(BENCH.parent / rel))
             if layer(name) not in (None, "core", *MAY_IMPORT[where]) and (str(rel), name) not in FRONT_DOOR]
    assert wrong == [], "a lower layer imports a higher one:\n" + "\n".join(wrong)
