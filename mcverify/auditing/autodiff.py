"""A candidate run as training runs it: inputs in a training dtype, gradients by autodiff.

Two per-backend hooks, each one function in a registry:

- :data:`CASTS`: a float64 numpy array -> the backend's array in a given
  dtype (``float64``, ``float32``, ``bfloat16``, ``float16``); the value
  audit hands these to the candidate (:func:`in_dtype`).
- :data:`GRADIENTS`: ``(func, args) -> (values, gradients)``, the
  candidate's values and the gradient of their sum with respect to each
  argument (``None`` where no gradient reaches it), by the backend's own
  automatic differentiation: ``torch.autograd.grad``, ``jax.vjp``,
  TensorFlow's ``GradientTape``. A further backend joins by adding one
  function to each registry.

Only the numpy backend cannot differentiate. Libraries are imported inside
the functions.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.auditing.backends import Backend, BackendUnavailable, import_tensorflow
from mcverify.auditing.registry import DTYPES

__all__ = ["CASTS", "DTYPES", "GRADIENTS", "can_differentiate", "check_dtype", "in_dtype", "value_and_grad"]


Grads = list[NDArray[np.float64] | None]


def check_dtype(dtype: str, backend: str) -> None:
    """Raise ``ValueError`` for an unknown dtype, ``BackendUnavailable`` when the backend lacks it."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    if backend == "numpy" and dtype == "bfloat16":
        try:
            import ml_dtypes  # noqa: F401
        except ImportError:
            raise BackendUnavailable(
                "numpy has no bfloat16 without the ml_dtypes package (pip install ml_dtypes); "
                "or audit with --backend torch or jax"
            ) from None


# ------------------------------------------------------------------ casts
def _numpy_cast(a: Any, dtype: str) -> Any:
    if dtype == "bfloat16":
        import ml_dtypes

        np_type: Any = ml_dtypes.bfloat16
    else:
        np_type = np.dtype(dtype)
    with np.errstate(over="ignore"):
        arr = np.array(np.asarray(a, dtype=np.float64)).astype(np_type)
    return arr[()] if arr.ndim == 0 else arr


def _torch_cast(a: Any, dtype: str) -> Any:
    import torch

    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64).to(getattr(torch, dtype))


def _jax_cast(a: Any, dtype: str) -> Any:
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(a, dtype=np.float64), dtype=getattr(jnp, dtype))


def _tensorflow_cast(a: Any, dtype: str) -> Any:
    tf = import_tensorflow()
    return tf.cast(tf.constant(np.asarray(a, dtype=np.float64), dtype=tf.float64), getattr(tf, dtype))


#: Backend name -> cast of a float64 numpy array to that backend's array of a dtype.
CASTS: dict[str, Callable[[Any, str], Any]] = {
    "numpy": _numpy_cast,
    "torch": _torch_cast,
    "jax": _jax_cast,
    "tensorflow": _tensorflow_cast,
}


def in_dtype(backend: Backend, dtype: str) -> Backend:
    """``backend`` handing the candidate arrays of ``dtype`` (itself for float64)."""
    if dtype == "float64":
        return backend
    cast = CASTS[backend.name]
    return replace(backend, to_native=lambda a: cast(a, dtype))


# -------------------------------------------------------------- gradients
def _torch_value_and_grad(func: Callable[..., Any], args: Sequence[NDArray[np.float64]]) -> tuple[Any, Grads]:
    import torch

    xs = [torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=True) for a in args]
    out = func(*xs)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"returns {type(out).__name__}, not a tensor: no gradient can flow")
    value = out.detach().to(torch.float64).numpy()
    if not out.requires_grad:
        return value, [None] * len(xs)
    grads = torch.autograd.grad(out.to(torch.float64).sum(), xs, allow_unused=True)
    return value, [None if g is None else g.detach().to(torch.float64).numpy() for g in grads]


def _jax_value_and_grad(func: Callable[..., Any], args: Sequence[NDArray[np.float64]]) -> tuple[Any, Grads]:
    import jax
    import jax.numpy as jnp

    xs = [jnp.asarray(np.asarray(a, dtype=np.float64), dtype=jnp.float64) for a in args]

    def both(*x: Any) -> tuple[Any, Any]:
        out, pullback = jax.vjp(func, *x)
        return out, pullback(jnp.ones_like(out))

    try:  # compiled: one compilation per shape instead of one per primitive and shape
        out, grads = _jitted(func, both)(*xs)
    except Exception:  # Python control flow on values, side effects...: run eagerly
        out, grads = both(*xs)
    return np.asarray(out, dtype=np.float64), [np.asarray(g, dtype=np.float64) for g in grads]


#: Compiled value-and-gradient per candidate, so that auditing one function again reuses the compilations.
_JITTED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _jitted(func: Callable[..., Any], both: Callable[..., Any]) -> Any:
    import jax

    try:
        hit = _JITTED.get(func)
    except TypeError:  # not weakly referable: compile for this call only
        return jax.jit(both)
    if hit is None:
        hit = jax.jit(both)
        _JITTED[func] = hit
    return hit


def _tensorflow_value_and_grad(func: Callable[..., Any], args: Sequence[NDArray[np.float64]]) -> tuple[Any, Grads]:
    tf = import_tensorflow()
    xs = [tf.constant(np.asarray(a, dtype=np.float64), dtype=tf.float64) for a in args]
    with tf.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        out = func(*xs)
        if not isinstance(out, (tf.Tensor, tf.Variable)):
            raise TypeError(f"returns {type(out).__name__}, not a tensor: no gradient can flow")
        total = tf.reduce_sum(tf.cast(out, tf.float64))
    grads = tape.gradient(total, xs)  # None where no gradient reaches an argument
    value = tf.cast(out, tf.float64).numpy()
    return value, [None if g is None else tf.cast(g, tf.float64).numpy() for g in grads]


#: Backend name -> ``(func, float64 args) -> (values, gradient of their sum per argument)``.
GRADIENTS: dict[str, Callable[[Callable[..., Any], Sequence[NDArray[np.float64]]], tuple[Any, Grads]]] = {
    "torch": _torch_value_and_grad,
    "jax": _jax_value_and_grad,
    "tensorflow": _tensorflow_value_and_grad,
}


def can_differentiate(backend: Backend | str) -> bool:
    """True when the backend's library differentiates candidates."""
    return (backend if isinstance(backend, str) else backend.name) in GRADIENTS


def value_and_grad(
    func: Callable[..., Any], args: Sequence[NDArray[np.float64]], backend: Backend
) -> tuple[NDArray[np.float64], Grads]:
    r"""The candidate's values and :math:`\partial \sum_i f_i / \partial x_k` for each argument ``x_k``.

    With probes stacked along a leading batch axis, the gradient of the sum
    holds each probe's gradient in its own rows (probes do not mix).

    Raises
    ------
    ValueError
        When the backend cannot differentiate.
    """
    if not can_differentiate(backend):
        raise ValueError(f"the {backend.name} backend cannot differentiate")
    with backend.scope():
        value, grads = GRADIENTS[backend.name](func, args)
    return np.asarray(backend.to_numpy(value), dtype=np.float64), grads
