import math

import pytest

from mcverify.config.loader import parse_config
from mcverify.studies.convergence import FIT_COLUMNS, POINT_COLUMNS, converge, sample_counts

Z_MAX = 5.0


def test_sample_counts():
    assert sample_counts(1024, 1 << 13) == [1024, 2048, 4096, 8192]
    assert sample_counts(64, 64) == [64]
    for bad in [(1000, 4096), (64, 2), (1, 64)]:
        with pytest.raises(ValueError):
            sample_counts(*bad)


def test_rates_of_monte_carlo_and_randomised_qmc():
    data = {"run": {"seed": 5}, "pair": [{"name": "u", "p": {"mean": 0.5, "std": 2.0}, "q": {"mean": 0.0, "std": 1.0}}]}
    spec = parse_config(data, "conv.toml", "0" * 64)
    reps = 12
    result = converge(spec, counts=sample_counts(256, 1 << 15), replicates=reps, methods=["mc", "qmc"])
    assert [list(p) for p in result.points] == [list(POINT_COLUMNS)] * 16
    assert [list(f) for f in result.fits] == [list(FIT_COLUMNS)] * 2
    mc, qmc = result.fits
    # log RMSE from 12 replicates has sd about 1/sqrt(2 * 12); over 8 doublings the slope's sd
    # is about 0.204 / sqrt(sum (x - mean x)^2) = 0.204 / (ln 2 * sqrt(42)) = 0.045.
    sd = (1 / math.sqrt(2 * reps)) / (math.log(2) * math.sqrt(42))
    assert abs(mc["slope"] + 0.5) < Z_MAX * sd
    assert qmc["slope"] < -0.8 and qmc["gain_vs_mc"] > 10 and mc["gain_vs_mc"] == 1.0
    # Honest standard errors: the reported ones track the actual error at every count
    # (log of an RMSE over 12 replicates has sd about 1 / sqrt(24)).
    for point in result.points:
        assert abs(math.log(point["rmse"] / point["stderr_rms"])) < Z_MAX / math.sqrt(2 * reps)


def test_bad_arguments():
    spec = parse_config(
        {"pair": [{"name": "u", "p": {"mean": 0.0, "std": 2.0}, "q": {"mean": 0.0, "std": 1.0}}]}, "c.toml", "0" * 64
    )
    with pytest.raises(ValueError, match="replicates"):
        converge(spec, counts=[1024], replicates=1)
    with pytest.raises(ValueError, match="unknown method"):
        converge(spec, counts=[1024], replicates=2, methods=["nope"])
