"""Pausing Python's cyclic garbage collector while code builds large structures that hold no garbage.

Why: reading or exporting a 200k-token vocabulary, or the merge engine's training state, allocates millions of
tuples, lists and dataclass objects, none of them garbage; each allocation burst triggers collections that walk
every live object again (o200k: 25-30 % of ``from_tiktoken`` and ``to_hf``). Nothing they allocate forms a
reference cycle that must be freed meanwhile.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block; re-enable it after only if it was enabled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
