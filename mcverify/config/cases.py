"""Cases: one Gaussian pair to verify, and the run they belong to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mcverify.numerics.gaussian import Gaussian

__all__ = ["Case", "RunSpec"]

Direction = Literal["forward", "reverse"]


@dataclass(frozen=True)
class Case:
    """One KL(p || q) computation of a run.

    Attributes
    ----------
    index : int
        Position in the run, from 0; the case's random seed derives from it.
    name : str
        Unique label: the pair or sweep name, the swept values in brackets
        (``"std-grid[p.std=0.01]"``) and ``"/reverse"`` for the reverse
        direction of a pair that asked for both.
    group : str
        The ``[[pair]]`` or ``[[sweep]]`` name the case comes from.
    p, q : Gaussian
        The case computes KL(p || q). For ``direction="reverse"`` they are
        already swapped with respect to the config entry.
    direction : {"forward", "reverse"}
        Whether this is the direction written in the config or its reverse.
    params : tuple of (str, float)
        The swept values of this case, keyed by their path (``"p.std"``,
        ``"q.mean[1]"``, ``"draw"``), in the sweep's order. Empty for pairs.
    """

    index: int
    name: str
    group: str
    p: Gaussian
    q: Gaussian
    direction: Direction = "forward"
    params: tuple[tuple[str, float], ...] = ()

    @property
    def dim(self) -> int:
        """Dimension of the pair."""
        return self.p.dim


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs, read from a config file.

    Attributes
    ----------
    source : str
        Path of the config file.
    config_hash : str
        SHA-256 of the config file's bytes.
    samples : int
        Monte Carlo samples per case.
    seed : int
        Root seed; case ``i`` draws from ``SeedSequence(seed, spawn_key=(i, 0))``.
    confidence : float
        Confidence level of the Monte Carlo intervals.
    alpha : float
        Significance level of the run's verdicts: family-wise for Holm,
        the false discovery rate for Benjamini-Hochberg.
    cases : sequence of Case
        The cases, in their stable order: a lazy
        :class:`~mcverify.config.case_list.CaseList` (cases built on demand) from
        the config loader, or any sequence, such as a tuple.
    method : {"mc", "antithetic", "qmc"}
        The sampling estimator (see :mod:`mcverify.sampling.estimators`).
    error_control : {"holm", "bh"}
        How the run's Monte Carlo verdicts are corrected for the number of
        cases (:func:`mcverify.stats.verdicts.adjust_p_values`).
    randomizations : int
        Independent scramblings for ``method = "qmc"``.
    estimators : tuple of str
        Extra estimators to report (``"k1"``, ``"k2"``, ``"k3"``; see
        :mod:`mcverify.sampling.ratio_estimators`), empty by default.
    """

    source: str
    config_hash: str
    samples: int
    seed: int
    confidence: float
    alpha: float
    cases: Sequence[Case] = field(repr=False)
    method: str = "mc"
    error_control: str = "holm"
    randomizations: int = 64
    estimators: tuple[str, ...] = ()
