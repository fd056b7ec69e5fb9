"""The results file's JSON Schema (bench/schema/results.schema.json): published files pass, a lost field fails."""
import copy
import json
from pathlib import Path

import jsonschema
import pytest

from bench import results
from bench.errors import UsageError

pytestmark = pytest.mark.xdist_group("schema")   # one xdist worker: its module fixture runs once

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = sorted((ROOT / "results").glob("*.json"))
# the contract fields of DESIGN.md's results file: a writer that drops any of them must be refused on load
CONTRACT = [("run_id",), ("created",), ("environment", "python"), ("environment", "platform"), ("environment", "cpu"),
            ("environment", "gpus"), ("environment", "frameworks"), ("environment", "threads"),
            ("environment", "git"), ("harness", "overhead_s"), ("results", 0, "task"), ("results", 0, "impl"),
            ("results", 0, "device"), ("results", 0, "size"), ("results", 0, "status"), ("results", 0, "reason"),
            ("results", 0, "phases"), ("results", 0, "step"), ("results", 0, "gradcheck"), ("results", 0, "memory")]
CONTRACT += [("results", 0, "phases", k) for k in ("import_s", "setup_s", "build_s", "first_step_s")]
CONTRACT += [("results", 0, "step", k) for k in ("median_s", "iqr_s", "min_s", "ci95_s", "samples_s", "block")]
CONTRACT += [("results", 0, "gradcheck", k) for k in ("max_rel_err", "ok")]


@pytest.fixture(scope="module")
def published():
    assert PUBLISHED, "results/ holds no published results file"
    return json.loads(PUBLISHED[0].read_text())


def test_the_schema_is_valid_json_schema_and_ships_with_the_package():
    jsonschema.Draft202012Validator.check_schema(json.loads(results.SCHEMA_FILE.read_text()))
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"schema/*.json"' in pyproject and results.SCHEMA_FILE.parent.name == "schema"


@pytest.mark.parametrize("path", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_published_results_validate(path):
    data = results.load(path)
    assert data["results"] and all(c["status"] in ("ok", "skipped", "failed") for c in data["results"])


@pytest.mark.parametrize("where", CONTRACT, ids=["/".join(map(str, w)) for w in CONTRACT])
def test_a_file_that_lost_a_contract_field_is_refused(published, where, tmp_path):
    data = copy.deepcopy(published)
    parent = data
    for k in where[:-1]:
        parent = parent[k]
    del parent[where[-1]]
    bad = tmp_path / "lost.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(UsageError) as e:
        results.load(bad)
    message = str(e.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message
    assert f"{where[-1]!r} is a required property" in message or f"missing {where[-1]}" in message


@pytest.mark.parametrize("change, needle", [
    (lambda c: c.update(status="done"), "'done' is not one of"),
    (lambda c: c.update(device="tpu"), "'tpu' is not one of"),
    (lambda c: c["step"].update(samples_s=[]), "samples_s"),
    (lambda c: c["step"].update(median_s=-1.0), "median_s"),
    (lambda c: c["step"].update(block=0.5), "block"),
    (lambda c: c["step"].update(ci95_s=[1.0]), "ci95_s"),
    (lambda c: c["gradcheck"].update(ok="yes"), "gradcheck/ok"),
    (lambda c: c.update(step=None), "step"),
    (lambda c: c.update(status="skipped", reason=None), "reason"),
    (lambda c: c["phases"].update(build_s=None), "build_s"),
])
def test_wrong_types_and_values_are_refused_in_one_line(published, change, needle):
    data = copy.deepcopy(published)
    change(data["results"][0])
    with pytest.raises(UsageError) as e:
        results.validate(data, "x.json")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_skipped_and_failed_cells_need_only_a_reason(published):
    data = copy.deepcopy(published)
    cell = data["results"][0]
    cell.update(status="skipped", reason="no GPU on this machine", phases=None, step=None, gradcheck=None, memory=None)
    assert results.validate(data) is data
    data["extra_field_from_a_newer_writer"] = {"anything": 1}
    cell["another"] = 2
    assert results.validate(data) is data


def test_write_atomic_writes_json_beside_the_target_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import numpy as np
    path = tmp_path / "deep" / "r.json"
    assert results.write_atomic(path, {"a": np.arange(3), "b": (1, 2), "c": {4}}) == path
    assert path.read_text() == '{\n "a": [\n  0,\n  1,\n  2\n ],\n "b": [\n  1,\n  2\n ],\n "c": [\n  4\n ]\n}\n'
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        results.write_atomic(path, {"bad": object()})
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]      # the old file kept, no .tmp left
    seen = []
    real = results.os.replace
    monkeypatch.setattr(results.os, "replace", lambda a, b: (seen.append(Path(a)), real(a, b)))
    results.write_atomic(path, {"x": 1})
    assert seen[0].parent == path.parent and seen[0].name.startswith(".r.json.") and seen[0].suffix == ".tmp"


def test_expand_and_load_name_the_problem(tmp_path, published):
    (tmp_path / "b.json").write_text(json.dumps(published))
    (tmp_path / "a.json").write_text(json.dumps(published))
    (tmp_path / "notes.txt").write_text("x")
    assert results.expand([tmp_path, tmp_path / "a.json"]) == [tmp_path / "a.json", tmp_path / "b.json",
                                                                  tmp_path / "a.json"]
    empty = tmp_path / "empty"
    empty.mkdir()
    for path, needle in ((empty, "folder holds no results files"), (tmp_path / "no.json", "no such results file")):
        with pytest.raises(UsageError, match=needle):
            results.load(path) if "no.json" in str(path) else results.expand([path])
    with pytest.raises(UsageError, match="is a folder, not a results file"):
        results.load(tmp_path)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match="cannot read it"):
        results.load(tmp_path / "bin.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(UsageError, match="top level is not an object"):
        results.load(tmp_path / "list.json")
    cell = published["results"][0]
    assert results.cell_key(cell) == (cell["task"], cell["impl"], cell["device"], json.dumps(cell["size"], sort_keys=True))
    assert results.size_label({"shape": [3, 4], "op": "mul"}) == "shape=3x4 op=mul"


def test_write_atomic_creates_missing_folders_and_load_names_a_json_error(tmp_path, published):
    path = tmp_path / "a" / "b" / "r.json"
    results.write_atomic(path, published)
    assert results.load(path) == published
    (tmp_path / "bad.json").write_text('{"schema": 1,\n oops}')
    with pytest.raises(UsageError, match=r"bad.json: not valid JSON \(line 2: Expecting property name"):
        results.load(tmp_path / "bad.json")


def test_expand_keeps_files_named_before_a_folder(tmp_path, published):
    (tmp_path / "runs").mkdir()
    for name in ("a.json", "runs/b.json", "runs/c.json"):
        (tmp_path / name).write_text(json.dumps(published))
    assert results.expand([tmp_path / "a.json", tmp_path / "runs"]) == [tmp_path / "a.json", tmp_path / "runs" / "b.json",
                                                                      tmp_path / "runs" / "c.json"]


def test_validate_names_the_file_the_missing_keys_and_the_schema_version(published):
    with pytest.raises(UsageError, match=r"^results: not a fwbench results file \(missing run_id, harness\)$"):
        results.validate({k: v for k, v in published.items() if k not in ("run_id", "harness")})
    with pytest.raises(UsageError, match=r"^x.json: results schema 2 is not supported \(this fwbench reads 1\)$"):
        results.validate({**published, "schema": 2}, "x.json")


@pytest.mark.parametrize("n, shown", [(116, None), (117, 157)])
def test_a_long_schema_message_is_cut_to_160_characters(published, n, shown):
    data = copy.deepcopy(published)
    data["results"][0]["status"] = "s" * n          # message: "'sss...' is not one of [...]", n + 44 characters
    with pytest.raises(UsageError) as e:
        results.validate(data, "x.json")
    message = str(e.value).split("results/0/status: ", 1)[1]
    full = f"{'s' * n!r} is not one of ['ok', 'skipped', 'failed']"
    assert message == (full if shown is None else full[:shown] + "...")
