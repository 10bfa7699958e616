"""Shared fixtures. Tests run with ``host_tests/`` on ``sys.path``."""
from __future__ import annotations

import os
import sys
import pathlib

# DawDreamer's LLVM must be loaded before numba's (DESIGN.md, "Host bridge"). It is a required
# dependency: a missing or broken install fails the whole run here, not test by test.
import dawdreamer  # noqa: F401

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

IN_CI = os.environ.get("CI", "") not in ("", "0", "false")


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)


def require_file(path: str, package: str):
    """Skip (locally) or fail (CI) when a third-party plugin is not installed."""
    if os.path.exists(path):
        return path
    msg = f"{path} missing: install the Debian package {package!r}"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)
