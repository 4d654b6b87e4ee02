"""Benchmarks of labkit's bring-up against kind on the same node image (`bench/run.py`)."""
