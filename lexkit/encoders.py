"""Named encoders: how a `Vocabulary` turns ordinary text (no special tokens) into ids.

Encoders that HF ``tokenizers`` can express compile the vocabulary to a ``tokenizer.json`` and run in its Rust
engine; `lexkit._reference` holds the slow, obviously-correct versions they are tested against. The registry is
a static dictionary; later trainers add their encoders here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from lexkit.errors import LexkitError
from lexkit.vocabulary import JSON, Vocabulary

if TYPE_CHECKING:
    import tokenizers


class Encoder:
    """Base class: turns ordinary text into ids for one vocabulary."""

    name: ClassVar[str]
    models: ClassVar[frozenset[str]]  # vocabulary model families this encoder applies to

    def __init__(self, vocabulary: Vocabulary) -> None:
        if vocabulary.model not in self.models:
            raise LexkitError(
                f"encoder {self.name!r} works on {'/'.join(sorted(self.models))} vocabularies, not "
                f"{vocabulary.model!r}; pick one of: {', '.join(encoders_for(vocabulary))}"
            )
        self.vocabulary = vocabulary

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Ids of ``text``, treating any special-token text as ordinary text."""
        raise NotImplementedError

    def encode_ordinary_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        """`encode_ordinary` over many texts (fast paths run them in parallel)."""
        return [self.encode_ordinary(t, add_special_tokens=add_special_tokens) for t in texts]

    def post_process(self, ids: list[int]) -> list[int]:
        """Add what the post-processor adds around one sequence (BOS, ``[CLS] ... [SEP]``)."""
        if self.vocabulary.post_processor is None:
            return ids
        raise NotImplementedError(f"encoder {self.name!r} cannot run the post-processor")


class HFEncoder(Encoder):
    """An encoder whose fast path is the HF ``tokenizers`` engine running the exported ``tokenizer.json``."""

    def hf_json(self) -> JSON:
        """The tokenizer.json the engine runs: specials removed (lexkit handles them), no truncation/padding."""
        from lexkit.formats.hf import to_hf

        data = to_hf(self.vocabulary, allow_lossy=True)
        data["added_tokens"] = [a for a in data.get("added_tokens", []) if not a["special"]]
        data["truncation"] = None
        data["padding"] = None
        return data

    @cached_property
    def backend(self) -> tokenizers.Tokenizer:
        """The compiled HF tokenizer (built on first use)."""
        from tokenizers import Tokenizer as HFTokenizer

        return HFTokenizer.from_str(json.dumps(self.hf_json(), ensure_ascii=False))

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        ids: list[int] = self.backend.encode(text, add_special_tokens=add_special_tokens).ids
        return ids

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
        fast: Any = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)
        return [e.ids for e in fast(list(texts), add_special_tokens=add_special_tokens)]


class BPEEncoder(HFEncoder):
    """Classic BPE: apply merges by rank (HF merge-list semantics; tiktoken ranks converted to merges)."""

    name = "bpe"
    models = frozenset({"bpe"})


class LongestPrefixEncoder(HFEncoder):
    """WordPiece-style greedy longest-prefix matching."""

    name = "longest-prefix"
    models = frozenset({"wordpiece"})


class UnigramEncoder(HFEncoder):
    """Unigram LM segmentation (Viterbi over piece scores)."""

    name = "unigram"
    models = frozenset({"unigram"})


ENCODERS: dict[str, type[Encoder]] = {
    cls.name: cls for cls in (BPEEncoder, LongestPrefixEncoder, UnigramEncoder)
}
DEFAULT_ENCODER = {"bpe": "bpe", "wordpiece": "longest-prefix", "unigram": "unigram"}


def encoders_for(vocabulary: Vocabulary) -> list[str]:
    """Names of the registered encoders that apply to this vocabulary."""
    return [name for name, cls in ENCODERS.items() if vocabulary.model in cls.models]


def get_encoder(name: str, vocabulary: Vocabulary) -> Encoder:
    """Instantiate the encoder registered as ``name`` for ``vocabulary``.

    Raises:
        LexkitError: no encoder has that name, or it does not apply to this vocabulary.
    """
    try:
        cls = ENCODERS[name]
    except KeyError:
        raise LexkitError(
            f"unknown encoder {name!r}; registered encoders: {', '.join(ENCODERS)}"
        ) from None
    return cls(vocabulary)
