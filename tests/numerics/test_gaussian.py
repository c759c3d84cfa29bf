import pickle

import numpy as np
import pytest

from mcverify import Gaussian


def test_kinds_and_dimensions():
    assert Gaussian(0.0, std=2.0).kind == "univariate"
    assert Gaussian([0.0, 1.0], std=[1.0, 2.0]).kind == "diagonal"
    assert Gaussian([0.0, 1.0, 2.0], var=4.0).dim == 3
    assert Gaussian(0.0, std=[1.0, 2.0]).mean.tolist() == [0.0, 0.0]
    g = Gaussian([0.0, 0.0], cov=[[1.0, 0.5], [0.5, 2.0]])
    assert g.kind == "full" and g.dim == 2
    np.testing.assert_allclose(g.cholesky @ g.cholesky.T, g.cov, rtol=1e-15)
    assert g.log_det == pytest.approx(np.log(1.75), rel=1e-15)


def test_values_kept_as_given_and_read_only():
    g = Gaussian(0.0, var=0.1)
    assert g.var[0] == 0.1 and g.std is None and g.scale_name == "var"
    with pytest.raises(ValueError):
        g.mean[0] = 1.0
    with pytest.raises(AttributeError):
        g.mean = np.zeros(1)  # type: ignore[misc]


def test_round_trips():
    for g in (
        Gaussian(0.3, std=2.0),
        Gaussian([1.0, 2.0], var=[1.0, 3.0]),
        Gaussian([0.0, 0.0], cov=[[1.0, 0.5], [0.5, 2.0]]),
    ):
        h = pickle.loads(pickle.dumps(g))
        assert h.to_dict() == g.to_dict() and h.kind == g.kind
        assert Gaussian(**g.to_dict()).to_dict() == g.to_dict()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mean": 0.0}, "exactly one of std, var or cov"),
        ({"mean": 0.0, "std": 1.0, "var": 1.0}, "exactly one"),
        ({"mean": 0.0, "std": -1.0}, "std must be positive, got -1.0"),
        ({"mean": 0.0, "var": 0.0}, "var must be positive"),
        ({"mean": [0.0, 1.0], "std": [1.0, -2.0]}, "at index 1"),
        ({"mean": float("nan"), "std": 1.0}, "mean must be finite"),
        ({"mean": 0.0, "std": float("inf")}, "std must be finite"),
        ({"mean": [0.0, 1.0], "std": [1.0, 2.0, 3.0]}, "dimensions must match"),
        ({"mean": [0.0, 1.0], "cov": np.eye(3)}, "dimensions must match"),
        ({"mean": [0.0, 0.0], "cov": [[1.0, 2.0], [2.0, 1.0]]}, "smallest eigenvalue -1"),
        ({"mean": [0.0, 0.0], "cov": [[1.0, 0.5], [0.4, 1.0]]}, "symmetric"),
        ({"mean": [0.0, 0.0], "cov": [1.0, 2.0]}, "square matrix"),
        ({"mean": "abc", "std": 1.0}, "mean must be a number"),
        ({"mean": [[0.0]], "std": 1.0}, "scalar or a vector"),
    ],
)
def test_invalid_input_raises_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Gaussian(**kwargs)
