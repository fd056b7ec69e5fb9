"""Rendering results files: the report command, its sections, shared helpers, plots, the data frame and templates."""
