"""KL formulas typed as text, compiled safely into candidate functions.

``mcverify audit --expr "0.5*(std**2 + mean**2 - 1 - log10(std**2))"
--convention prior-std`` audits a formula without writing a file. The text is
parsed with :mod:`ast` and checked against a whitelist: numbers, the
convention's argument names, ``pi``, the operators ``+ - * / ** @`` and
unary minus, and calls (positional arguments only) to a fixed set of math
functions. Anything else (attribute access, subscripts, imports, lambdas,
comparisons, keyword arguments, unknown names or functions) is rejected with
a message naming the offending piece. The accepted tree is turned into
nested closures over numpy functions; nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mcverify.auditing.conventions import Convention, get_convention

__all__ = ["ExprError", "compile_expr", "functions_for"]

#: Longest accepted formula, in characters.
MAX_LENGTH = 2000
#: Deepest accepted nesting of operations.
MAX_DEPTH = 60

Node = Callable[[dict[str, Any]], Any]


class ExprError(ValueError):
    """A formula that is not plain arithmetic on the convention's arguments."""


_SCALAR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "log": np.log,
    "log10": np.log10,
    "log2": np.log2,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "square": np.square,
}
_VECTOR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": lambda x: np.sum(x, axis=-1),
    "mean": lambda x: np.mean(x, axis=-1),
}
_MATRIX_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "inv": np.linalg.inv,
    "det": np.linalg.det,
    "logdet": lambda a: np.linalg.slogdet(a)[1],
    "trace": lambda a: np.trace(a, axis1=-2, axis2=-1),
}
_CONSTANTS = {"pi": math.pi}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.Pow: np.power,
    ast.MatMult: np.matmul,
}
_OPERATOR_NAMES = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}


def functions_for(convention: Convention | str) -> dict[str, Callable[..., Any]]:
    """The functions a formula may call in ``convention``."""
    conv = get_convention(convention)
    out = dict(_SCALAR_FUNCTIONS)
    if conv.vector:
        out.update(_VECTOR_FUNCTIONS)
    if conv.family == "mvn":
        out.update(_MATRIX_FUNCTIONS)
    return out


def _names_for(conv: Convention) -> tuple[str, ...]:
    extra = ("d",) if conv.vector else ()
    return conv.params + extra + tuple(_CONSTANTS)


def compile_expr(text: str, convention: Convention | str) -> Callable[..., Any]:
    """Compile a formula into a candidate function for ``convention``.

    Parameters
    ----------
    text : str
        An arithmetic expression in the convention's argument names (for
        ``prior-std``: ``mean`` and ``std``; for ``pair-logvar``:
        ``mean_p, logvar_p, mean_q, logvar_q``). Vector conventions may also
        use ``d`` (the dimension) and ``sum``/``mean`` over the last axis;
        ``mvn`` adds ``inv, det, logdet, trace`` and ``@``.
    convention : str

    Returns
    -------
    callable
        ``f(*args)`` in the convention's argument order, evaluated with numpy.

    Raises
    ------
    ExprError
        When the text is not an expression or uses anything outside the
        whitelist; the message names the offending piece.

    Examples
    --------
    >>> f = compile_expr("0.5*(std**2 + mean**2 - 1 - log(std**2))", "prior-std")
    >>> float(f(0.0, 1.0))
    0.0
    """
    conv = get_convention(convention)
    if not isinstance(text, str) or not text.strip():
        raise ExprError("the formula is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the formula is longer than {MAX_LENGTH} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a byte that is not UTF-8, given as a surrogate escape
        raise ExprError(f"not UTF-8 text: {text[exc.start]!r} at character {exc.start + 1}") from None
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ExprError(f"not an arithmetic expression ({exc.msg}{where}): {text.strip()!r}") from None
    names = _names_for(conv)
    functions = functions_for(conv)
    root = _Compiler(names, functions, conv).build(tree.body, 0)
    params = conv.params

    def candidate(*args: Any) -> Any:
        if len(args) != len(params):
            raise TypeError(f"expected {len(params)} arguments ({', '.join(params)}), got {len(args)}")
        env: dict[str, Any] = dict(zip(params, (np.asarray(a, dtype=np.float64) for a in args)))
        if conv.vector:
            env["d"] = np.float64(env[params[0]].shape[-1])
        env.update(_CONSTANTS)
        with np.errstate(all="ignore"):
            return root(env)

    candidate.__name__ = "expr"
    candidate.__qualname__ = "expr"
    candidate.__doc__ = f"{conv.name}: {text.strip()}"
    candidate.text = text.strip()  # type: ignore[attr-defined]  # an attribute set on a function: the formula as given
    return candidate


class _Compiler:
    def __init__(self, names: tuple[str, ...], functions: dict[str, Callable[..., Any]], conv: Convention) -> None:
        self.names = names
        self.functions = functions
        self.conv = conv

    def reject(self, node: ast.AST, what: str) -> ExprError:
        col = getattr(node, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        return ExprError(
            f"not allowed{where}: {what}; a formula may use numbers, {', '.join(self.names)}, "
            f"+ - * / ** and calls to {', '.join(sorted(self.functions))}"
        )

    def build(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise ExprError(f"the formula nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.reject(node, f"the constant {v!r} (only real numbers)")
            try:
                c = np.float64(v)
            except OverflowError:  # an integer literal beyond the float range
                digits = str(v)
                raise ExprError(
                    f"the number {digits[:20]}... ({len(digits)} digits) is too large for a float"
                ) from None
            return lambda env: c
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                hint = f" (a function: call it as {node.id}(...))" if node.id in self.functions else ""
                raise self.reject(node, f"unknown name {node.id!r}{hint}")
            key = node.id
            return lambda env: env[key]
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None or (isinstance(node.op, ast.MatMult) and self.conv.family != "mvn"):
                sym = _OPERATOR_NAMES.get(
                    type(node.op), "@" if isinstance(node.op, ast.MatMult) else type(node.op).__name__
                )
                raise self.reject(node, f"the operator {sym}")
            left, right = self.build(node.left, depth + 1), self.build(node.right, depth + 1)
            return lambda env: op(left(env), right(env))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                inner = self.build(node.operand, depth + 1)
                return lambda env: np.negative(inner(env))
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, depth + 1)
            raise self.reject(node, f"the operator {'not' if isinstance(node.op, ast.Not) else '~'}")
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.reject(node, _describe(node))

    def call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.reject(node.func, f"attribute access .{node.func.attr}")
            raise self.reject(node.func, "a call of something that is not a function name")
        name = node.func.id
        fn = self.functions.get(name)
        if fn is None:
            raise self.reject(node.func, f"call to unknown function {name!r}")
        if node.keywords:
            raise self.reject(node, f"keyword arguments in the call to {name}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.reject(node, f"*-arguments in the call to {name}")
        if len(node.args) != 1:
            raise self.reject(node, f"{name} with {len(node.args)} arguments (it takes one)")
        arg = self.build(node.args[0], depth + 1)
        return lambda env: fn(arg(env))


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: lambda n: f"attribute access .{n.attr}",
        ast.Subscript: lambda n: "subscripts [...]",
        ast.Lambda: lambda n: "lambda",
        ast.Compare: lambda n: "comparisons",
        ast.BoolOp: lambda n: "and/or",
        ast.IfExp: lambda n: "if/else expressions",
        ast.ListComp: lambda n: "comprehensions",
        ast.GeneratorExp: lambda n: "comprehensions",
        ast.SetComp: lambda n: "comprehensions",
        ast.DictComp: lambda n: "comprehensions",
        ast.NamedExpr: lambda n: "assignment (:=)",
        ast.JoinedStr: lambda n: "strings",
        ast.List: lambda n: "lists",
        ast.Tuple: lambda n: "tuples",
        ast.Dict: lambda n: "dicts",
        ast.Set: lambda n: "sets",
        ast.Await: lambda n: "await",
        ast.Yield: lambda n: "yield",
        ast.Starred: lambda n: "*-expressions",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text(node)
    return f"{type(node).__name__} expressions"
