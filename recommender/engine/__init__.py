"""The engine: policy validation, compilation to matchers, and exact evaluation.

Everything here works on the frozen model (``recommender.model``) and on
tabular flows (DuckDB relations, pandas frames); nothing imports typer or rich.
"""
