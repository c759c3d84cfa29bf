"""Call templates: parsed once, names checked, evaluated over the convention's arguments and a module's names."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from lazymodules import needs

from mcverify import audit
from mcverify.auditing.backends import get_backend
from mcverify.auditing.templates import TemplateError, compile_template, constructors, parse_template

NUMPY = get_backend("numpy")


def vae_loss(recon_x, x, mu, logvar, beta=1.0):
    """A fused VAE loss: reconstruction (summed) plus beta times the KL summed over the batch."""
    rec = np.sum((recon_x - x) ** 2)
    kld = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))
    return rec + beta * kld, rec, kld


class Model:
    def __init__(self, latent_dim):
        self.latent_dim = latent_dim

    def kl(self, mu, logvar):
        return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)


MODULE = {"vae_loss": vae_loss, "Model": Model, "np": np}


def test_a_fused_loss_is_audited_through_its_kl_term():
    f = compile_template("vae_loss(empty(0, 4), empty((0, 4)), mean, logvar)[0]", "diag-prior-logvar", MODULE, NUMPY)
    r = audit(f, "diag-prior-logvar", samples=0)
    assert r.verdict == "pass" and r.reduction == "sum", r.summary()
    assert r.name == "vae_loss(empty(0, 4), empty((0, 4)), mean, logvar)[0]"


def test_keyword_arguments_indexing_and_methods():
    f = compile_template(
        "vae_loss(zeros(1, 3), zeros(1, 3), mean, logvar, beta=-1.0)[0]", "diag-prior-logvar", MODULE, NUMPY
    )
    r = audit(f, "diag-prior-logvar", samples=0)
    assert r.verdict == "fail" and r.diagnoses[0] == ["sign"]
    g = compile_template("Model(latent_dim=8).kl(mean, logvar)", "diag-prior-logvar", MODULE, NUMPY)
    assert audit(g, "diag-prior-logvar", samples=0).verdict == "pass"


def test_names_resolve_arguments_first_then_constructors_then_module_then_builtins():
    module = {"mean": "shadowed", "zeros": "shadowed", "helper": lambda a, b: (a, b)}
    f = compile_template("helper(mean, zeros(2))", "prior-std", module, NUMPY)
    m, z = f(0.5, 1.0)
    assert m == 0.5 and z.shape == (2,) and z.dtype == np.float64
    g = compile_template("float(sum([mean, std])) + (lambda s: s * 0)(std)", "prior-std", {}, NUMPY)
    assert g(1.0, 2.0) == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the template is empty"),
        ("vae_loss(mean,", "invalid syntax at column"),
        ("vae_los(mean, logvar)", "unknown name 'vae_los': neither an argument of diag-prior-logvar (mean, logvar)"),
        ("vae_loss(1, 2, 3, 4)", "uses none of the arguments of diag-prior-logvar: mean, logvar"),
        ("vae_loss(mu, logvar)", "unknown name 'mu'"),
    ],
)
def test_bad_templates_are_refused_before_any_call(text, message):
    with pytest.raises(TemplateError, match=None) as info:
        compile_template(text, "diag-prior-logvar", MODULE, NUMPY)
    assert message in str(info.value)


def test_parsed_once_tree_is_accepted():
    tree = parse_template(" Model(2).kl(mean, logvar) ")
    assert isinstance(tree, ast.Expression)
    f = compile_template(tree, "diag-prior-logvar", MODULE, NUMPY)
    assert f.__name__ == "Model(2).kl(mean, logvar)"
    assert f(np.zeros(2), np.zeros(2)) == 0.0


@needs("torch")
def test_constructors_follow_the_backend():
    import torch

    ctor = constructors(get_backend("torch"))
    e = ctor["empty"](0, 784)
    assert isinstance(e, torch.Tensor) and e.shape == (0, 784) and e.dtype == torch.float64
    assert ctor["ones"]((2,)).tolist() == [1.0, 1.0]
