"""The ``echo-ai`` command line."""

from echo_ai.cli.main import app

__all__ = ["app"]
