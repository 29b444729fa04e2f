"""`make bench`: measured figures of the whole system beside their baselines, written to benchmarks/RESULTS.md.

Each benchmark is a module with `run(ctx: BenchContext) -> list[Figure]` registered in `benchmarks.suite`.
`--smoke` runs every benchmark tiny and fast: CI checks that they still work, never how fast they are.
"""
