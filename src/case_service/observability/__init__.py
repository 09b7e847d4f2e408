"""Metrics, logs and traces: what an operator sees of the running service."""
