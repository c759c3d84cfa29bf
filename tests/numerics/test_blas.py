"""numerics/blas.py: mcverify's matrix work in the caller's process runs on one BLAS thread unless asked."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import mcverify
from mcverify import Gaussian, GaussianBatch, kl_divergence, quadrature_kl
from mcverify.numerics import closed_form
from mcverify.quadrature import integration

pytestmark = pytest.mark.skipif(
    not any(p["internal_api"] in ("openblas", "mkl", "blis") for p in threadpool_info()), reason="no BLAS seen"
)


def blas_threads_now() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def spy(monkeypatch, module, name):
    seen: list[set[int]] = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        seen.append(blas_threads_now())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return seen


P = Gaussian([0.0, 1.0], cov=[[2.0, 0.3], [0.3, 1.0]])
Q = Gaussian([1.0, 0.0], cov=[[1.0, -0.2], [-0.2, 3.0]])


def test_closed_form_and_quadrature_run_on_one_thread_whatever_the_caller_set(monkeypatch):
    seen = spy(monkeypatch, closed_form, "_full_terms")
    seen_batch = spy(monkeypatch, closed_form, "_full_terms_batch")
    seen_quad = spy(monkeypatch, integration, "_reduced")
    with threadpool_limits(limits=2, user_api="blas"):
        kl_divergence(P, Q)
        kl_divergence(GaussianBatch.repeat(P, 3), Q)
        quadrature_kl(P, Q)
        after = blas_threads_now()
    assert seen and seen_batch and seen_quad
    assert all(s == {1} for s in seen + seen_batch + seen_quad)
    assert after == {2}  # the caller's setting is back


def test_blas_threads_none_leaves_the_callers_setting(monkeypatch):
    seen = spy(monkeypatch, closed_form, "_full_terms")
    with threadpool_limits(limits=2, user_api="blas"), mcverify.blas_threads(None):
        kl_divergence(P, Q)
    with mcverify.blas_threads(2):
        kl_divergence(P, Q)
    assert seen == [{2}, {2}]


def test_numbers_do_not_depend_on_the_setting():
    one = kl_divergence(P, Q)
    with threadpool_limits(limits=2, user_api="blas"), mcverify.blas_threads(None):
        assert kl_divergence(P, Q) == one


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts(bad):
    with pytest.raises(ValueError, match="threads must be a positive integer or None"), mcverify.blas_threads(bad):
        pass
