"""The ``mcverify`` command line: one module per subcommand family over :mod:`mcverify.cli.options`.

:mod:`~mcverify.cli.run` (``run``), :mod:`~mcverify.cli.audit` (``audit``),
:mod:`~mcverify.cli.studies` (``calibrate``, ``converge``),
:mod:`~mcverify.cli.report` (``report``, ``validate``), :mod:`~mcverify.cli.init`
(``init``); :mod:`~mcverify.cli.main`
assembles them and holds :func:`~mcverify.cli.main.main`.

Layer rule: the top of the package; may import every layer below it and is
imported by none. The only layer that reads argv, prints to the terminal and
chooses exit codes.
Its parsers are built from light modules (no numpy), so that help and usage
errors are quick; the function that runs a command imports its implementation.
"""
