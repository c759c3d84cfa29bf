"""Statistics of the checks: intervals and z-tests, power, verdicts and error control.

Layer rule: imports numpy and scipy only; no I/O.
"""
