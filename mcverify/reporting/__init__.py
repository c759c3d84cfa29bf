"""Reports of results tables: summaries, documents (Markdown, LaTeX, HTML) and plots.

Layer rule: imports :mod:`mcverify.tables` (and :mod:`mcverify.stats`); never
the engine or the CLI.
"""
