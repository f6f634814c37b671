"""Flyte-like model objects: literal types, filters, sorting, executions and signals."""
