"""What a candidate may return: real numbers only (``mcverify.auditing.backends.as_float64``)."""

from __future__ import annotations

import numpy as np
import pytest
from lazymodules import needs

from mcverify.auditing.backends import ResultTypeError, as_float64, get_backend


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, [0.5]),
        ([1, 2], [1.0, 2.0]),
        (np.array([0.5 + 0j, 2 - 0j]), [0.5, 2.0]),  # imaginary part exactly zero: the real part
        (None, [np.nan]),
        (np.float32(0.25), [0.25]),
    ],
)
def test_real_numbers_are_accepted(value, expected):
    np.testing.assert_array_equal(np.atleast_1d(as_float64(value)), expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.5 + 5j, "returns complex values (0.5+5j)"),
        (np.array([0.5, 1 + 1e-300j]), "returns complex values"),
        (complex(1, float("nan")), "returns complex values"),
        ([0.5, 2j], "returns complex values (2j)"),
        ("0.5", "returns text ('0.5')"),
        (np.array([b"1"]), "returns text (b'1')"),
        ([0.5, "x"], "returns text"),
        (object(), "returns object values"),
        (np.datetime64("2020-01-01"), "returns datetime64[D] values"),
    ],
)
def test_what_is_not_real_numbers_is_refused(value, message):
    with pytest.raises(ResultTypeError) as info:
        as_float64(value)
    assert str(info.value).startswith(message)


@needs("torch")
def test_torch_complex_tensor_is_refused():
    import torch

    back = get_backend("torch").to_numpy
    with pytest.raises(ResultTypeError, match="complex"):
        back(torch.tensor([0.5 + 5j]))
    np.testing.assert_array_equal(back(torch.tensor([0.5 + 0j])), [0.5])
    np.testing.assert_array_equal(back(torch.tensor([0.5], dtype=torch.float32)), [0.5])
