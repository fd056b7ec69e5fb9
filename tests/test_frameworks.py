"""A framework is a folder: the registry, the workers and the profiles read what each implementations/ folder declares.

A toy framework added to a copy of the checkout (a folder, nothing else) is listed, run in its own worker with the
environment it declares, and skipped where its module is missing; Keras, added the same way, is named nowhere in bench/.
"""
import importlib.util
import json
import os
import subprocess
import shutil
import sys
from pathlib import Path

import pytest

from bench import api, registry
from bench.run import runner

pytestmark = pytest.mark.xdist_group("frameworks")   # one xdist worker: its module fixture runs once

ROOT = Path(__file__).resolve().parent.parent
TOY_INIT = '''"""toy: numpy under another name, to show that a framework is a folder."""
ORDER = 5
FRAMEWORKS = {"toy": {"imports": ("numpy",), "extra": "toy", "env": {"FWBENCH_TOY_MARK": "declared"},
                      "modes": {"manual": {"paradigm": "hand-written backprop"}}},
              "toy-missing": {"imports": ("fwbench_no_such_module",), "extra": "toy",
                              "modes": {"manual": {"paradigm": "hand-written backprop"}}},
              "toy-guest": {"imports": ("numpy",), "extra": "toy", "worker": "toy", "env": {"FWBENCH_TOY_GUEST": "yes"},
                            "modes": {"manual": {"paradigm": "hand-written backprop"}}}}
'''
TOY_CORE = '''"""toy/manual: numpy/manual, which refuses to run without the environment its folder declares."""
import os

from implementations.numpy import core as numpy_core
from implementations.numpy.core import set_threads  # noqa: F401


class Manual(numpy_core.Manual):
    def setup(self, inputs, params):
        if os.environ.get("FWBENCH_TOY_MARK") != "declared":
            raise RuntimeError("the worker did not set the declared environment")
        if self.impl.startswith("toy-guest/") and os.environ.get("FWBENCH_TOY_GUEST") != "yes":
            raise RuntimeError("the host worker did not set its guest's environment")
        super().setup(inputs, params)
'''


@pytest.fixture(scope="module")
def toy_checkout(tmp_path_factory):
    """A copy of bench/, implementations/ and pyproject.toml with one more folder, implementations/toy/."""
    root = tmp_path_factory.mktemp("checkout")
    for name in ("bench", "implementations"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root)                   # a checkout: install hints are editable
    toy = root / "implementations" / "toy"
    toy.mkdir()
    (toy / "__init__.py").write_text(TOY_INIT)
    (toy / "core.py").write_text(TOY_CORE)
    for task in ("elementwise", "single_layer", "mlp", "cnn"):
        (toy / f"{task}.py").write_text(f"from implementations.numpy.{task} import *  # noqa: F401,F403\n")
    return root


def test_a_new_folder_is_a_new_framework_run_in_the_worker_it_declares(toy_checkout):
    listed = subprocess.run([sys.executable, "-m", "bench", "list", "--devices", "cpu"], cwd=toy_checkout,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(toy_checkout)})
    assert listed.returncode == 0, listed.stderr
    assert "toy/manual" in listed.stdout and "fwbench_no_such_module is not installed (pip install -e '.[toy]')" \
        in listed.stdout
    out = toy_checkout / "toy.json"
    run = subprocess.run([sys.executable, "-m", "bench", "run", "--tasks", "single_layer", "--impls",
                          "toy/manual,toy-missing/manual,toy-guest/manual", "--blocks", "2", "--threads", "1",
                          "--out", str(out)], cwd=toy_checkout, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(toy_checkout)})
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(out.read_text())
    records = data["results"]
    assert [r["status"] for r in records] == ["ok", "skipped", "ok"], [r["reason"] for r in records]
    assert records[0]["gradcheck"]["ok"] and records[2]["gradcheck"]["ok"]
    assert list(data["environment"]["workers"]) == ["toy/cpu"]         # the guest ran in its host's process
    assert records[2]["phases"]["import_s"] >= records[0]["phases"]["import_s"]
    assert records[1]["reason"] == "fwbench_no_such_module is not installed (pip install -e '.[toy]')"


def test_every_framework_has_a_quick_cell_and_a_declared_paradigm_and_colour():
    quick = runner.make_cells("quick", api.tasks(), None, ["cpu"])
    for fw, decl in registry.FRAMEWORKS.items():
        assert any(c["impl"].split("/")[0] == fw for c in quick), f"{fw} has no cell in the quick profile"
        for mode, info in decl["modes"].items():
            assert info["paradigm"] in ("define-by-run", "define-and-run", "hand-written backprop"), (fw, mode)
            assert info.get("colour", "").startswith("#"), (fw, mode)
            assert info.get("wraps") in (None, *registry.IMPLS), (fw, mode)


def test_keras_was_added_as_a_folder_only():
    named = [str(p.relative_to(ROOT)) for p in (ROOT / "bench").rglob("*")
             if p.is_file() and p.suffix in (".py", ".j2", ".json", ".css", ".js") and "keras" in p.read_text().lower()]
    assert named == [], f"bench/ names keras in {named}"


def test_a_task_a_framework_does_not_implement_is_a_skip_with_its_reason():
    skips = [(impl, task) for impl in registry.IMPLS for task in api.tasks() if registry.task_skip_reason(impl, task)]
    assert skips, "no framework declares a task it does not implement"
    impl, task = skips[0]
    reason = api.skip_reason(impl, "cpu", task)
    assert reason == registry.task_skip_reason(impl, task)
    with pytest.raises(api.SkipCell, match=reason[:20]):
        api.make(task, impl)
    records = runner.run_cells([{"task": task, "impl": impl, "device": "cpu", "size": runner.canonical(task, {}),
                                 "variant": None, "retrace": None}], (runner.Side(),), threads=1, blocks=2,
                               warmup_s=0.01)
    assert records[0]["status"] == "skipped" and records[0]["reason"] == reason


@pytest.mark.parametrize("fw", [fw for fw, d in registry.FRAMEWORKS.items() if len(d["imports"]) > 1])
def test_a_missing_backend_skips_with_the_extra_that_installs_it(fw, monkeypatch):
    backend = registry.FRAMEWORKS[fw]["imports"][-1]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == backend else real(name, *a))
    impl = next(i for i in registry.IMPLS if i.split("/")[0] == fw)
    extra = next(d["extra"] for d in registry.FRAMEWORKS.values() if d["imports"] == (backend,))
    assert api.skip_reason(impl, "cpu") == f"{backend} is not installed (pip install -e '.[{extra}]')"


def test_a_task_a_folder_does_not_do_is_no_cell_of_any_profile_and_is_listed_once():
    undone = [(i, t) for i in registry.IMPLS for t in api.tasks() if registry.task_skip_reason(i, t)]
    assert undone, "no framework declares a task it does not implement"
    for profile in runner.PROFILES:
        grid = {(c["impl"], c["task"]) for c in runner.make_cells(profile, api.tasks(), None, ["cpu", "gpu"])}
        assert grid and not grid & set(undone), profile
    impl, task = undone[0]
    with pytest.raises(runner.UsageError, match=f"{impl} do not do {task}"):
        runner.make_cells("quick", [task], [impl], ["cpu"])
    listed = subprocess.run([sys.executable, "-m", "bench", "list", "--devices", "cpu"], cwd=ROOT,
                            capture_output=True, text=True)
    reason = registry.task_skip_reason(impl, task)
    assert listed.stdout.count(reason) == 1 and f"not done by {impl}" in listed.stdout
