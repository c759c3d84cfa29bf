"""Studies over many runs: calibration of the intervals, convergence, the validation report.

Layer rule: composes the engine, the tables and the reports; never reads argv.
"""
