import math

import numpy as np
import pytest

from mcverify.stats.verdicts import adjust_p_values, apply_verdicts, two_sided_p


def test_two_sided_p():
    np.testing.assert_allclose(
        two_sided_p(np.array([0.0, 1.959963984540054, -3.0])), [1.0, 0.05, 0.0026997960632601866], rtol=1e-12
    )


def test_holm_matches_textbook_example():
    # Holm (1979) step-down on four p-values, computed by hand:
    # sorted 0.01, 0.02, 0.03, 0.04 -> 4*0.01, max(0.04, 3*0.02), max(.., 2*0.03), max(.., 0.04)
    adj = adjust_p_values([0.03, 0.01, 0.04, 0.02], "holm")
    np.testing.assert_allclose(adj, [0.06, 0.04, 0.06, 0.06])


def test_bh_matches_textbook_example():
    # BH: sorted p * m / rank = 0.04, 0.04, 0.04, 0.04, then cumulative minimum from the top.
    adj = adjust_p_values([0.03, 0.01, 0.04, 0.02], "bh")
    np.testing.assert_allclose(adj, [0.04, 0.04, 0.04, 0.04])
    np.testing.assert_allclose(adjust_p_values([0.001, 0.5, 0.02], "bh"), [0.003, 0.5, 0.03])


def test_nan_ignored_and_capped():
    adj = adjust_p_values([np.nan, 0.6, 0.7], "holm")
    assert math.isnan(adj[0]) and adj[1] == 1.0 and adj[2] == 1.0
    with pytest.raises(ValueError, match="unknown error control"):
        adjust_p_values([0.1], "bonferroni")  # type: ignore[arg-type]


def _row(**kw):
    row = dict(
        kl_closed=1.0,
        mc_z=0.5,
        p_kind="univariate",
        q_kind="univariate",
        kl_quad=1.0,
        quad_error=1e-14,
        quad_reliable=True,
        quad_message="",
        kl_quad_direct=math.nan,
        quad_direct_error=math.nan,
        quad_direct_reliable=None,
    )
    row.update(kw)
    return row


def test_verdicts():
    rows = apply_verdicts(
        [
            _row(),
            _row(mc_z=8.0),
            _row(kl_quad=1.0 + 1e-9),
            _row(kl_closed=-0.1, kl_quad=-0.1),
            _row(quad_reliable=False, quad_message="roundoff", quad_error=1e-8, kl_quad=1.0 + 1e-9),
            _row(kl_quad_direct=1.5, quad_direct_error=1e-10, quad_direct_reliable=True),
        ],
        alpha=0.01,
    )
    verdicts = [r["verdict"] for r in rows]
    assert verdicts == ["pass", "fail", "fail", "fail", "pass", "fail"]
    assert "Monte Carlo disagrees" in rows[1]["reason"]
    assert "quadrature differs" in rows[2]["reason"]
    assert "closed form is -0.1" in rows[3]["reason"]
    assert rows[4]["reason"] == "quadrature unreliable (roundoff)"
    assert "direct quadrature differs" in rows[5]["reason"]
    assert rows[0]["reason"] == ""


def test_holm_tolerates_what_a_per_case_test_would_flag():
    # z = 3 is p = 0.0027 < 0.01 alone, but not among 100 cases under Holm.
    rows = apply_verdicts([_row(mc_z=3.0)] + [_row() for _ in range(99)], alpha=0.01)
    assert rows[0]["verdict"] == "pass"
    rows = apply_verdicts([_row(mc_z=3.0)], alpha=0.01)
    assert rows[0]["verdict"] == "fail"


def test_power_and_error_control_columns():
    from mcverify.stats.power import detectable_difference

    rows = apply_verdicts(
        [_row(mc_stderr=0.01, mc_df=math.inf, mc_skewness=0.1, samples=10**5, method="mc") for _ in range(50)],
        alpha=0.01,
        control="bh",
    )
    row = rows[0]
    assert row["error_control"] == "bh" and row["alpha"] == 0.01 and row["mc_level"] == 0.01 / 50
    assert row["mc_detectable"] == pytest.approx(detectable_difference(0.01, 0.0002))
    assert row["mc_min_samples"] < 10**5 and row["reason"] == ""


def test_precomputed_p_values_are_used_and_skewness_caveat():
    # A skewness-corrected p-value in the row wins over the normal p-value of mc_z.
    rows = apply_verdicts([_row(mc_z=2.0, mc_p_value=0.3)], alpha=0.1)
    assert rows[0]["mc_p_value"] == 0.3 and rows[0]["verdict"] == "pass"
    rows = apply_verdicts(
        [_row(mc_stderr=0.1, mc_df=math.inf, mc_skewness=2.8, samples=100, method="antithetic") for _ in range(100)],
        alpha=0.01,
    )
    assert "few samples for skewness 2.8" in rows[0]["reason"] and rows[0]["verdict"] == "pass"
    assert rows[0]["mc_min_samples"] % 2 == 0  # antithetic counts pairs twice
    rows = apply_verdicts(
        [_row(mc_stderr=0.1, mc_df=31.0, mc_skewness=1.5, samples=4096, method="qmc") for _ in range(100)], alpha=0.01
    )
    assert "few randomisations" in rows[0]["reason"] and math.isnan(rows[0]["mc_min_samples"])


def test_rounding_allowance():
    from mcverify.stats.verdicts import rounding_allowance

    assert rounding_allowance(1.0, 1.0, False) == pytest.approx(1e-12 + 16 * 2.220446049250313e-16)
    assert rounding_allowance(2.0, 1.0, True) == pytest.approx(2e-9 + 32 * 2.220446049250313e-16)
    assert rounding_allowance(math.inf, 1.0, False) == math.inf  # a non-finite closed form fails anyway
