"""The numerics: Gaussians, the closed-form KL and the stable kernels they share.

Layer rule: imports numpy, scipy and :mod:`mcverify.errors` only; no I/O, no
pandas, nothing else of mcverify.
"""
