"""Use cases: each one opens a unit of work, drives the domain, and commits once."""
