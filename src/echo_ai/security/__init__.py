"""Security primitives: pure functions with no database and no HTTP framework code.

Kept framework-free so the accounts service, the FastAPI dependencies and the CLI can
share one audited implementation, and so each piece can be property-tested alone.
"""
