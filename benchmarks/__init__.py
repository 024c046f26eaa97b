"""scinterp's benchmarks, a package: run each as ``python -m benchmarks.<name>`` from the
repository root (benchmarks/README.md lists them; ``harness`` measures and records,
``datasets`` makes every dataset they read)."""
