"""The ``mcverify`` command line: one module per subcommand family over :mod:`mcverify.cli.options`.

The only layer that reads argv, prints to the terminal and chooses exit codes.
"""
