"""The engine: evaluate a case or a block of cases, pools and executors, checkpoints, progress.

Layer rule: composes :mod:`mcverify.config`, :mod:`mcverify.tables`,
:mod:`mcverify.sampling`, :mod:`mcverify.quadrature`, :mod:`mcverify.stats`
and :mod:`mcverify.numerics`; knows nothing of argv.
"""
