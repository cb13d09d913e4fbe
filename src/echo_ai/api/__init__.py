"""The HTTP service: app state, shared dependencies, errors and middleware."""
