"""KL(p || q) by numerical integration: scipy's quad, whitening, Gauss-Kronrod panels.

Layer rule: imports :mod:`mcverify.numerics` only; no I/O.  Never calls the
closed form: integration is an independent check.
"""
