"""The manual's generated pages: the CLI (bench.cli's argparse), the results file (bench/schema/*.json), the evidence.

mkdocs-gen-files runs this file at every `mkdocs build`, so neither page can drift from the code; nothing it writes
is committed. `python docs/_gen/reference.py OUT_DIR` writes the same pages without MkDocs.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))            # this checkout's bench, not an installed one


def _help(parser, name: str) -> str:
    """What `fwbench NAME --help` prints."""
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        parser.parse_args([name, "--help"])
    return out.getvalue()


def cli_page() -> str:
    """Every subcommand's --help, as argparse prints it at 100 columns."""
    os.environ["COLUMNS"] = "100"                         # argparse wraps to the terminal: fixed for the manual
    from bench import cli
    parser = cli.build_parser()
    lines = ["# The command line", "",
             "Generated from `bench/cli.py`'s argparse at every build of this manual: what `fwbench COMMAND --help`",
             "prints. Exit codes everywhere: 0 fine; 1 a cell failed, a gradient disagreed or a regression was found;",
             "2 bad usage or unreadable input (a one-line message); 130 interrupted.", "",
             "```text", parser.format_help().rstrip(), "```", ""]
    for name in cli.COMMANDS:
        lines += [f"## fwbench {name}", "", "```text", _help(parser, name).rstrip(), "```", ""]
    return "\n".join(lines)


def _type(node: dict) -> str:
    if "$ref" in node:
        return f"[{node['$ref'].split('/')[-1]}](#{node['$ref'].split('/')[-1]})"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    t = node.get("type", "any")
    return " or ".join(t) if isinstance(t, list) else t


def _rules(node: dict) -> str:
    """The constraints of a node besides its type, in words."""
    out = []
    for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("minLength", "length ≥"),
                      ("minItems", "items ≥"), ("maxItems", "items ≤")):
        if key in node:
            out.append(f"{word} {node[key]}")
    if "pattern" in node:
        out.append(f"matches `{node['pattern']}`")
    if isinstance(node.get("items"), dict) and node["items"]:
        out.append(f"items: {_type(node['items'])}")
    if isinstance(node.get("additionalProperties"), dict):
        out.append(f"values: {_type(node['additionalProperties'])} {_rules(node['additionalProperties'])}".strip())
    if "prefixItems" in node:
        out.append("items: " + ", ".join(_type(i) for i in node["prefixItems"]))
    return "; ".join(out)


def _rows(node: dict, prefix: str) -> list[str]:
    """One table row per property of `node`, nested objects flattened to dotted paths."""
    rows, required = [], set(node.get("required", ()))
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        rows.append(f"| `{path}` | {_type(sub)} | {'yes' if name in required else ''} | {_rules(sub)} |")
        rows += _rows(sub, path + ".")
    for name in sorted(required - set(node.get("properties", {}))):
        rows.append(f"| `{prefix}{name}` | any | yes | |")
    return rows


def schema_page() -> str:
    """The results file's fields, from every schema under bench/schema/."""
    lines = ["# The results file", "",
             "Generated from `bench/schema/` at every build of this manual. Every results file is checked against",
             "this schema when it is read (`bench.results.load`); writers may add fields, readers rely on these.",
             "`fwbench run` writes one (`--out`, default `runs/<run id>.json`), rewritten atomically as each cell",
             "finishes; `fwbench report`, `compare`, `history`, `publish` and `export` read them.", ""]
    for path in sorted((ROOT / "bench" / "schema").glob("*.json")):
        schema = json.loads(path.read_text())
        head = "| field | type | required | constraints |\n|---|---|---|---|"
        lines += [f"## {schema.get('title', path.stem)}", "", f"`bench/schema/{path.name}`. "
                  + schema.get("description", ""), "", head, *_rows(schema, ""), ""]
        for name, node in schema.get("$defs", {}).items():
            lines += [f"### {name}", "", f"Type {_type(node)}. {_rules(node)}".strip(), ""]
            rows = _rows(node, "")
            if rows:
                lines += [head, *rows, ""]
            for cond in node.get("allOf", ()):
                if "if" in cond:
                    lines += [f"- when `{json.dumps(cond['if']['properties'])}`: "
                              f"`{json.dumps(cond['then']['properties'])}`"]
            lines.append("")
    return "\n".join(lines)


def evidence_page() -> str:
    """reports/evidence/README.md, the index of the evidence files, as a page of the manual."""
    return (ROOT / "reports" / "evidence" / "README.md").read_text()


PAGES = {"reference/cli.md": cli_page, "reference/results-file.md": schema_page, "evidence.md": evidence_page}

if __name__ == "__main__" and len(sys.argv) == 2:
    for name, page in PAGES.items():
        (Path(sys.argv[1]) / name).parent.mkdir(parents=True, exist_ok=True)
        (Path(sys.argv[1]) / name).write_text(page())
else:
    import mkdocs_gen_files
    for name, page in PAGES.items():
        with mkdocs_gen_files.open(name, "w") as f:
            f.write(page())
