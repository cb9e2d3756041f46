"""Benchmarks: print figures about a live provider; never assert on time (DESIGN.md)."""
