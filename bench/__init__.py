"""Kiro2API benchmarks (`make bench`, i.e. `python -m bench [--quick]`).

Every benchmark reports its own numbers next to a *floor* measured in the same run on the
same machine (the least work any implementation must do for that input), so results read as
ratios rather than absolute speeds. `bench/__main__.py` holds the registry; shared timing and
table code is in `bench/_harness.py`.
"""
