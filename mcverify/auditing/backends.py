"""Array backends: hand a candidate the array type it is written for.

The audit builds every probe as float64 numpy arrays. A candidate written
with PyTorch receives float64 tensors instead (``backend="torch"``), one
written with JAX float64 jax arrays (``backend="jax"``, with 64-bit mode
switched on only for the duration of each call), so that a loss function is
audited exactly as it runs in training; its result is converted back to
numpy. A candidate written with TensorFlow or Keras receives float64 eager
tensors (``backend="tensorflow"``). PyTorch, JAX and TensorFlow are imported
only when asked for; TensorFlow's own start-up log lines (oneDNN, CUDA, absl)
are kept out of the audit's output.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.auditing.registry import BACKENDS
from mcverify.extras import require_extra

__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "ResultTypeError", "as_float64", "get_backend"]


class BackendUnavailable(ImportError):
    """The array library a backend needs is not installed."""


@dataclass(frozen=True)
class Backend:
    """Conversion to and from a candidate's array type.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"torch"``, ``"jax"`` or ``"tensorflow"``.
    to_native : callable
        float64 numpy array (or numpy scalar) -> the candidate's type.
    to_numpy : callable
        The candidate's result -> float64 numpy array; raises
        :class:`ResultTypeError` for complex values (with a non-zero
        imaginary part), text and other objects that are not real numbers.
    scope : callable
        Returns the context manager every call runs in (JAX's 64-bit mode;
        nothing for the others).
    """

    name: str
    to_native: Callable[[Any], Any]
    to_numpy: Callable[[Any], NDArray[np.float64]]
    scope: Callable[[], contextlib.AbstractContextManager[Any]] = field(default=contextlib.nullcontext)


class ResultTypeError(TypeError):
    """A candidate's result is not made of real numbers: complex values, text, other objects.

    The audit reports it as a failure of the probes concerned (status
    ``wrong-type``), never converting the value.
    """


def as_float64(value: Any) -> NDArray[np.float64]:
    """A candidate's result (numpy array, scalar, list...) as float64, refusing what is not real numbers.

    Complex values are refused unless every imaginary part is exactly zero
    (``np.emath`` and ``scipy`` functions return complex types for real
    results): then the real part is kept.  Text, bytes, dates and other
    objects are refused; ``None`` is NaN, as numpy has it.

    Raises
    ------
    ResultTypeError
        ``returns complex values (0.5+5j)``, ``returns text ('0.5')`` and the like.
    """
    arr = np.asarray(value)
    if arr.dtype.name == "bfloat16":  # ml_dtypes' numpy type (jax, numpy in bfloat16): numeric, kind "V"
        return arr.astype(np.float64)
    if arr.dtype.kind == "O":
        items = arr.ravel().tolist()
        text = next((x for x in items if isinstance(x, (str, bytes))), None)
        if text is not None:
            raise ResultTypeError(f"returns text ({_clip(repr(text))})")
        if any(isinstance(x, complex) for x in items):
            arr = arr.astype(np.complex128)
    if arr.dtype.kind == "c":
        imag = arr.imag
        if np.any(imag != 0):  # NaN imaginary parts count as non-zero
            first = arr.ravel()[int(np.argmax((imag != 0).ravel()))]
            raise ResultTypeError(f"returns complex values ({_clip(str(first).strip('()'))})")
        return np.ascontiguousarray(arr.real, dtype=np.float64)
    if arr.dtype.kind in "USaV":
        raise ResultTypeError(f"returns text ({_clip(repr(arr.ravel()[0].item() if arr.size else ''))})")
    if arr.dtype.kind in "mM":
        raise ResultTypeError(f"returns {arr.dtype} values")
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        bad = type(arr.ravel()[0]).__name__ if arr.size else type(value).__name__
        raise ResultTypeError(f"returns {bad} values ({_clip(str(exc))})") from None


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numpy_to_numpy(value: Any) -> NDArray[np.float64]:
    return as_float64(value)


def _numpy_backend() -> Backend:
    def native(a: Any) -> Any:
        # A fresh copy each call: a candidate that writes into its inputs
        # cannot corrupt later probes.
        arr = np.array(a, dtype=np.float64)
        return arr[()] if arr.ndim == 0 else arr

    return Backend("numpy", native, _numpy_to_numpy)


def _torch_backend() -> Backend:
    require_extra("torch", "the torch backend", BackendUnavailable)
    import torch

    def native(a: Any) -> Any:
        return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)

    def back(value: Any) -> NDArray[np.float64]:
        if isinstance(value, torch.Tensor):
            value = value.detach().to("cpu")
            if value.is_complex():  # converted to float64 by torch, the imaginary part would be dropped
                return as_float64(value.to(torch.complex128).resolve_conj().numpy())
            return value.to(torch.float64).numpy()
        if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
            return np.asarray([back(v) for v in value], dtype=np.float64)
        return as_float64(value)

    return Backend("torch", native, back)


def _jax_backend() -> Backend:
    require_extra("jax", "the jax backend", BackendUnavailable)
    import jax
    import jax.numpy as jnp

    scope: Callable[[], contextlib.AbstractContextManager[Any]]
    if hasattr(jax, "enable_x64"):  # jax >= 0.5: a config context manager

        def config_scope() -> contextlib.AbstractContextManager[Any]:
            return jax.enable_x64(True)

        scope = config_scope
    else:  # pragma: no cover - older jax
        import jax.experimental

        scope = getattr(jax.experimental, "enable_x64")  # noqa: B009 - gone from newer jax, so not in its stubs

    def native(a: Any) -> Any:
        return jnp.asarray(np.asarray(a, dtype=np.float64), dtype=jnp.float64)

    def back(value: Any) -> NDArray[np.float64]:
        return as_float64(value)

    return Backend("jax", native, back, scope)


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence what native code writes to stderr (file descriptor 2), and TF_CPP_MIN_LOG_LEVEL, for the duration.

    TensorFlow's import and its first operation print oneDNN, CUDA and absl
    log lines straight to file descriptor 2, whatever Python's ``sys.stderr``
    is. The environment variable is restored afterwards, so that a user's own
    TensorFlow settings are not changed.
    """
    saved_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        with tempfile.TemporaryFile() as sink:
            sys.stderr.flush()
            try:
                saved_fd = os.dup(2)  # native code writes to descriptor 2, whatever sys.stderr is
            except OSError:  # closed: nothing to silence
                yield
                return
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
    finally:
        if saved_level is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = saved_level


def import_tensorflow() -> Any:
    """TensorFlow, imported (the first time) without its start-up log lines.

    Raises
    ------
    BackendUnavailable
        When TensorFlow is not installed; the message names the extra.
    """
    if sys.modules.get("tensorflow") is not None:  # imported already (None: an import that is blocked)
        return sys.modules["tensorflow"]
    with quiet_native_logs():
        require_extra("tensorflow", "the tensorflow backend", BackendUnavailable)
        import tensorflow as tf

        tf.constant(0.0, dtype=tf.float64) + 0.0  # the first operation initialises the devices, and logs too
    return tf


def _tensorflow_backend() -> Backend:
    tf = import_tensorflow()

    def native(a: Any) -> Any:
        return tf.constant(np.asarray(a, dtype=np.float64), dtype=tf.float64)

    def back(value: Any) -> NDArray[np.float64]:
        if isinstance(value, (tf.Tensor, tf.Variable)):
            return as_float64(value.numpy())
        if isinstance(value, (list, tuple)) and any(isinstance(v, (tf.Tensor, tf.Variable)) for v in value):
            return np.asarray([back(v) for v in value], dtype=np.float64)
        return as_float64(value)

    return Backend("tensorflow", native, back)


def get_backend(name: str) -> Backend:
    """The backend called ``name``.

    Raises
    ------
    ValueError
        For an unknown name.
    BackendUnavailable
        When its library is not installed; the message names the extra.
    """
    if name == "numpy":
        return _numpy_backend()
    if name == "torch":
        return _torch_backend()
    if name == "jax":
        return _jax_backend()
    if name == "tensorflow":
        return _tensorflow_backend()
    raise ValueError(f"unknown backend {name!r}: choose from {', '.join(BACKENDS)}")
