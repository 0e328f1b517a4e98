"""Benchmarks: ``python -m benchmarks.<name>``; ``make bench`` runs them all (scripts/bench.py).

Tooling, not product: no product package imports this one.
"""
