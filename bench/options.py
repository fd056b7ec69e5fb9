"""argparse types the subcommands share (kept out of bench.cli, so that no lower layer imports the command line)."""
from __future__ import annotations

import argparse


def csv_list(valid):
    """An argparse type for a comma-separated subset of `valid`."""
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in valid]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"invalid choice {','.join(bad) or text!r} (choose from {', '.join(valid)})")
        return items
    return parse


def key_value(text: str) -> tuple[str, str]:
    """An argparse type for KEY=VALUE."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or any(c.isspace() for c in key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. OMP_WAIT_POLICY=PASSIVE), got {text!r}")
    return key, value
