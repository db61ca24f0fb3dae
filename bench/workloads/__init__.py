"""Benchmark workloads for ``python -m bench`` (interface: see ``bench/harness.py``)."""
