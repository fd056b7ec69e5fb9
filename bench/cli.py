"""fwbench: time the same deep-learning tasks in several frameworks, check that their gradients agree, and report.

The command line (= `python -m bench`): one subcommand per module, each with `add_arguments` and `run`; the
argparse types they share are in bench.options, so no lower layer imports this module.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from bench.errors import UsageError
from bench.options import csv_list  # noqa: F401  (where subcommands' option types live)

# subcommand -> (module, one-line help)
COMMANDS = {
    "list": ("bench.cli", "list tasks and implementations, and which cells can run here"),
    "gradcheck": ("bench.gradcheck", "prove every implementation's gradients agree with a float64 reference"),
    "examples": ("bench.examples", "the slides' worked examples, computed by every implementation"),
    "run": ("bench.run.runner", "time the cells (isolated workers, interleaved blocks) into a results file"),
    "verify": ("bench.run.verify", "check the harness against fresh-process referees (plain loop, framework timer)"),
    "report": ("bench.report.render", "render results files into an HTML report plus Markdown, LaTeX and CSV"),
    "compare": ("bench.gate.compare", "compare two results files taken at different times (regression gate)"),
    "ab": ("bench.gate.ab", "A/B the same cells in two environments, blocks interleaved (regression gate)"),
    "history": ("bench.gate.history", "a trend page across results files"),
    "export": ("bench.gate.export", "export results for CI dashboards (github-action-benchmark)"),
    "publish": ("bench.gate.publish", "a static site of many runs on many machines: index, latest reports, trends, files"),
    "track": ("bench.gate.track", "change points of every cell over one machine's history (Apache Otava)"),
    "confirm": ("bench.gate.confirm", "A/B the commits around each new change point of `fwbench track` (alert on confirmed)"),
    "bisect": ("bench.gate.bisect", "the first commit between GOOD and BAD that made cells slower (ab per step)"),
}


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def add_arguments(p):
    p.add_argument("--devices", type=csv_list(("cpu", "gpu")), default=["cpu", "gpu"])


def run(args) -> int:
    from bench import api, registry
    for task in api.tasks():
        print(task)
        undone = {}                      # reason: the implementations whose folder declares it does not do the task
        for impl in api.impls(task):
            if registry.task_skip_reason(impl, task):
                undone.setdefault(registry.task_skip_reason(impl, task), []).append(impl)
                continue
            cells = []
            for device in args.devices:
                reason = api.skip_reason(impl, device, task)
                cells.append(f"{device}: {'ok' if reason is None else 'skip (' + reason + ')'}")
            print(f"  {impl:<22} " + "; ".join(cells))
        for reason, impls in undone.items():
            print(f"  not done by {', '.join(impls)}: {reason}")
    return 0


def build_parser() -> Parser:
    from bench import registry
    folders = ", ".join(dict.fromkeys(decl["folder"] for decl in registry.FRAMEWORKS.values()))
    parser = Parser(prog="fwbench", description=f"{__doc__.splitlines()[0]} Frameworks (implementations/): {folders}.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue          # a subcommand whose module is not written yet
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_module"):
        parser.error(f"'{args.command}' is not available in this version")
    try:
        return int(args._module.run(args) or 0)
    except (UsageError, ValueError) as e:
        sys.stderr.write(f"fwbench {args.command}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"fwbench {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
