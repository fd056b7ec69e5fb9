"""Results files: atomic writes, and loading validated against bench/schema/results.schema.json, one-line errors."""
from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

from bench.errors import UsageError

SCHEMA = 1
TOP_KEYS = ("schema", "run_id", "created", "environment", "harness", "results")


def write_atomic(path, data: dict) -> Path:
    """Write `data` as JSON to `path` via a temp file in the same folder and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, default=_jsonable)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


SCHEMA_FILE = Path(__file__).with_name("schema") / "results.schema.json"


@functools.cache
def validator():
    """The jsonschema validator of bench/schema/results.schema.json (the contract fields; more are allowed)."""
    import jsonschema
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def validate(data, name="results") -> dict:
    """`data` if it satisfies the results schema, else UsageError naming the first problem in one line."""
    from jsonschema.exceptions import best_match
    if not isinstance(data, dict):
        raise UsageError(f"{name}: not a fwbench results file (top level is not an object)")
    missing = [k for k in TOP_KEYS if k not in data]
    if missing:
        raise UsageError(f"{name}: not a fwbench results file (missing {', '.join(missing)})")
    if data["schema"] != SCHEMA:
        raise UsageError(f"{name}: results schema {data['schema']!r} is not supported (this fwbench reads {SCHEMA})")
    error = best_match(validator().iter_errors(data))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "top level"
        message = " ".join(error.message.split())
        raise UsageError(f"{name}: not a valid results file: {where}: "
                         + (message if len(message) <= 160 else message[:157] + "..."))
    return data


def load(path) -> dict:
    """Read and validate one results file; any problem is a UsageError that names the file."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such results file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a results file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read it ({e.__class__.__name__}: {e})") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    return validate(data, str(path))


def expand(paths) -> list[Path]:
    """Results files named directly or found (*.json) in named folders, in a stable order."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise UsageError(f"{p}: folder holds no results files (*.json)")
            out += found
        else:
            out.append(p)
    return out


def cell_key(cell: dict) -> tuple:
    """What identifies a cell within a run: (task, impl, device, size)."""
    return cell["task"], cell["impl"], cell["device"], json.dumps(cell["size"], sort_keys=True)


def size_label(size: dict) -> str:
    """A short human label of a size: 'batch=64', 'shape=3x4 op=mul'."""
    parts = []
    for k, v in size.items():
        v = "x".join(map(str, v)) if isinstance(v, (list, tuple)) else v
        parts.append(f"{k}={v}")
    return " ".join(parts)
