"""A workspace's own provider keys, encrypted at rest (state layer: the runner reads them
for the workspace's batches; :mod:`echo_ai.workspaces.provider_keys` is the use case)."""
