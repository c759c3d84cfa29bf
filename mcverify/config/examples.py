"""The example configs shipped inside the package, as ``mcverify init`` writes them.

The files live in ``mcverify/config/examples/`` (package data, so a wheel
carries them); the repository's ``configs/`` folder is a link to that folder,
so there is one copy of each.  :data:`EXAMPLES` names them by their stem:
``example``, ``classic-std``, ``extreme`` and ``mean-std-grid`` are the
verification configs, ``calibration``, ``converge`` and ``false-alarms`` the
study configs (``studies/`` in the repository).
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["DEFAULT_EXAMPLES", "EXAMPLES", "example_text"]

#: Example name -> the file's path inside the package's ``config/examples`` folder.
EXAMPLES: dict[str, str] = {
    "example": "example.toml",
    "classic-std": "classic-std.toml",
    "extreme": "extreme.toml",
    "mean-std-grid": "mean-std-grid.toml",
    "calibration": "studies/calibration.toml",
    "converge": "studies/converge.toml",
    "false-alarms": "studies/false-alarms.toml",
}

#: What ``mcverify init`` writes without a name: the verification configs.
DEFAULT_EXAMPLES: tuple[str, ...] = ("example", "classic-std", "extreme", "mean-std-grid")


def example_text(name: str) -> str:
    """The text of the shipped example config ``name`` (a key of :data:`EXAMPLES`).

    Raises
    ------
    ValueError
        ``name`` is not a shipped example (the message lists those that are).
    """
    if name not in EXAMPLES:
        raise ValueError(f"no example config named {name!r}; choose one of: {', '.join(EXAMPLES)}")
    return files("mcverify.config").joinpath("examples", *EXAMPLES[name].split("/")).read_text(encoding="utf-8")
