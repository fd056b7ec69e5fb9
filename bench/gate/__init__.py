"""Regressions and publishing over results files: compare, A/B, verdict rules, shift, history, export, publish."""
