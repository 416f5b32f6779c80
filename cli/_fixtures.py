"""The developer fixture cache (``make fixtures``: ``$LEXKIT_FIXTURES`` or ``./cache/fixtures``) as the CLI uses it.

Only the CLI looks there (library functions take paths): `lexkit demo` compares with the real GPT-2 and o200k
found there, and ``tiktoken:NAME`` specs read the cached ranks offline.
"""

from __future__ import annotations

import os
from pathlib import Path


def fixtures_dir() -> Path:
    """Where ``make fixtures`` puts the real tokenizers."""
    return Path(os.environ.get("LEXKIT_FIXTURES", "cache/fixtures"))


def use_fixture_tiktoken_cache() -> None:
    """Point tiktoken at the fixture cache's ranks when it holds them and the user chose no other cache."""
    cache = fixtures_dir() / "tiktoken"
    if cache.exists():
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache.resolve()))
