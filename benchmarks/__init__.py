"""Reference programs `payerbot bench` measures payerbot against (see docs/benchmarks.md)."""
