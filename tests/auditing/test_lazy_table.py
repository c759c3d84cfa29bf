"""auditing/report.py: the probe table of an audit is built (and pandas imported) only when asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import mcverify
    from mcverify.testing import assert_kl_correct

    def kl(mean, std):  # a correct prior-std KL, as users write it
        return 0.5 * (std**2 + mean**2 - 1.0 - np.log(std**2))

    assert_kl_correct(kl, "prior-std")
    report = mcverify.audit(kl, "prior-std")
    print("pandas" in sys.modules, report.passed)
    table = report.table
    print("pandas" in sys.modules, len(table) > 0, report.table is table, report.as_dict()["probes"] == len(table))
    """
)


def test_passing_audits_never_import_pandas_until_the_table_is_read():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["False True", "True True True True"]
