"""Call templates: audit KL code that fits no calling convention.

``mcverify audit vae.py:loss_function --convention diag-prior-logvar --call
"loss_function(empty(0, 784), empty(0, 784), mean, logvar)"`` audits the KL
term of a fused loss: the template is a Python expression evaluated at each
call of the audit, with these names, the first that has it winning:

1. the convention's arguments (``mean``, ``logvar``, ``mean_p``, ...), bound
   to the probe's values;
2. ``zeros``, ``ones`` and ``empty``: the backend's arrays of the probes'
   dtype (float64), shaped as numpy's are (``empty(0, 784)`` or
   ``empty((0, 784))``);
3. the names of the target's module (its functions and classes, what it
   imported), so that a class is built and its method called
   (``VAE().kl(mean, logvar)``), keyword arguments passed, a result
   indexed (``loss(...)[1]``);
4. Python's builtins.

Unlike ``--expr`` (:mod:`mcverify.auditing.expressions`, a whitelist of
arithmetic that never evaluates code), a template runs the target's own
code, which the audit runs anyway. It is parsed once: a syntax error, a
name that is none of the above, or a template that uses none of the
convention's arguments is refused before any call. From Python no template
is needed: pass a lambda (``lambda mean, logvar: loss_function(x0, x0, mean,
logvar)``).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mcverify.auditing.backends import Backend
from mcverify.auditing.conventions import Convention, get_convention

__all__ = ["CONSTRUCTORS", "TemplateError", "compile_template", "constructors", "parse_template"]

#: Array constructors a template may call.
CONSTRUCTORS = ("zeros", "ones", "empty")


class TemplateError(ValueError):
    """A call template that cannot be parsed or names something unknown."""


def constructors(backend: Backend) -> dict[str, Callable[..., Any]]:
    """``zeros``, ``ones`` and ``empty`` returning the backend's float64 arrays.

    ``empty`` is filled with zeros, so that what a candidate computes from it
    is reproducible.
    """

    def make(fill: float) -> Callable[..., Any]:
        def build(*shape: Any) -> Any:
            dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
            return backend.to_native(np.full(tuple(int(n) for n in dims), fill, dtype=np.float64))

        return build

    return {"zeros": make(0.0), "ones": make(1.0), "empty": make(0.0)}


def parse_template(text: str) -> ast.Expression:
    """The template's syntax tree; :class:`TemplateError` names a syntax error's column."""
    source = text.strip()
    if not source:
        raise TemplateError("the template is empty")
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise TemplateError(f"invalid syntax at column {exc.offset}: {exc.msg}") from None


def compile_template(
    text: str | ast.Expression,
    convention: Convention | str,
    namespace: Mapping[str, Any],
    backend: Backend,
    *,
    where: str = "the target's module",
) -> Callable[..., Any]:
    """The candidate ``f(*convention arguments)`` that evaluates ``text``.

    Parameters
    ----------
    text : str or ast.Expression
        A Python expression (see the module's docstring for its names), or
        its tree from :func:`parse_template` (parsed once).
    convention : Convention or str
        Whose argument names the template uses.
    namespace : mapping
        The target module's names (its ``__dict__``).
    backend : Backend
        The array type of ``zeros``, ``ones`` and ``empty``.
    where : str
        How error messages name the namespace.

    Raises
    ------
    TemplateError
        A syntax error (with its column), an unknown name, or a template that
        uses none of the convention's arguments.
    """
    conv = get_convention(convention)
    tree = parse_template(text) if isinstance(text, str) else text
    source = text.strip() if isinstance(text, str) else ast.unparse(text)
    used, bound = _names(tree)
    params = set(conv.params)
    known = params | set(CONSTRUCTORS) | set(namespace) | set(dir(builtins)) | bound
    unknown = sorted(used - known)
    if unknown:
        raise TemplateError(
            f"unknown name {unknown[0]!r}: neither an argument of {conv.name} ({', '.join(conv.params)}), "
            f"nor {', '.join(CONSTRUCTORS)}, nor a name in {where}"
        )
    if not used & params:
        raise TemplateError(f"the template uses none of the arguments of {conv.name}: {', '.join(conv.params)}")
    code = compile(tree, "<call template>", "eval")
    base: dict[str, Any] = {**namespace, **constructors(backend)}
    base["__builtins__"] = builtins
    order = conv.params

    def candidate(*args: Any) -> Any:
        scope = dict(base)
        scope.update(zip(order, args))
        return eval(code, scope)  # the user's template over the user's own module

    candidate.__name__ = source
    return candidate


def _names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names read by the expression, and names it binds itself (lambda arguments, loop targets, walrus)."""
    used: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return used, bound
