"""The performance benchmark: the machine's ceiling, offline throughput against the
baselines users would otherwise run, and the HTTP service under load; one command writes
benchmarks/performance.md (`conflict-tagger benchmark-performance`)."""
