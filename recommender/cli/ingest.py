"""`recommend ingest`: registered on the shared typer app (see recommender.cli)."""

from recommender.cli import app  # noqa: F401
