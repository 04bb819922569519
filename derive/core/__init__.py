"""The engine: graph, chain-rule steps, numbers, and the registries of operations."""
