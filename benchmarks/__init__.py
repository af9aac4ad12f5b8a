"""Benchmarks at tiny, council and national scale: ``python -m benchmarks.run`` (see RESULTS.md)."""
