"""--expr formulas: compiled from a whitelist of arithmetic, never evaluated as code."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from mcverify import audit
from mcverify.auditing.expressions import ExprError, compile_expr


def test_compiles_arithmetic_batched():
    f = compile_expr("0.5*(std**2 + mean**2 - 1 - log(std**2))", "prior-std")
    out = f(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    assert np.allclose(out, [0.0, 0.5 * (4 + 1 - 1 - np.log(4))])
    assert f.__name__ == "expr" and "prior-std" in f.__doc__


def test_correct_formula_passes_and_classic_is_diagnosed():
    ok = compile_expr("0.5*(std**2 + mean**2 - 1 - log(std**2))", "prior-std")
    assert audit(ok, "prior-std", samples=0).verdict == "pass"
    bad = compile_expr("0.5*(std**2 - 1 - log10(std**2))", "prior-std")
    assert audit(bad, "prior-std", samples=0).diagnoses[0] == ["log10", "missing-mean"]


def test_vector_conventions_sum_over_the_last_axis_and_know_d():
    f = compile_expr("-0.5*sum(1 + logvar - mean**2 - exp(logvar))", "diag-prior-logvar")
    assert audit(f, "diag-prior-logvar", samples=0).verdict == "pass"
    g = compile_expr("0.5*(sum(exp(logvar) + mean**2 - logvar) - d)", "diag-prior-logvar")
    assert audit(g, "diag-prior-logvar", samples=0).verdict == "pass"
    h = compile_expr("-0.5*mean(1 + logvar - mean**2 - exp(logvar))", "diag-prior-logvar")
    assert audit(h, "diag-prior-logvar", samples=0).diagnoses[0] == ["mean-over-dims"]


def test_mvn_matrix_functions():
    f = compile_expr(
        "0.5*(log(det(cov_q)/det(cov_p)) + trace(inv(cov_q) @ cov_p)"
        " + (mean_q - mean_p) @ inv(cov_q) @ (mean_q - mean_p) - d)",
        "mvn",
    )
    r = audit(f, "mvn", samples=0)
    assert r.verdict == "pass" and r.calls in ("one per probe", "mixed")


@pytest.mark.parametrize(
    "text,match",
    [
        ("import os", "not an arithmetic expression"),
        ("__import__('os').system('echo hacked')", r"attribute access \.system"),
        ("__import__('os')", "call to unknown function '__import__'"),
        ("std.__class__", r"attribute access \.__class__"),
        ("eval('1')", "call to unknown function 'eval'"),
        ("open('/etc/passwd')", "call to unknown function 'open'"),
        ("os", "unknown name 'os'"),
        ("x + 1", "unknown name 'x'"),
        ("log", r"unknown name 'log' \(a function: call it as log\(...\)\)"),
        ("std[0]", r"subscripts"),
        ("(lambda: 1)()", "a call of something that is not a function name"),
        ("lambda: 1", "lambda"),
        ("std if mean else 1", "if/else"),
        ("std > 1", "comparisons"),
        ("std and mean", "and/or"),
        ("'a' * 3", "the constant 'a'"),
        ("True + std", "the constant True"),
        ("1j * std", r"the constant 1j"),
        ("log(std, base=10)", "keyword arguments"),
        ("log(*[std])", r"\*-arguments"),
        ("log(std, 10)", "log with 2 arguments"),
        ("[std for std in mean]", "comprehensions"),
        ("(y := std)", "assignment"),
        ("std // 2", "the operator //"),
        ("std % 2", "the operator %"),
        ("std @ std", "the operator @"),
        ("sum(std)", "call to unknown function 'sum'"),
        ("f'{std}'", "strings"),
        ("not std", "the operator not"),
        ("", "empty"),
    ],
)
def test_rejects_everything_but_arithmetic(text, match):
    with pytest.raises(ExprError, match=match):
        compile_expr(text, "prior-std")


def test_message_lists_what_is_allowed():
    with pytest.raises(ExprError) as info:
        compile_expr("std + sigma", "prior-std")
    msg = str(info.value)
    assert "unknown name 'sigma'" in msg and "mean, std" in msg and "log10" in msg and "column 7" in msg


def test_names_follow_the_convention():
    compile_expr("logvar_p - logvar_q", "pair-logvar")
    with pytest.raises(ExprError, match="unknown name 'std'"):
        compile_expr("std", "pair-logvar")
    with pytest.raises(ExprError, match="unknown name 'd'"):
        compile_expr("d", "prior-std")


def test_size_limits():
    with pytest.raises(ExprError, match="longer than"):
        compile_expr("+".join(["std"] * 1000), "prior-std")
    with pytest.raises(ExprError, match="nests deeper"):
        compile_expr("-" * 100 + "std", "prior-std")


def test_huge_powers_are_floats_not_big_integers():
    f = compile_expr("9**9**9**9 + std", "prior-std")
    assert f(0.0, 1.0) == np.inf


def test_never_calls_eval_or_exec(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("eval/exec called")

    for name in ("eval", "exec"):  # ast.parse itself uses compile(), to parse only
        monkeypatch.setattr(builtins, name, forbidden)
    f = compile_expr("0.5*(var + mean**2 - 1 - log(var))", "prior-var")
    assert float(f(0.0, 1.0)) == 0.0
