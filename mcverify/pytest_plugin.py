"""pytest plugin: the ``assert_kl_correct`` fixture.

Registered under the ``pytest11`` entry point, so it is active wherever
mcverify is installed::

    def test_my_kl(assert_kl_correct):
        assert_kl_correct(my_kl, "diag-prior-logvar", backend="torch")

Without the installed entry point, enable it with ``-p mcverify.pytest_plugin``
or ``pytest_plugins = ["mcverify.pytest_plugin"]`` in a conftest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mcverify.testing import assert_kl_correct as _assert_kl_correct


@pytest.fixture
def assert_kl_correct() -> Callable[..., Any]:
    """:func:`mcverify.testing.assert_kl_correct`: audit a KL function, fail the test if it is wrong."""
    return _assert_kl_correct
