#!/usr/bin/env python3
"""Set up `.venv` and run the main job or the tests: `python3 dev.py bench` / `python3 dev.py test`.

Needs only Python 3.11+. The first call creates .venv at the repo root and installs fwbench with every
framework (torch CPU, tensorflow-cpu, jax) and the test tools; later calls reuse it until pyproject.toml changes.
"""
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".fwbench-installed"
OTAVA = "apache-otava==0.8.0"
EXTRAS = os.environ.get("FWBENCH_EXTRAS", "all,test,report,docs,lint")


def sh(*cmd):
    """Run a command from the repo root; stop with its exit code if it fails."""
    print("+", " ".join(map(str, cmd)), flush=True)
    rc = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if rc:
        sys.exit(rc)


def ensure_venv():
    """Create .venv and install fwbench[EXTRAS] into it, unless it is already up to date."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode() + OTAVA.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV.name}/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    sh(PY, "-m", "pip", "install", "-q", "--upgrade", "pip")
    sh(PY, "-m", "pip", "install", "-q", "-e", f".[{EXTRAS}]")
    # `fwbench track`'s change points: Apache Otava without its requirements, which pin numpy==2.2.0 and pull cloud
    # SDKs; otava.analysis needs only numpy and scipy (bench/gate/changes.py)
    sh(PY, "-m", "pip", "install", "-q", "--no-deps", OTAVA)
    STAMP.write_text(want)


def main(argv):
    if not argv or argv[0] not in ("bench", "test", "setup"):
        sys.stderr.write("usage: python3 dev.py bench|test|setup [extra arguments]\n")
        return 2
    ensure_venv()
    what, rest = argv[0], argv[1:]
    if what == "test":           # two pytest-xdist workers, except for the timing grid (one process, one cell at a time)
        # --durations: the slowest tests in every log, to keep plain pytest within its 3 minutes
        sh(PY, "-m", "pytest", "-q", "--durations=15",
           *(() if "--benchmark" in rest else ("-n", "2", "--dist", "loadgroup")), *rest)
    elif what == "bench":
        out = ROOT / "runs"
        sh(PY, "-m", "bench", "gradcheck")
        sh(PY, "-m", "bench", "examples")
        sh(PY, "-m", "bench", "run", "--profile", "quick", "--examples", "--out", out / "quick.json", *rest)
        if (ROOT / "bench" / "report" / "render.py").exists():
            sh(PY, "-m", "bench", "report", out / "quick.json", "--out", out / "report")
            print(f"report: {out / 'report' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
