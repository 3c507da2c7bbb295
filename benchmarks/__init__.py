"""Hand-run performance benchmarks (never collected by the test suite); see README.md."""
