"""Call a candidate by keyword when it cannot be called by position.

A convention hands its arguments by position (``f(mean, logvar)``). Code
written as ``def kl(*, mu, logvar)`` refuses that, so when the candidate's
signature cannot take the convention's arguments by position, each of its
parameters is matched by name (case-insensitively) to a convention argument
through :data:`ALIASES`, and the candidate is called by keyword.

Accepted names, for the argument ``mean`` and the scales:

========  =================================================================
mean      mean, mu, loc, m, z_mean, means
std       std, sigma, scale, sd, stddev, std_dev
var       var, variance, sigma2, sigma_sq, sigma_squared
logvar    logvar, log_var, logvariance, log_variance, lv, z_log_var,
          log_sigma2, log_sigma_sq
logstd    logstd, log_std, log_sigma, logsigma, log_scale, logscale
cov       cov, covariance, sigma, cov_matrix
========  =================================================================

With p and q (``pair-*``, ``diag-pair-*``, ``mvn``), each name takes one of
the forms ``NAME_p``/``NAME_q``, ``NAME1``/``NAME2``, ``NAME_1``/``NAME_2``
or ``p_NAME``/``q_NAME`` (``mu_p``, ``logvar2``, ``q_log_var``...).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mcverify.auditing.conventions import Convention
from mcverify.errors import AuditError

__all__ = ["ALIASES", "accepted_names", "by_keyword"]

#: Names a candidate's parameter may have, per convention argument (without the p/q suffix).
ALIASES: dict[str, tuple[str, ...]] = {
    "mean": ("mean", "mu", "loc", "m", "z_mean", "means"),
    "std": ("std", "sigma", "scale", "sd", "stddev", "std_dev"),
    "var": ("var", "variance", "sigma2", "sigma_sq", "sigma_squared"),
    "logvar": (
        "logvar",
        "log_var",
        "logvariance",
        "log_variance",
        "lv",
        "z_log_var",
        "log_sigma2",
        "log_sigma_sq",
    ),
    "logstd": ("logstd", "log_std", "log_sigma", "logsigma", "log_scale", "logscale"),
    "cov": ("cov", "covariance", "sigma", "cov_matrix"),
}

_SIDES = {"p": ("{}_p", "{}1", "{}_1", "p_{}"), "q": ("{}_q", "{}2", "{}_2", "q_{}")}


def accepted_names(convention: Convention) -> dict[str, tuple[str, ...]]:
    """Convention argument -> the parameter names that receive it."""
    out: dict[str, tuple[str, ...]] = {}
    for param in convention.params:
        base, _, side = param.rpartition("_") if convention.has_q else (param, "", "")
        aliases = ALIASES[base]
        if side:
            out[param] = tuple(form.format(a) for form in _SIDES[side] for a in aliases)
        else:
            out[param] = aliases
    return out


def by_keyword(func: Callable[..., Any], convention: Convention) -> tuple[Callable[..., Any], str]:
    """``func`` itself when it takes the convention's arguments by position, else a caller by keyword.

    Returns
    -------
    callable, str
        The function to call positionally, and a note (empty when ``func``
        is returned unchanged) such as ``"called by keyword: mu=mean,
        logvar=logvar"``.

    Raises
    ------
    AuditError
        When the candidate has required keyword-only parameters and one of
        them matches no convention argument, or an argument has no
        parameter: the message lists the accepted names.
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature: call as given
        return func, ""
    try:
        sig.bind(*range(len(convention.params)))
        return func, ""
    except TypeError:
        pass
    params = [p for p in sig.parameters.values() if p.kind not in (inspect.Parameter.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not any(p.kind == p.KEYWORD_ONLY and p.default is p.empty for p in params):
        return func, ""  # not a keyword-only signature: the calls will say what is wrong
    names = accepted_names(convention)
    lookup = {alias.lower(): arg for arg, aliases in names.items() for alias in aliases}
    target = getattr(func, "__name__", type(func).__name__)
    chosen: dict[str, str] = {}  # convention argument -> parameter name
    for p in params:
        arg = lookup.get(p.name.lower())
        if arg is None or p.kind == p.POSITIONAL_ONLY:
            if p.default is p.empty:
                raise AuditError(
                    f"{target}{sig}: parameter {p.name!r} matches no argument of convention {convention.name}; "
                    + _names_text(names)
                )
            continue
        if arg in chosen:
            raise AuditError(f"{target}{sig}: both {chosen[arg]!r} and {p.name!r} name {arg}")
        chosen[arg] = p.name
    missing = [a for a in convention.params if a not in chosen]
    if missing:
        raise AuditError(f"{target}{sig}: no parameter receives {', '.join(missing)}; " + _names_text(names))
    order = [chosen[a] for a in convention.params]

    def call_by_keyword(*args: Any) -> Any:
        return func(**dict(zip(order, args)))

    call_by_keyword.__name__ = target
    note = "called by keyword: " + ", ".join(f"{chosen[a]}={a}" for a in convention.params)
    return call_by_keyword, note


def _names_text(names: dict[str, tuple[str, ...]]) -> str:
    return "accepted names: " + "; ".join(f"{arg}: {', '.join(al[:6])}..." for arg, al in names.items())
