"""One compiled engine per distinct ``tokenizer.json``, shared by every encoder that exports it.

Why: building an `Engine` parses the JSON twice (HF and fastokens) and encodes the probe set with both, about a
second for a 150k vocabulary; ``bpe`` and ``scaffold`` on one vocabulary (an analysis report builds both), or two
tokenizers loaded from the same file, export the same ``tokenizer.json`` and would each pay it. The cache key is
what determines the engine: a hash of the exported JSON text and of the special tokens the engine matches. Entries
live as long as an encoder holds them (weak values), so a cached engine never outlives its last user.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from lexkit.vocabulary import JSON

if TYPE_CHECKING:
    import tokenizers

    from lexkit.engine import Engine

__all__ = ["CompiledTokenizer", "compiled"]


class CompiledTokenizer:
    """A ``tokenizer.json`` compiled on first use: the HF reference (``backend``) and the encode ``engine``.

    Args:
        data: the ``tokenizer.json`` object the engine runs.
        text: ``data`` serialized (what HF parses).
        specials: the special tokens the engine may match itself (`lexkit.engine.Engine`'s ``specials``).
    """

    def __init__(self, data: JSON, text: str, specials: Mapping[str, int]) -> None:
        self._data: JSON | None = data
        self._text = text
        self._specials = dict(specials)
        self._lock = threading.Lock()

    @cached_property
    def backend(self) -> tokenizers.Tokenizer:
        """The HF ``tokenizers`` engine (the reference and the fallback)."""
        from tokenizers import Tokenizer as HFTokenizer

        return HFTokenizer.from_str(self._text)

    @cached_property
    def engine(self) -> Engine:
        """The encode engine (`lexkit.engine` says which engine runs and why)."""
        from lexkit.engine import Engine

        with self._lock:  # subtle: two threads must not build (and probe) two engines for one entry
            if "engine" in self.__dict__:
                return self.__dict__["engine"]  # type: ignore[no-any-return]
            assert self._data is not None
            engine = self.__dict__["engine"] = Engine(self._data, self.backend, specials=self._specials)
            self._data = None  # the JSON object is only needed to build the engine
            return engine


_CACHE: weakref.WeakValueDictionary[str, CompiledTokenizer] = weakref.WeakValueDictionary()
_CACHE_LOCK = threading.Lock()


def compiled(data: JSON, specials: Mapping[str, int]) -> CompiledTokenizer:
    """The shared compiled form of ``data`` with ``specials``: the same object for an equal JSON and equal specials.

    >>> from lexkit.components import byte_level_pre_tokenizer
    >>> from lexkit.formats.hf import to_hf
    >>> from lexkit.vocabulary import Vocabulary
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"h", b"i")],
    ...     pre_tokenizer=byte_level_pre_tokenizer())
    >>> a, b = compiled(to_hf(v), {}), compiled(to_hf(v), {})
    >>> a is b, a is compiled(to_hf(v), {"<s>": 3})
    (True, False)
    """
    text = json.dumps(data, ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    digest.update(json.dumps(sorted(specials.items()), ensure_ascii=False).encode("utf-8", "surrogatepass"))
    key = digest.hexdigest()
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = _CACHE[key] = CompiledTokenizer(data, text, specials)
        return found
