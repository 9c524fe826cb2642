"""Benchmarks: each module generates its own data at the stated scale and prints figures."""
