"""Property-based tests (hypothesis) of the three methods and of config handling.

Random valid Gaussian pairs (``tests/strategies.py``: dimensions 1 to 50,
univariate, isotropic, diagonal and full covariances with condition
numbers up to 1e6) must give

* KL >= 0, finite, and exactly 0 for p = q;
* a Monte Carlo estimate within 5 standard errors of the closed form;
* a quadrature value within quad's own error estimate plus the closed
  form's documented accuracy (whenever quad vouches for its value);
* the same KL after a common invertible affine map x -> A x + b, within a
  first-order bound on the rounding errors that follows from the condition
  numbers (see :func:`affine_tolerance`).

Random invalid configs (a valid config with one random value poisoned, one
unknown key inserted or one key misspelt) and random bytes must give exit
code 2 and one line naming the file and, for the mutations, the exact key
path.  The number of examples is set by the hypothesis profile
(``tests/conftest.py``): 1,000 per property in CI.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings, target
from hypothesis import strategies as st

from mcverify import Gaussian, kl_divergence, monte_carlo_kl, quadrature_kl
from mcverify.cli.main import main
from mcverify.config.loader import load_config
from mcverify.stats.verdicts import closed_form_tolerance
from tests.fuzz.tomlw import dumps
from tests.strategies import POISON_NUMBERS, Pair, gaussian_pairs, paths, rotation, valid_configs

U = 2.0**-53
MC_SAMPLES = 2_000  # enough for the normal approximation of the mean; |z| < 5 stays a valid test


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():  # type: ignore[no-untyped-def]
    """Small matrices: threads only cost (much, on a busy machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - an optional speed-up
        yield
        return
    with threadpool_limits(1):
        yield


def gamma(n: int) -> float:
    """Higham's gamma_n = n u / (1 - n u): the rounding bound of an n-term dot product."""
    return n * U / (1.0 - n * U)


def is_full(*gs: Gaussian) -> bool:
    return any(g.kind == "full" for g in gs)


# ------------------------------------------------------------ KL properties
@given(pair=gaussian_pairs(), delta=st.floats(1e-3, 10.0))
def test_kl_is_nonnegative_zero_exactly_at_p_equal_q_and_positive_off_it(pair: Pair, delta: float) -> None:
    p, q = pair.p, pair.q
    for a, b in ((p, q), (q, p)):
        kl = kl_divergence(a, b)
        assert math.isfinite(kl) and kl >= 0.0
    # p = q, as the same object and as an equal copy
    twin = (
        Gaussian(p.mean.copy(), **{p.scale_name: getattr(p, p.scale_name).copy()})
        if p.kind != "univariate"
        else Gaussian(float(p.mean[0]), **{p.scale_name: float(getattr(p, p.scale_name)[0])})
    )
    assert kl_divergence(p, p) == 0.0
    assert kl_divergence(p, twin) == 0.0 and kl_divergence(twin, p) == 0.0
    # shifted along p's own principal axis by delta standard deviations: KL = delta**2 / 2 > 0
    w, v = np.linalg.eigh(p.covariance)
    shifted = Gaussian(delta * math.sqrt(w[-1]) * v[:, -1], cov=p.covariance)
    kl = kl_divergence(shifted, Gaussian(np.zeros(p.dim), cov=p.covariance))
    assert kl > 0.0
    # the whitened shift is delta up to the rounding of the shift, the eigenvector and the whitening
    cond = w[-1] / w[0]
    assert abs(kl - delta**2 / 2) <= delta**2 * (gamma(4 * p.dim) * cond + closed_form_tolerance(1.0, True))


# ------------------------------------------------------- methods agree
@given(pair=gaussian_pairs())
def test_monte_carlo_agrees_with_closed_form(pair: Pair) -> None:
    p, q = pair.p, pair.q
    closed = kl_divergence(p, q)
    mc = monte_carlo_kl(p, q, MC_SAMPLES, seed=pair.seed)  # the seed is part of the example
    if mc.stderr == 0.0:  # only when the log ratio is constant, i.e. p = q
        assert closed == 0.0 and mc.estimate == 0.0
        return
    z = (mc.estimate - closed) / mc.stderr
    event(f"|z| {'< 2' if abs(z) < 2 else '2..3' if abs(z) < 3 else '>= 3'}")
    assert abs(z) < 5.0, (closed, mc)


@given(pair=gaussian_pairs())
def test_quadrature_agrees_with_closed_form(pair: Pair) -> None:
    p, q = pair.p, pair.q
    closed = kl_divergence(p, q)
    quad = quadrature_kl(p, q)
    if not quad.reliable:  # quad may refuse, but must say why
        event("quadrature unreliable")
        assert quad.message
        return
    allowed = quad.error + closed_form_tolerance(closed, is_full(p, q))
    target(abs(quad.value - closed) / allowed if allowed > 0 else 0.0, label="quadrature error / tolerance")
    assert abs(quad.value - closed) <= allowed, (closed, quad)


# ----------------------------------------------------- affine invariance
def _abs_norm(*mats: np.ndarray) -> float:
    """2-norm of the product of the entries' absolute values."""
    out = np.abs(mats[0])
    for m in mats[1:]:
        out = out @ np.abs(m)
    return float(np.linalg.norm(out, 2))


def affine_tolerance(
    p: Gaussian, q: Gaussian, a: np.ndarray, b: np.ndarray, p2: Gaussian, q2: Gaussian, kl: float, kl2: float
) -> float:
    r"""First-order bound on |KL(p2 || q2) - KL(p || q)| for p2, q2 the rounded images of p, q.

    Notes
    -----
    Perturbing :math:`\Sigma_p` by :math:`\Sigma_p^{1/2} E \Sigma_p^{1/2}`,
    :math:`\Sigma_q` by :math:`\Sigma_q^{1/2} F \Sigma_q^{1/2}` and the
    whitened mean difference :math:`\beta = \Sigma_q^{-1/2}\delta` by
    :math:`\epsilon` changes KL by at most (to first order)

    .. math::

        \tfrac12 S \|E\|_2 + \tfrac12 (S + \|\beta\|^2) \|F\|_2 + \|\beta\| \|\epsilon\|,
        \qquad S = \sum_i |\lambda_i - 1|,

    with :math:`\lambda_i` the eigenvalues of :math:`\Sigma_q^{-1}\Sigma_p`
    (invariant under the map).  The relative perturbations come from
    Higham's componentwise bounds (Accuracy and Stability of Numerical
    Algorithms, 2nd ed., 2002, Thm 3.5, 8.5 and 10.3):

    * the product :math:`A\Sigma A^T` and its symmetrisation:
      :math:`|\Delta| \le \gamma_{2d+1} |A||\Sigma||A^T|`;
    * the closed form's Cholesky factorisation and triangular solves of a
      full covariance: :math:`|\Delta| \le (\gamma_{d+1} + 2\gamma_d) |L||L^T|`;
    * the image of a mean, :math:`|\Delta| \le \gamma_{d+1}(|A||\mu| + |b|)`,

    each whitened by the smallest eigenvalue of the covariance it perturbs.
    The closed form's documented accuracy (``closed_form_tolerance``) covers
    its remaining rounding on either side.
    """
    d = p.dim
    sp, sq = p.covariance, q.covariance
    lq = np.linalg.cholesky(sq)
    whitened = np.linalg.solve(lq, np.linalg.solve(lq, sp).T)  # Lq^-1 Sp Lq^-T
    lam = np.linalg.eigvalsh(0.5 * (whitened + whitened.T))
    s_sum = float(np.sum(np.abs(lam - 1.0)))
    beta = float(np.linalg.norm(np.linalg.solve(lq, p.mean - q.mean)))

    def factor_error(g: Gaussian) -> float:
        if g.kind != "full":
            return 0.0  # diagonal covariances never form a matrix: covered by the documented accuracy
        low = np.linalg.cholesky(g.covariance)
        return (gamma(d + 1) + 2 * gamma(d)) * _abs_norm(low, low.T) / float(np.linalg.eigvalsh(g.covariance)[0])

    def image_error(g: Gaussian, g2: Gaussian) -> float:
        lam_min = float(np.linalg.eigvalsh(g2.covariance)[0])
        return gamma(2 * d + 1) * _abs_norm(a, g.covariance, a.T) / lam_min + factor_error(g2)

    e_p = factor_error(p) + image_error(p, p2)
    e_q = factor_error(q) + image_error(q, q2)
    mean_err = gamma(d + 1) * (np.abs(a) @ np.abs(p.mean) + np.abs(a) @ np.abs(q.mean) + 2 * np.abs(b))
    mean_err += U * np.abs(p2.mean - q2.mean)
    eps = float(np.linalg.norm(mean_err)) / math.sqrt(float(np.linalg.eigvalsh(q2.covariance)[0]))
    first_order = 0.5 * s_sum * e_p + 0.5 * (s_sum + beta**2) * e_q + beta * eps + 0.5 * eps**2
    return first_order + closed_form_tolerance(kl, is_full(p, q)) + closed_form_tolerance(kl2, True)


@given(
    pair=gaussian_pairs(),
    log_cond_a=st.floats(0.0, 1.0),
    log_scale_a=st.floats(-1.0, 1.0),
    offset=st.floats(-10.0, 10.0),
)
def test_kl_is_invariant_under_a_common_affine_map(
    pair: Pair, log_cond_a: float, log_scale_a: float, offset: float
) -> None:
    p, q = pair.p, pair.q
    d = p.dim
    rng = np.random.default_rng(pair.seed ^ 0xAFF1)
    # A = U diag(s) V^T with condition number 10**log_cond_a <= 10 and scale 10**log_scale_a
    s = 10.0 ** (log_scale_a + log_cond_a * np.concatenate([[0.0, 1.0][:d], rng.uniform(0, 1, max(d - 2, 0))]))
    a = (rotation(rng, d) * s) @ rotation(rng, d).T
    b = offset * np.sqrt(np.diag(q.covariance)) * rng.standard_normal(d)

    def image(g: Gaussian) -> Gaussian:
        cov = a @ g.covariance @ a.T
        return Gaussian(a @ g.mean + b, cov=0.5 * (cov + cov.T))

    p2, q2 = image(p), image(q)
    kl, kl2 = kl_divergence(p, q), kl_divergence(p2, q2)
    tol = affine_tolerance(p, q, a, b, p2, q2, kl, kl2)
    ratio = abs(kl2 - kl) / tol if tol > 0 else (0.0 if kl2 == kl else math.inf)
    target(ratio, label="affine difference / tolerance")
    assert abs(kl2 - kl) <= tol, (kl, kl2, tol)


# ---------------------------------------------------------- invalid configs
_WORK = Path(tempfile.mkdtemp(prefix="mcverify-properties-"))
_COUNTER = itertools.count()


def show(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def set_at(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def get_at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def run_main(text: str | bytes) -> tuple[Path, int, str, str, Path]:
    n = next(_COUNTER)
    cfg = _WORK / f"cfg{n}.toml"
    cfg.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    out = _WORK / f"out{n}"
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = main(["run", str(cfg), "-o", str(out)])
    return cfg, code, std.getvalue(), err.getvalue(), out


def assert_one_line_error(cfg: Path, code: int, stdout: str, stderr: str, out: Path, field: str | None) -> None:
    assert code == 2, stderr
    assert stdout == "" and stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    prefix = f"mcverify: error: {cfg}: " + (f"{field}: " if field else "")
    assert stderr.startswith(prefix), (prefix, stderr)
    assert "Traceback" not in stderr and not out.exists()


@given(data=valid_configs(), choice=st.data())
def test_random_invalid_config_gives_exit_2_and_one_line_naming_the_key(
    data: dict[str, Any], choice: st.DataObject
) -> None:
    places = paths(data)
    mutations: list[tuple[str, tuple[Any, ...], str]] = [("unknown", (), "table")]
    for path, kind in places:
        mutations.append(("poison", path, kind))
        if kind == "table":
            mutations.append(("unknown", path, kind))
        if path and isinstance(path[-1], str):
            mutations.append(("rename", path, kind))
    what, path, kind = choice.draw(st.sampled_from(mutations), label="mutation")
    mutated: dict[str, Any] = copy.deepcopy(data)
    if what == "poison":
        value = (
            42
            if kind == "string"
            else "text"
            if kind in ("table", "vector")
            else choice.draw(st.sampled_from(POISON_NUMBERS), label="poison")
        )
        set_at(mutated, path, value)
        field = show(path)
    elif what == "unknown":
        table = get_at(mutated, path)
        table["zz_unknown"] = 1
        field = show((*path, "zz_unknown"))
    else:
        parent = get_at(mutated, path[:-1])
        new = f"{path[-1]}x"
        items = [(new if k == path[-1] else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        field = show((*path[:-1], new))
    event(what)
    assert_one_line_error(*run_main(dumps(mutated)), field)


@settings(max_examples=300)
@given(data=valid_configs())
def test_the_config_strategy_makes_valid_configs(data: dict[str, Any]) -> None:
    # what the mutation property relies on: before its one mutation, the config is valid
    assert load_config_text(dumps(data)) > 0


def load_config_text(text: str) -> int:
    n = next(_COUNTER)
    cfg = _WORK / f"valid{n}.toml"
    cfg.write_text(text)
    return len(load_config(cfg).cases)


@given(content=st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_random_bytes_give_exit_2_and_one_line(content: str | bytes) -> None:
    assert_one_line_error(*run_main(content), None)
