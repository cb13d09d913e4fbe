"""``python -m echo_ai.cli`` runs the same command line as ``echo-ai``."""

from echo_ai.cli import app

app()
