"""One report from the audits of each kind of distribution object (``dist-pair``, ``dist-prior``).

A distribution-object convention is audited kind by kind (univariate,
diagonal, full), each on the probes of a numeric convention
(:mod:`mcverify.auditing.distributions`). :func:`combine` joins those reports:
the verdict is over the kinds the candidate supports, and
:attr:`AuditReport.kinds` says which those are. No computation beyond
bookkeeping.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from mcverify.auditing.distributions import ObjectConvention
from mcverify.auditing.report import AuditReport
from mcverify.errors import AuditError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["combine"]


def combine(
    convention: ObjectConvention,
    backend: str,
    name: str,
    parts: dict[str, AuditReport | str],
    objects: dict[str, str],
) -> AuditReport:
    """Join the per-kind reports of one candidate into the report of ``convention``.

    Parameters
    ----------
    convention : ObjectConvention
    backend, name : str
        As in the report.
    parts : dict
        Kind name -> its report, or why it is unsupported (the first
        exception of a kind on which every call raised).
    objects : dict
        Kind name -> the objects the candidate received and their probes (for the notes).

    Returns
    -------
    AuditReport
        ``verdict`` "pass" when every supported kind passes; ``kinds`` maps
        each kind to "pass", "fail" or "unsupported"; the probe table gains a
        ``kind`` column and numbers the probes of all kinds in one sequence;
        problems, warnings and notes name their kind.

    Raises
    ------
    AuditError
        When the candidate supports no kind at all.
    """
    reports = {k: r for k, r in parts.items() if isinstance(r, AuditReport)}
    if not reports:
        why = "; ".join(f"{k} ({objects[k]}): {r}" for k, r in parts.items())
        raise AuditError(
            f"the candidate raised on every probe of every kind of object: {why}; "
            f"convention {convention.name} calls {convention.signature}"
        )
    kinds = {k: (r.verdict if isinstance(r, AuditReport) else "unsupported") for k, r in parts.items()}
    failing = [k for k, r in reports.items() if not r.passed]
    tables, evidence, regions = [], [], []
    offset = 0
    for k, r in reports.items():
        table = r.table.copy()
        table.insert(1, "kind", k)
        table["probe"] = table["probe"] + offset
        tables.append(table)
        evidence += [
            replace(e, probe=None if e.probe is None else e.probe + offset, label=f"{k}: {e.label}") for e in r.evidence
        ]
        regions += r.regions
        offset += len(r.table)
    properties: dict[str, int] = {}
    for r in reports.values():
        for key, n in r.properties.items():
            properties[key] = properties.get(key, 0) + int(n)
    calls = {r.calls for r in reports.values()}
    notes = ["objects: " + "; ".join(f"{k} {objects[k]}" for k in parts)]
    notes += [f"{k} objects unsupported: every call raised ({r})" for k, r in parts.items() if isinstance(r, str)]
    for k, r in reports.items():
        notes += [f"{k}: {x}" for x in r.notes]
    first = next(iter(reports.values()))
    # The gradient and dtype parts shown are those of the first kind that fails them (else the first kind's).
    grad = next((r for r in reports.values() if r.gradient_verdict == "fail"), first)
    prec = next((r for r in reports.values() if r.precision_verdict == "fail"), first)
    domain: dict[str, tuple[float, float]] = {}
    for r in reports.values():
        for key, (lo, hi) in r.domain.items():
            old = domain.get(key, (lo, hi))
            domain[key] = (min(old[0], lo), max(old[1], hi))
    return AuditReport(
        "fail" if failing else "pass",
        convention.name,
        backend,
        name,
        reports[failing[0]].diagnoses if failing else [],
        [f"{k}: {p}" for k in failing for p in reports[k].problems],
        [f"{k}: {w}" for k, r in reports.items() for w in r.warnings],
        regions,
        evidence,
        partial(_combined_table, tables, first.table),  # picklable: the command line's sandbox sends it
        properties,
        calls.pop() if len(calls) == 1 else "mixed",
        notes,
        first.samples,
        first.seed,
        domain=domain,
        diagnosis_details=reports[failing[0]].diagnosis_details if failing else [],
        gradient=grad.gradient,
        precision=prec.precision,
        dtype=first.dtype,
        kinds=kinds,
    )


def _combined_table(tables: list[pd.DataFrame], one: pd.DataFrame) -> pd.DataFrame:
    """The kinds' probe tables as one, parameters before results."""
    import pandas as pd  # the table is the only use; keep ``import mcverify`` light

    return _params_before_results(pd.concat(tables, ignore_index=True), one)


def _params_before_results(table: pd.DataFrame, one: pd.DataFrame) -> pd.DataFrame:
    """The columns of every kind's parameters between ``d`` and ``candidate``, as in one kind's table.

    ``pandas.concat`` appends the parameters of later kinds (``cov_p``) after
    the result columns; the report reads the parameters between the two.
    """
    columns = list(one.columns)
    results = columns[columns.index("candidate") :]
    head = ["probe", "kind", "group", "d"]
    params = [c for c in table.columns if c not in results and c not in head]
    return table[head + params + results]
