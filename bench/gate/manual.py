"""The manual (docs/, built by MkDocs in strict mode) as a folder of a published site, beside the reports."""
from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEEDS = ("mkdocs", "material", "mkdocs_gen_files")          # the docs extra
QUIET = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}   # MkDocs' and Material's banners
_built: dict = {}                                           # config -> a build of this process, copied per site


def build(out: Path, root: Path = ROOT) -> dict:
    """Build the manual into `out`: {"href": its index, relative to out's parent} or {"note": why it is not there}."""
    config = root / "mkdocs.yml"
    if not config.is_file():
        return {"note": "The manual is not in this site: it is built from a checkout of fwbench (docs/, mkdocs.yml)."}
    missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        return {"note": f"The manual is not in this site: MkDocs is not installed here (pip install -e '.[docs]')."}
    if config not in _built:
        tmp = Path(tempfile.mkdtemp(prefix="fwbench-manual-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(config),
                            "-d", str(tmp / "site")], cwd=root, capture_output=True, text=True,
                           env={**os.environ, **QUIET})
        if r.returncode:
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            return {"note": f"The manual is not in this site: its build failed ({last})."}
        _built[config] = tmp / "site"
    shutil.copytree(_built[config], out)
    return {"href": f"{out.name}/index.html"}
