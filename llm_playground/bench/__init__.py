"""Benchmarks: ours and the reference, in one process, on the same input, printing the ratio.

Speed is measured here, never asserted in tests. One module per capability (`tokenize`, …);
`llmpg bench <name>` runs them.
"""
