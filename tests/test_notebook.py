"""notebooks/lecture.ipynb: committed without outputs, in sync with lecture.py, and runs top to bottom (smoke)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB, PY = ROOT / "notebooks" / "lecture.ipynb", ROOT / "notebooks" / "lecture.py"
pytestmark = pytest.mark.xdist_group("notebook")     # one kernel and its workers at a time


def test_committed_without_outputs_and_in_sync_with_the_py():
    jupytext = pytest.importorskip("jupytext")
    nb = json.loads(NB.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    paired = jupytext.read(PY)
    assert [(c.cell_type, c.source) for c in paired.cells] == [(c["cell_type"], "".join(c["source"]))
                                                               for c in nb["cells"]], \
        "notebooks/lecture.ipynb and lecture.py differ: jupytext --to ipynb notebooks/lecture.py, then strip outputs"


def test_runs_top_to_bottom_on_the_smoke_profile(tmp_path, monkeypatch):
    """Every cell on the smoke profile in a fresh kernel (cwd: a temporary folder); an error in any cell fails."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("FWBENCH_NOTEBOOK_PROFILE", "smoke")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NB, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    assert "profile smoke" in text and "95% CI" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 6                                  # worked examples, tf10x, headline, break-even, sweep, layers
    from bench import results
    data = results.load(tmp_path / "lecture-results.json")
    assert data["profile"] == "smoke" and data["examples"]
    assert (tmp_path / "lecture-report" / "figures" / "headline.png").exists()
