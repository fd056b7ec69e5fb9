"""fwbench confirm and bisect: their decisions from synthetic track reports and fake ab verdicts (no timing)."""
import json
import subprocess
from pathlib import Path

import pytest

from bench.gate import bisect, confirm

ROOT = Path(__file__).resolve().parent.parent
A, B, C = "a" * 40, "b" * 40, "c" * 40


def change(task="single_layer", impl="numpy/manual", ratio=1.5, new=True, before=A, after=B, size="batch=64"):
    """One change of a track report, as `fwbench track --json` writes it."""
    return {"cell": f"{task} {size} {impl} cpu", "task": task, "impl": impl, "device": "cpu", "size": size,
            "variant": None, "index": 7, "run_before": "run-07", "run_after": "run-08", "commit_before": before,
            "commit_after": after, "ratio": ratio, "ci": [ratio * 0.9, ratio * 1.1], "p": 1e-4, "new": new}


def track(*changes, machine="ci-runner x2"):
    runs = [{"file": f"run-{i:02}.json", "run_id": f"run-{i:02}", "created": f"2026-01-{i:02}T00:00:00+00:00",
             "commit": A if i < 8 else B} for i in range(1, 9)]
    return {"kind": "track", "machine": machine, "runs": runs, "changes": list(changes),
            "exit": int(any(c["new"] for c in changes))}


def verdict(task="single_layer", impl="numpy/manual", v="regression", ratio=1.48, size="batch=64", note=""):
    """One cell of an ab report."""
    return {"name": f"{task} {size} {impl} cpu", "task": task, "impl": impl, "device": "cpu", "size": size,
            "variant": None, "verdict": v, "ratio": ratio, "ratio_ci": [ratio - 0.02, ratio + 0.02], "pairs": 36,
            "note": note}


def ab_report(*cells):
    return {"kind": "ab", "confidence": 0.99, "threshold_pct": 5.0, "cells": list(cells)}


def statuses(report):
    return {c["task"]: c["status"] for c in report["changes"]}


@pytest.mark.parametrize("ab_verdict, status, code", [
    ("regression", "confirmed", 1), ("unchanged", "rejected", 0), ("inconclusive", "inconclusive", 0),
    ("improvement", "improvement", 0), ("failed in new", "inconclusive", 0)])
def test_decide_follows_the_ab_verdict_of_the_cell(ab_verdict, status, code):
    report = confirm.decide(track(change()), {(A, B): ab_report(verdict(v=ab_verdict))})
    assert statuses(report) == {"single_layer": status} and report["exit"] == code
    assert report["changes"][0]["ab"]["verdict"] == ab_verdict and report["counts"] == {status: 1}


def test_decide_matches_each_change_to_its_own_cell():
    t = track(change(), change(task="mlp", ratio=1.2), change(task="cnn", new=False))
    ab = {(A, B): ab_report(verdict(v="unchanged", ratio=1.01), verdict("mlp", v="regression"),
                            verdict("cnn", v="regression"), verdict(size="batch=128", v="regression"))}
    report = confirm.decide(t, ab)
    assert statuses(report) == {"single_layer": "rejected", "mlp": "confirmed"}      # cnn's change was not new
    assert report["exit"] == 1 and report["changes"][0]["task"] == "mlp"               # confirmed first


def test_decide_without_new_changes_or_without_a_verdict():
    assert confirm.decide(track(change(new=False)), {}) | {"changes": None} == {
        "kind": "confirm", "machine": "ci-runner x2", "runs": 8, "track_exit": 0, "changes": None, "counts": {},
        "exit": 0}
    report = confirm.decide(track(change()), {(A, B): ab_report(verdict(size="batch=128"))})
    assert statuses(report) == {"single_layer": "inconclusive"} and "measured no such cell" in report["changes"][0]["why"]
    report = confirm.decide(track(change(before=B, after=B)), {})
    assert statuses(report) == {"single_layer": "same commit"} and report["exit"] == 0


def test_decide_reads_the_verdicts_of_the_changes_own_commits():
    report = confirm.decide(track(change(), change("mlp", before=B, after=C)),
                            {(A, B): ab_report(verdict(v="unchanged"), verdict("mlp")),
                             (B, C): ab_report(verdict(), verdict("mlp", v="unchanged"))})
    assert statuses(report) == {"single_layer": "rejected", "mlp": "rejected"}


def test_the_issue_body_names_the_cell_change_point_verdict_and_trend_page():
    report = confirm.decide(track(change(), change("mlp")),
                            {(A, B): ab_report(verdict(), verdict("mlp", v="unchanged", ratio=1.01))})
    md = confirm.markdown(report, "https://o.github.io/r/{machine}/history.html")
    assert md.startswith("### :x: fwbench confirm on ci-runner x2: 1 confirmed, 1 rejected")
    head = md.split("| cell |")[0]
    assert "`single_layer batch=64 numpy/manual cpu` got +50.0% slower" in head and "mlp" not in head
    assert "run `run-07` (commit aaaaaaaaaa) and run `run-08` (commit bbbbbbbbbb)" in head
    assert "+50.0%, interval [+35.0%, +65.0%], p = 0.0001" in head
    assert "**regression**, +48.0% (99% CI [+46.0%, +50.0%], 36 pairs of blocks)" in head
    assert "https://o.github.io/r/ci-runner-x2/history.html" in head
    assert "| `mlp batch=64 numpy/manual cpu` |" in md and "rejected: ab: unchanged" in md
    assert confirm.markdown(confirm.decide(track(), {})).startswith(
        "### :white_check_mark: fwbench confirm on ci-runner x2: no new change points")


def test_ab_command_line_is_one_ab_of_the_cells(tmp_path):
    from types import SimpleNamespace
    from bench.cli import build_parser
    args = SimpleNamespace(profile="quick", threshold=7.5, threads=1)
    argv = confirm.ab_argv(A, B, [change(), change("mlp", "torch/eager")], args, tmp_path)
    parsed = build_parser().parse_args(argv)
    assert (parsed.base_rev, parsed.new_rev, parsed.tasks, parsed.impls, parsed.devices) == (
        A, B, ["single_layer", "mlp"], ["numpy/manual", "torch/eager"], ["cpu"])
    assert (parsed.threshold, parsed.threads, parsed.json) == (7.5, 1, str(tmp_path / "ab.json"))


def fwbench(*args):
    from synth import fwbench as inproc
    return inproc(*args)


def test_confirm_cli_exit_codes_and_outputs(tmp_path, monkeypatch):
    """The command end to end with a fake ab: 1 on a confirmed regression, 0 otherwise, the issue body written."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    seen = []
    monkeypatch.setattr(confirm, "run_ab", lambda argv: seen.append(argv) or ab_report(verdict()))
    path = tmp_path / "track.json"
    path.write_text(json.dumps(track(change(before=head, after=head), change("mlp", before=head + "^{}", after=head))))
    code, out, err = fwbench("confirm", path, "--markdown", tmp_path / "issue.md", "--json", tmp_path / "c.json",
                             "--out-dir", tmp_path / "ab")
    assert code == 0, err                             # the ab of the mlp cell says single_layer regressed, not mlp
    assert len(seen) == 1 and seen[0][seen[0].index("--tasks") + 1] == "mlp"
    assert json.loads((tmp_path / "c.json").read_text())["counts"] == {"inconclusive": 1, "same commit": 1}
    monkeypatch.setattr(confirm, "run_ab", lambda argv: ab_report(verdict("mlp")))
    code, out, err = fwbench("confirm", path, "--markdown", tmp_path / "issue.md", "--out-dir", tmp_path / "ab")
    assert code == 1 and "1 confirmed" in out and "got +50.0% slower" in (tmp_path / "issue.md").read_text()


@pytest.mark.parametrize("content, needle", [
    ("not json", "cannot read it as JSON"), ('{"kind": "ab", "cells": []}', "not a track report"),
    (json.dumps(track(change(before=None))), "has no git commit on both sides"),
    (json.dumps(track(change(before="0" * 40))), "not in this clone"),
    (json.dumps(track({"cell": "x", "new": True})), "a change lacks task")])
def test_confirm_bad_input_is_one_line_and_exit_2(tmp_path, content, needle):
    (tmp_path / "t.json").write_text(content)
    code, out, err = fwbench("confirm", tmp_path / "t.json")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def fake_ab(slow_at, n_commits, undecided=()):
    """measure(base, new, attempt) over commits c0..c{n-1} after 'good': commit `slow_at` adds a slowdown;
    steps whose new commit is in `undecided` answer inconclusive on their first attempt(s)."""
    index = lambda rev: -1 if rev == "good" else int(rev[1:])
    calls = []

    def measure(base, new, attempt):
        calls.append((base, new, attempt))
        if undecided.count(new) > attempt:
            return "inconclusive"
        slow = lambda rev: slow_at is not None and index(rev) >= slow_at
        return "regression" if slow(new) and not slow(base) else "unchanged"
    return [f"c{i}" for i in range(n_commits)], measure, calls


@pytest.mark.parametrize("n, j", [(10, 6), (10, 0), (10, 9), (1, 0), (2, 1), (7, 3), (16, 5)])
def test_bisect_names_the_commit_that_added_the_slowdown(n, j):
    commits, measure, calls = fake_ab(j, n)
    result = bisect.search("good", commits, measure)
    assert (result["status"], result["first_bad"]) == ("found", f"c{j}")
    assert len(calls) <= 1 + max(1, n - 1).bit_length()          # a binary search, after the check of BAD
    assert calls[0] == ("good", f"c{n - 1}", 0)
    index = lambda rev: -1 if rev == "good" else int(rev[1:])
    assert [s["outcome"] for s in result["steps"]] == ["bad" if index(b) < j <= index(c) else "good" for b, c, _ in calls]


def test_bisect_steps_compare_the_newest_good_commit_with_the_middle():
    commits, measure, calls = fake_ab(6, 10)
    bisect.search("good", commits, measure)
    assert calls == [("good", "c9", 0), ("good", "c4", 0), ("c4", "c6", 0), ("c4", "c5", 0)]


def test_bisect_when_ab_never_sees_it_or_stays_undecided():
    commits, measure, calls = fake_ab(None, 8)
    result = bisect.search("good", commits, measure)
    assert (result["status"], result["first_bad"], len(calls)) == ("not reproduced", None, 1)
    commits, measure, calls = fake_ab(6, 10, undecided=("c6",))        # undecided once: the retry decides
    result = bisect.search("good", commits, measure)
    assert result["first_bad"] == "c6" and ("c4", "c6", 1) in calls
    commits, measure, calls = fake_ab(6, 10, undecided=("c6", "c6"))   # twice: stop, c5..c9 still suspect
    result = bisect.search("good", commits, measure)
    assert (result["status"], result["suspects"]) == ("stopped", ["c5", "c6", "c7", "c8", "c9"])
    assert [s["outcome"] for s in result["steps"]][-2:] == ["undecided", "undecided"]
    assert bisect.search("good", [], measure)["status"] == "empty"


def test_bisect_outcome_of_a_verdict():
    assert [bisect.outcome(v) for v in ("regression", "unchanged", "improvement", "inconclusive", "failed in new")] \
        == ["bad", "good", "good", "undecided", "undecided"]


def test_bisect_bad_input_exit_2():
    code, out, err = fwbench("bisect", "HEAD", "HEAD", "--tasks", "mlp", "--impls", "numpy/manual")
    assert code == 2 and "no commits in HEAD..HEAD" in err
    code, out, err = fwbench("bisect", "no-such-rev", "HEAD", "--tasks", "mlp", "--impls", "numpy/manual")
    assert code == 2 and "no-such-rev: not a commit" in err


def git_history(path, n):
    """A git repository at `path` with a base commit and `n` commits on top (one merge among them when n >= 3)."""
    run = lambda *a: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=path, check=True,
                                    capture_output=True, text=True).stdout.strip()
    run("init", "-q", "-b", "main")
    for i in range(n + 1):
        if i == 2 and n >= 3:                     # commit 2 merges a side branch of two commits
            run("checkout", "-q", "-b", "side")
            for k in range(2):
                (path / f"side{k}").write_text("x")
                run("add", "-A")
                run("commit", "-qm", f"side {k}")
            run("checkout", "-q", "main")
            run("merge", "-q", "--no-ff", "side", "-m", f"commit {i}")
            continue
        (path / "f").write_text(str(i))
        run("add", "-A")
        run("commit", "-qm", f"commit {i}")
    return [run("rev-parse", f"HEAD~{k}") for k in range(n, -1, -1)]    # base first


def test_bisect_candidates_are_the_first_parent_commits_after_good(tmp_path):
    shas = git_history(tmp_path, 4)
    good, commits = bisect.candidates(shas[0][:8], "main", tmp_path)
    assert good == shas[0] and [c for c, _ in commits] == shas[1:]          # the side branch's commits are not
    assert [s for _, s in commits] == ["commit 1", "commit 2", "commit 3", "commit 4"]


def test_bisect_cli_prints_each_step_and_the_first_bad_commit(monkeypatch, tmp_path):
    commits, measure, calls = fake_ab(2, 5)
    monkeypatch.setattr(bisect, "candidates", lambda good, bad, root: ("good", [(c, f"subject of {c}") for c in commits]))
    monkeypatch.setattr(bisect, "ab_measure", lambda args, out: lambda b, n, a: (measure(b, n, a), "detail"))
    code, out, err = fwbench("bisect", "v1", "v2", "--tasks", "mlp", "--impls", "numpy/manual", "--json", tmp_path / "b.json")
    assert code == 0, err
    assert "first bad commit: c2 subject of c2" in out
    assert out.count("  step ") == len(calls) and "step good -> c4 'subject of c4': regression => bad  [detail]" in out
    assert json.loads((tmp_path / "b.json").read_text())["first_bad"] == "c2"
    commits, measure, calls = fake_ab(None, 5)
    code, out, err = fwbench("bisect", "v1", "v2", "--tasks", "mlp", "--impls", "numpy/manual")
    assert code == 1 and "v2 is not slower than v1 at 5%: nothing to bisect" in out
