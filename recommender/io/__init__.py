"""Readers and writers: flow exports, inventories and policies in; YAML out.

Nothing in this package imports typer or rich: progress is reported through
plain callbacks so that the library stays usable from notebooks and CI.
"""
