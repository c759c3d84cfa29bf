import math

import numpy as np
import pytest
from scipy import stats

from mcverify.config.loader import parse_config
from mcverify.engine.runner import run
from mcverify.sampling.estimators import estimate_kl
from mcverify.sampling.seeding import case_seed
from mcverify.studies.calibration import CELL_COLUMNS, FAMILY_COLUMNS, acceptance_band, calibrate, clopper_pearson

Z_MAX = 5.0


def spec(text_pairs: list[dict], **run):
    return parse_config({"run": {"seed": 3, **run}, "pair": text_pairs}, "study.toml", "0" * 64)


SKEWED = [
    {"name": "ratio-10", "p": {"mean": 0.0, "std": 10.0}, "q": {"mean": 0.0, "std": 1.0}},
    {
        "name": "full-3",
        "p": {"mean": [0.5, 0.0, -0.5], "cov": [[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]]},
        "q": {"mean": [0.0, 0.0, 0.0], "std": 1.0},
    },
]


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (97, 100), (1900, 2000)])
def test_clopper_pearson_matches_scipy(k, n):
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize("rate, n, level", [(0.95, 2000, 1e-3), (0.01, 500, 0.01), (0.5, 20, 0.05)])
def test_acceptance_band_holds_its_level_and_is_tight(rate, n, level):
    lo, hi = acceptance_band(rate, n, level)
    klo, khi = round(lo * n), round(hi * n)
    outside = stats.binom.cdf(klo - 1, n, rate) + stats.binom.sf(khi, n, rate)
    assert outside <= level
    # One more count on either side would exceed its half of the level.
    assert stats.binom.cdf(klo, n, rate) > level / 2 and stats.binom.sf(khi - 1, n, rate) > level / 2
    _, up = acceptance_band(rate, n, level, sided="upper")
    assert stats.binom.sf(round(up * n), n, rate) <= level < stats.binom.sf(round(up * n) - 1, n, rate)


@pytest.mark.parametrize("methods, cases, reps", [(["mc", "antithetic"], SKEWED, 300), (["qmc"], SKEWED[:1], 100)])
def test_small_study_is_calibrated_and_reproduces_the_run(methods, cases, reps):
    s = spec(cases, samples=4096, alpha=0.05)
    result = calibrate(s, replicates=reps, methods=methods)
    cells = len(cases) * len(methods)
    assert [list(c) for c in result.cells] == [list(CELL_COLUMNS)] * cells
    assert [list(f) for f in result.family] == [list(FAMILY_COLUMNS)] * len(methods)
    assert result.checks == 2 * cells + len(methods)
    assert result.check_level == pytest.approx(0.05 / result.checks)
    for cell in result.cells:
        # Binomial and chi-square tolerances computed here, independently of the module's bands.
        sd = math.sqrt(0.95 * 0.05 / reps)
        assert abs(cell["coverage"] - 0.95) < Z_MAX * sd, cell
        assert abs(cell["z_std"] - 1.0) < Z_MAX / math.sqrt(2 * reps) + 0.05, cell
        assert cell["coverage_low"] <= cell["coverage"] <= cell["coverage_high"]
        assert cell["coverage_ok"] and cell["false_alarm_ok"] and not cell["exact"]
    assert result.ok
    # Replicate 0 of each case is the run's own estimate of it (same seed scheme).
    for method in methods:
        rows = run(spec(cases, samples=4096, alpha=0.05, method=method))
        for row in rows:
            case = s.cases[row["index"]]
            again = estimate_kl(case.p, case.q, 4096, method=method, seed=case_seed(3, row["index"], 0))
            assert again.estimate == row["kl_mc"] and row["seed"] == case_seed(3, row["index"], 0)


def test_exact_estimators_pass_the_coverage_check():
    shift = [{"name": "shift", "p": {"mean": [1.0, 2.0], "std": 1.0}, "q": {"mean": [0.0, 0.0], "std": 1.0}}]
    result = calibrate(spec(shift, samples=1000), replicates=50, methods=["antithetic"])
    (cell,) = result.cells
    assert cell["exact"] and cell["coverage"] == 1.0 and cell["coverage_ok"] and cell["rmse"] == 0.0


def test_a_wrong_standard_error_fails_the_study(monkeypatch):
    import dataclasses

    import mcverify.studies.calibration as module

    def overconfident(*args, **kwargs):
        r = estimate_kl(*args, **kwargs)
        return dataclasses.replace(r, stderr=r.stderr / 2)

    monkeypatch.setattr(module, "estimate_kl", overconfident)
    result = calibrate(spec(SKEWED[:1], samples=2000), replicates=200)
    (cell,) = result.cells
    assert not result.ok and not cell["coverage_ok"] and not cell["false_alarm_ok"]
    assert cell["coverage"] < 0.8 and cell["error_ratio"] > 1.7


@pytest.mark.parametrize("control, reps", [("holm", 300), ("bh", 100)])
def test_family_wise_false_alarms_of_a_sweep_stay_at_alpha(control, reps):
    # 100 true univariate cases (std ratios 0.2 .. 5, shifts 0 and 1), 300 repeated runs at
    # alpha = 0.2: per-case tests at 0.2 / 100 = 0.002 (|z| > 3.09), where the skewness
    # of the llr matters at 1,000 samples. Holm keeps the rate of runs with any false
    # alarm at most alpha (here about 1 - (1 - 0.002)^100 = 0.18); BH, with every
    # case true, does the same.
    data = {
        "run": {"seed": 11, "samples": 1000, "alpha": 0.2, "error_control": control},
        "sweep": [
            {
                "name": "u",
                "p": {"mean": {"values": [0.0, 1.0]}, "std": {"logspace": [-0.7, 0.7, 50]}},
                "q": {"mean": 0.0, "std": 1.0},
            }
        ],
    }
    s = parse_config(data, "fa.toml", "0" * 64)
    result = calibrate(s, replicates=reps, methods=["mc"])
    (family,) = result.family
    assert family["cases"] == 100 and family["replicates"] == reps and family["error_control"] == control
    runs = family["runs_with_false_alarm"]
    assert runs <= 0.2 * reps + Z_MAX * math.sqrt(0.2 * 0.8 * reps)
    assert runs >= 0.18 * reps - Z_MAX * math.sqrt(0.18 * 0.82 * reps)  # not vacuous
    rates = np.array([c["false_alarm_rate"] for c in result.cells])
    assert abs(rates.mean() - 0.2) < Z_MAX * math.sqrt(0.2 * 0.8 / (reps * 100)) * 3  # per-case tests at 0.2


def test_workers_do_not_change_the_numbers():
    s = spec(SKEWED, samples=500)
    a = calibrate(s, replicates=10, methods=["mc", "qmc"], workers=1)
    b = calibrate(s, replicates=10, methods=["mc", "qmc"], workers=2)
    strip = [{k: v for k, v in c.items() if k != "seconds"} for c in a.cells]
    assert strip == [{k: v for k, v in c.items() if k != "seconds"} for c in b.cells] and a.family == b.family


def test_bad_arguments():
    s = spec(SKEWED[:1], samples=500)
    with pytest.raises(ValueError, match="replicates"):
        calibrate(s, replicates=1)
    with pytest.raises(ValueError, match="unknown method"):
        calibrate(s, replicates=5, methods=["mcmc"])
