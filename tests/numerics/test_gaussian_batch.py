"""numerics/gaussian_batch.py: GaussianBatch validates like Gaussian and names the batch index."""

from __future__ import annotations

import numpy as np
import pytest

from mcverify import Gaussian, GaussianBatch


def test_kinds_and_entries_are_the_gaussians_of_the_rows():
    uni = GaussianBatch([0.0, 1.0], std=[1.0, 2.0])
    assert (uni.kind, uni.dim, len(uni)) == ("univariate", 1, 2)
    assert uni[1].to_dict() == Gaussian(1.0, std=2.0).to_dict()
    diag = GaussianBatch(np.zeros((3, 2)), var=np.ones((3, 2)))
    assert (diag.kind, diag.dim, len(diag)) == ("diagonal", 2, 3)
    assert diag[-1].kind == "diagonal" and diag[2].var.tolist() == [1.0, 1.0]
    cov = np.array([[[2.0, 0.5], [0.5, 1.0]]] * 4)
    full = GaussianBatch(np.ones((4, 2)), cov=cov)
    assert (full.kind, full.dim, len(full)) == ("full", 2, 4)
    assert np.array_equal(full[3].cov, cov[3])
    with pytest.raises(IndexError, match="batch index 4 out of range"):
        full[4]


def test_repeat_gives_n_copies_of_one_gaussian():
    for g in (Gaussian(1.0, var=3.0), Gaussian([1.0, 2.0], std=[1.0, 3.0]), Gaussian([0.0, 0.0], cov=np.eye(2))):
        b = GaussianBatch.repeat(g, 3)
        assert len(b) == 3 and b.kind == g.kind and b.scale_name == g.scale_name
        assert all(b[i].to_dict() == g.to_dict() for i in range(3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean": [0.0, np.nan], "std": [1.0, 1.0]}, "mean must be finite.*batch index 1"),
        ({"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, -2.0]}, r"std must be positive, got -2.0 at batch index 2"),
        ({"mean": [[0.0, 0.0]] * 2, "var": [[1.0, 1.0], [1.0, 0.0]]}, "var must be positive, got 0.0 at batch index 1"),
        ({"mean": [0.0, 0.0], "std": [1.0, np.inf]}, "std must be finite.*batch index 1"),
        ({"mean": [0.0, 0.0], "std": [1.0, 1.0, 1.0]}, r"std must have the shape of mean \(2,\)"),
        ({"mean": [0.0], "std": [1.0], "var": [1.0]}, "exactly one of std, var or cov"),
        ({"mean": [], "std": []}, "mean must have shape"),
        ({"mean": [0.0, 0.0], "cov": np.ones((2, 1, 1))}, r"with cov, mean must have shape \(n, d\)"),
        ({"mean": np.zeros((2, 2)), "cov": np.ones((2, 3, 3))}, r"cov must have shape \(n, d, d\)"),
        (
            {"mean": np.zeros((2, 2)), "cov": [np.eye(2), [[1.0, 0.5], [0.4, 1.0]]]},
            r"cov must be symmetric: cov\[\d,\d\] = 0\.\d but cov\[\d,\d\] = 0\.\d at batch index 1",
        ),
        (
            {"mean": np.zeros((3, 2)), "cov": [np.eye(2), np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]},
            "cov must be positive definite: smallest eigenvalue -1 .*at batch index 2",
        ),
        (
            {"mean": np.zeros((2, 2)), "cov": [np.eye(2), [[1.0, 0.0], [0.0, -1.0]]]},
            r"diagonal entry cov\[1,1\] = -1.0 at batch index 1",
        ),
    ],
)
def test_bad_input_is_a_one_line_error_naming_the_batch_index(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        GaussianBatch(**kwargs)
    assert "\n" not in str(info.value)


def test_each_entry_validates_as_gaussian_does():
    """A batch accepts exactly what Gaussian accepts, row by row (same symmetrisation, same bits)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(3)
    cov[:, 0, 1] += 1e-14  # asymmetric within the tolerance: symmetrised as Gaussian does
    batch = GaussianBatch(rng.standard_normal((5, 3)), cov=cov)
    for i in range(5):
        assert np.array_equal(batch[i].cov, Gaussian(batch.mean[i], cov=cov[i]).cov)
