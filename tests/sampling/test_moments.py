import numpy as np
import pytest
from scipy import stats

from mcverify.sampling.moments import ExactSum, StreamingMoments, skewness


@pytest.mark.parametrize("sizes", [[1000], [7, 3, 1000, 1, 512], [1, 1, 1, 5]])
def test_streaming_moments_match_numpy_and_scipy(sizes):
    rng = np.random.default_rng(3)
    data = [rng.chisquare(1, k) * 50.0 + 1e3 for k in sizes]  # skewed, large offset
    acc = StreamingMoments(max(sizes))
    for chunk in data:
        acc.add(chunk.copy())
    y = np.concatenate(data)
    mean, var, skew = acc.result(0.5)
    assert mean == pytest.approx(y.mean() + 0.5, rel=1e-14)
    assert var == pytest.approx(y.var(ddof=1), rel=1e-12)
    assert skew == pytest.approx(stats.skew(y), rel=1e-9)


def test_exact_sum_and_degenerate_skewness():
    s = ExactSum()
    for x in [1e16, 1.0, -1e16] * 3000:
        s.add(x)
    assert s.value == 3000.0
    assert skewness(0.0, 0.0, 10) == 0.0 and skewness(2.0, 0.0, 10) == 0.0
