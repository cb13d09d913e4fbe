"""Import every model so the metadata is complete (Alembic, test set-up)."""

from echo_ai.db import Base
from echo_ai.experiments.models import Experiment
from echo_ai.runs.models import BatchRun, Iteration

__all__ = ["Base", "BatchRun", "Experiment", "Iteration"]
