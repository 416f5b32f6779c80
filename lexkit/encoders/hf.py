"""Encoders that HF ``tokenizers`` runs: the vocabulary compiles to a ``tokenizer.json`` that `lexkit.engine`
encodes (fastokens where it reproduces HF, else HF's own Rust engine).

- ``bpe``: merges by rank (HF merge-list semantics).
- ``longest-prefix`` (WordPiece) and ``unigram``: the HF models of those vocabularies.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from lexkit.encoders.base import Encoder, _refuse_scaffolds
from lexkit.vocabulary import JSON, Vocabulary

if TYPE_CHECKING:
    import tokenizers

    from lexkit.encoders._engines import CompiledTokenizer
    from lexkit.engine import Engine

__all__ = ["BPEEncoder", "HFEncoder", "LongestPrefixEncoder", "UnigramEncoder"]


class HFEncoder(Encoder):
    """An encoder whose fast path is `lexkit.engine` running the exported ``tokenizer.json``.

    ``backend`` is the HF ``tokenizers`` engine (the reference, and the fallback the `Engine` uses when fastokens
    cannot run this tokenizer.json or gives other ids on the probe set). Both belong to `compiled`, one object
    for every encoder whose ``hf_json()`` and special tokens are equal (``bpe`` and ``scaffold`` on one vocabulary).
    """

    def hf_json(self) -> JSON:
        """The tokenizer.json the engine runs: specials removed (lexkit handles them), no truncation/padding."""
        from lexkit.formats.hf import to_hf

        data = to_hf(self.vocabulary, allow_lossy=True)
        data["added_tokens"] = [a for a in data.get("added_tokens", []) if not a["special"]]
        data["truncation"] = None
        data["padding"] = None
        return data

    @cached_property
    def compiled(self) -> CompiledTokenizer:
        """``hf_json()`` compiled, shared by every encoder that exports the same one (`lexkit.encoders._engines`):
        keyed by the vocabulary's fingerprint and the ``hf_json`` that exports it, so an encoder whose export
        is already compiled does not export again (``hf_json`` must read nothing but the vocabulary)."""
        from lexkit.encoders._engines import compiled_for

        export = type(self).hf_json
        return compiled_for(self.vocabulary, self.hf_json, variant=f"{export.__module__}.{export.__qualname__}",
                            specials=self.vocabulary.special_tokens)

    @property
    def backend(self) -> tokenizers.Tokenizer:
        """The compiled HF tokenizer (built on first use)."""
        return self.compiled.backend

    @property
    def engine(self) -> Engine:
        """The encode engine (built on first use; `lexkit.engine` says which engine runs and why)."""
        return self.compiled.engine

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        return self.engine.encode(text, add_special_tokens=add_special_tokens)

    @cached_property
    def _affixes(self) -> tuple[list[int], list[int]]:
        """The ids the post-processor puts before and after a single sequence, found by probing the engine."""
        plain = self.backend.encode("a", add_special_tokens=False).ids
        full = self.backend.encode("a", add_special_tokens=True).ids
        start = next(i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain)
        return full[:start], full[start + len(plain):]

    def post_process(self, ids: list[int]) -> list[int]:
        prefix, suffix = self._affixes
        return [*prefix, *ids, *suffix]

    def encode_ordinary_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        return self.engine.encode_batch(texts, add_special_tokens=add_special_tokens)

    def encode_ordinary_batch_flat(self, texts: Sequence[str], *, add_special_tokens: bool = False
                                   ) -> tuple[np.ndarray, np.ndarray]:
        return self._finish_flat(*self.engine.encode_batch_flat(texts, add_special_tokens=add_special_tokens))

    def encode_ordinary_batch_flat_scanned(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """`encode_ordinary_batch_flat` that also looks for special-token texts in the same engine pass: None
        when a text holds one or the engine cannot look (the caller then scans the text itself)."""
        found = self.engine.encode_batch_flat_scanned(texts)
        return None if found is None else self._finish_flat(*found)

    def _finish_flat(self, ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The engine's flat ids as this encoder's ids (unchanged here; Scaffold-BPE demolishes scaffolds)."""
        return ids, offsets

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """The vocabulary's own ``tokenizer.json`` (HF runs exactly this encoder).

        Raises:
            LossyConversionError: the vocabulary holds what the format cannot (see `lexkit.formats.hf.to_hf`).
        """
        from lexkit.formats.hf import to_hf

        return to_hf(self.vocabulary, allow_lossy=allow_lossy)


class BPEEncoder(HFEncoder):
    """Classic BPE: apply merges by rank (HF merge-list semantics; tiktoken ranks converted to merges)."""

    name = "bpe"
    models = frozenset({"bpe"})

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(vocabulary)
        _refuse_scaffolds(self)



class LongestPrefixEncoder(HFEncoder):
    """WordPiece-style greedy longest-prefix matching.

    Runs on lexkit's WordPiece kernel (`lexkit._wordpiece`) for BERT's pipeline and for WordPiece over byte-level
    pre-tokens (ByteSpan's, ``lexkit.vocab.bytespan``), probed against HF by `lexkit.engine.Engine`; other
    pipelines (e.g. ByteSpan with a normalizer) run on HF ``tokenizers``.
    """

    name = "longest-prefix"
    models = frozenset({"wordpiece"})


class UnigramEncoder(HFEncoder):
    """Unigram LM segmentation (Viterbi over piece scores)."""

    name = "unigram"
    models = frozenset({"unigram"})
