"""One compiled engine per distinct ``tokenizer.json``, shared by every encoder that exports it.

Why: building an `Engine` parses the JSON twice (HF and fastokens) and encodes the probe set with both, about a
second for a 150k vocabulary; ``bpe`` and ``scaffold`` on one vocabulary (an analysis report builds both), or two
tokenizers loaded from the same file, export the same ``tokenizer.json`` and would each pay it. The cache key is
what determines the engine: a hash of the exported JSON text and of the special tokens the engine matches. Entries
live as long as an encoder holds them (weak values), so a cached engine never outlives its last user.

Exporting the JSON to learn that key is itself the larger cost (o200k: 1.7 s for ``to_hf`` and 0.6 s for the
text, per encoder), so `compiled_for` first looks up the vocabulary's content fingerprint (`fingerprint`: a hash
of every field, 0.1 s for o200k and computed once per vocabulary object) and the export function: encoders on
one vocabulary, or on equal vocabularies, then reuse one export and one engine without exporting again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Mapping
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from lexkit.vocabulary import JSON, Token, TokenKind, Vocabulary

if TYPE_CHECKING:
    import tokenizers

    from lexkit.engine import Engine

__all__ = ["CompiledTokenizer", "compiled", "compiled_for", "fingerprint"]


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
    digest.update(_specials_key(specials).encode("utf-8", "surrogatepass"))
    key = digest.hexdigest()
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = _CACHE[key] = CompiledTokenizer(data, text, specials)
        return found


_BY_EXPORT: weakref.WeakValueDictionary[tuple[str, str, str], CompiledTokenizer] = weakref.WeakValueDictionary()
_FINGERPRINTS: weakref.WeakKeyDictionary[Vocabulary, str] = weakref.WeakKeyDictionary()
# subtle: `fingerprint` hashes these Token fields one by one; a new field must be added there (the check fails).
_TOKEN_FIELDS = ("id", "content", "kind", "scaffold", "score", "added")


def compiled_for(vocabulary: Vocabulary, export: Callable[[], JSON], *, variant: str,
                 specials: Mapping[str, int]) -> CompiledTokenizer:
    """`compiled` of ``export()``, exported only when no encoder has compiled an equal vocabulary this way yet.

    Args:
        vocabulary: the vocabulary ``export`` reads (nothing else may change what it returns).
        export: returns the ``tokenizer.json`` object to compile (called at most once per key).
        variant: names ``export`` (e.g. the qualified name of the encoder's ``hf_json``): equal vocabularies
            exported by different functions get different engines.
        specials: the special tokens the engine may match itself.

    >>> from lexkit.components import byte_level_pre_tokenizer
    >>> from lexkit.formats.hf import to_hf
    >>> def vocabulary(*merges):
    ...     return Vocabulary.from_merges([bytes([b]) for b in range(256)], merges,
    ...                                   pre_tokenizer=byte_level_pre_tokenizer())
    >>> v, w, fewer = vocabulary((b"h", b"i")), vocabulary((b"h", b"i")), vocabulary()
    >>> a = compiled_for(v, lambda: to_hf(v), variant="to_hf", specials={})
    >>> a is compiled_for(w, lambda: 1 / 0, variant="to_hf", specials={})  # equal content: no export
    True
    >>> a is compiled_for(fewer, lambda: to_hf(fewer), variant="to_hf", specials={})
    False
    """
    key = (fingerprint(vocabulary), variant, _specials_key(specials))
    with _CACHE_LOCK:
        found = _BY_EXPORT.get(key)
    if found is None:
        found = compiled(export(), specials)
        with _CACHE_LOCK:
            found = _BY_EXPORT.setdefault(key, found)
    return found


def fingerprint(vocabulary: Vocabulary) -> str:
    """A SHA-256 of every field of ``vocabulary`` (equal for equal vocabularies), cached per vocabulary object.

    Token contents are hashed as their lengths and their concatenation, the rarely set token fields (kind other
    than normal, scaffold, score, added options) as a list of the tokens that set one; the other fields by repr.
    """
    with _CACHE_LOCK:
        found = _FINGERPRINTS.get(vocabulary)
    if found is not None:
        return found
    assert tuple(f.name for f in dataclasses.fields(Token)) == _TOKEN_FIELDS, "fingerprint: hash the new field"
    tokens = vocabulary.tokens
    digest = hashlib.sha256()
    digest.update(np.fromiter((len(t.content) for t in tokens), dtype=np.int64, count=len(tokens)).tobytes())
    digest.update(b"".join([t.content for t in tokens]))
    normal = TokenKind.NORMAL
    rare = [(t.id, t.kind.value, t.scaffold, t.score, t.added) for t in tokens  # ids are dense: tokens[i].id == i
            if t.kind is not normal or t.scaffold or t.score is not None or t.added is not None]
    digest.update(repr(rare).encode("utf-8", "surrogatepass"))
    merges = vocabulary.merges
    if set(map(len, merges)) <= {2}:
        digest.update(np.fromiter(chain.from_iterable(merges), dtype=np.int64, count=2 * len(merges)).tobytes())
    else:
        digest.update(repr(merges).encode("utf-8"))
    for field in dataclasses.fields(vocabulary):
        if field.name not in ("tokens", "merges"):
            # subtle: repr, not JSON: it tells 1 from "1" and tuples from lists (key order counts; no harm)
            digest.update(f"{field.name}={getattr(vocabulary, field.name)!r}\n".encode("utf-8", "surrogatepass"))
    found = digest.hexdigest()
    with _CACHE_LOCK:
        _FINGERPRINTS[vocabulary] = found
    return found


def _specials_key(specials: Mapping[str, int]) -> str:
    return json.dumps(sorted(specials.items()), ensure_ascii=False)
