"""Shared test setup: import sanity check, hypothesis profiles, the tests/ folder on sys.path for helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

try:
    import lexkit.vocab  # noqa: F401
except ImportError as exc:  # pragma: no cover - only on a broken invocation
    raise pytest.UsageError(
        "lexkit.vocab does not import: the bare source folder lexkit/ (core only) is shadowing the installed "
        "package. Run `pytest` (not `python -m pytest`) from the repository root, or set PYTHONSAFEPATH=1."
    ) from exc

from hypothesis import HealthCheck, settings

# Test helper modules (_resources.py, strategies.py) live beside this file; tests import them by name.
sys.path.insert(0, str(Path(__file__).parent))

settings.register_profile(
    "lexkit",
    deadline=None,
    max_examples=int(os.environ.get("LEXKIT_MAX_EXAMPLES", "200")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("lexkit")
