"""The optional dependencies: which extra brings which library, and the one error that names it.

``pip install 'mcverify[EXTRA]'`` installs what a format, a plot, a backend
or a cluster needs; :func:`require_extra` checks for it before any work and
raises an error that says what to install.

Layer rule: a foundation module; imports nothing of mcverify.
"""

from __future__ import annotations

__all__ = ["EXTRAS", "MissingExtraError", "require_extra"]

#: Extra -> (the module it installs, that module as messages name it).
EXTRAS: dict[str, tuple[str, str]] = {
    "parquet": ("pyarrow", "pyarrow"),
    "markdown": ("tabulate", "tabulate"),
    "latex": ("jinja2", "jinja2"),
    "plots": ("matplotlib", "matplotlib"),
    "dask": ("distributed", "dask.distributed"),
    "torch": ("torch", "PyTorch"),
    "jax": ("jax", "JAX"),
    "tensorflow": ("tensorflow", "TensorFlow"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed."""


def require_extra(extra: str, what: str | None = None, error: type[ImportError] = MissingExtraError) -> None:
    """Import the module behind ``extra`` or raise ``error`` naming the extra to install.

    Parameters
    ----------
    extra : str
        A key of :data:`EXTRAS` (the package's optional dependencies).
    what : str, optional
        What needs it, for the message (default: the extra's name).
    error : type, optional
        The exception to raise (a subclass of ImportError).
    """
    module, shown = EXTRAS[extra]
    try:
        __import__(module)
    except ImportError:
        raise error(f"{what or extra} needs {shown}: pip install 'mcverify[{extra}]'") from None
