"""Offline tooling: base encoders, benchmarks and the reference experiments."""
