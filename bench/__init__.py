"""Benchmarks: run outside the test suite (``make bench``), never imported by the product."""
