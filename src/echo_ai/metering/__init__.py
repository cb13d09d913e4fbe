"""What workspaces use and spend, per calendar month: the counters quotas, budgets and cost
reports read (state layer, below the use cases and beside :mod:`echo_ai.runs`)."""
