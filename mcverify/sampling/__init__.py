"""Sample-based estimates of KL(p || q): Monte Carlo, antithetic, randomised QMC, k1-k3.

Layer rule: imports :mod:`mcverify.numerics` and :mod:`mcverify.stats` (for
intervals); pure functions over arrays, no I/O.  The Monte Carlo path never
calls the closed form.
"""
