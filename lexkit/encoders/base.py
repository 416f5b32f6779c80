"""The `Encoder` base class: how one vocabulary turns ordinary text (no special tokens) into ids."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import chain
from typing import ClassVar

import numpy as np

from lexkit.errors import LexkitError, LossyConversionError
from lexkit.vocabulary import JSON, Vocabulary

logger = logging.getLogger(__name__)

__all__ = ["Encoder"]


class Encoder:
    """Base class: turns ordinary text into ids for one vocabulary."""

    name: ClassVar[str]
    models: ClassVar[frozenset[str]]  # vocabulary model families this encoder applies to
    alphabets: ClassVar[frozenset[str]] = frozenset({"bytes"})  # alphabet kinds it encodes

    def __init__(self, vocabulary: Vocabulary) -> None:
        if vocabulary.model not in self.models:
            raise LexkitError(
                f"encoder {self.name!r} works on {'/'.join(sorted(self.models))} vocabularies, not "
                f"{vocabulary.model!r}; pick one of: {', '.join(_applicable(vocabulary))}"
            )
        only = vocabulary.metadata.get("only_encoders")  # vocabularies whose ids mean nothing to other encoders
        if isinstance(only, list) and self.name not in only:
            raise LexkitError(
                f"encoder {self.name!r} cannot run this vocabulary (trained for {', '.join(map(str, only))}); "
                f"use Tokenizer(vocabulary, encoder={only[0]!r})"
            )
        self.vocabulary = vocabulary

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Ids of ``text``, treating any special-token text as ordinary text."""
        raise NotImplementedError

    def encode_ordinary_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        """`encode_ordinary` over many texts (fast paths run them in parallel)."""
        return [self.encode_ordinary(t, add_special_tokens=add_special_tokens) for t in texts]

    def encode_ordinary_batch_flat(self, texts: Sequence[str], *, add_special_tokens: bool = False
                                   ) -> tuple[np.ndarray, np.ndarray]:
        """`encode_ordinary_batch` as one ``uint32`` id array and ``len(texts) + 1`` offsets (text ``i`` is
        ``ids[offsets[i]:offsets[i + 1]]``)."""
        lists = self.encode_ordinary_batch(texts, add_special_tokens=add_special_tokens)
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum([len(ids) for ids in lists], out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(lists), dtype=np.uint32, count=int(offsets[-1]))
        return flat, offsets

    def post_process(self, ids: list[int]) -> list[int]:
        """Add what the post-processor adds around one sequence (BOS, ``[CLS] ... [SEP]``)."""
        if self.vocabulary.post_processor is None:
            return ids
        raise NotImplementedError(f"encoder {self.name!r} cannot run the post-processor")

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """A standalone ``tokenizer.json`` object that encodes as this encoder does.

        Raises:
            LossyConversionError: the encoder has no ``tokenizer.json`` form; with ``allow_lossy=True`` the
                vocabulary's plain BPE form is returned instead (a warning is logged).
        """
        from lexkit.formats.hf import to_hf

        if not allow_lossy:
            raise LossyConversionError(
                f"encoder {self.name!r} cannot be written as a tokenizer.json (HF would encode differently); "
                "save lexkit.json (Tokenizer.save does), or pass allow_lossy=True to export the plain BPE model"
            )
        logger.warning("tokenizer.json for encoder %r holds the plain model: HF will encode differently", self.name)
        return to_hf(self.vocabulary, allow_lossy=True)



def _applicable(vocabulary: Vocabulary) -> list[str]:
    """The registry's encoders for ``vocabulary`` (the registry imports this module, so it is read at call time)."""
    from lexkit.encoders import encoders_for

    return encoders_for(vocabulary)


def _refuse_scaffolds(encoder: Encoder) -> None:
    """Raise when an encoder that emits merge results would run on a Scaffold-BPE vocabulary."""
    scaffolds = len(encoder.vocabulary) - encoder.vocabulary.model_size
    if scaffolds:
        raise LexkitError(
            f"the vocabulary has {scaffolds} scaffold tokens, which encoder {encoder.name!r} would emit although "
            "they have no embedding rows; use Tokenizer(vocabulary, encoder='scaffold') (the encoder recorded in "
            "vocabulary.metadata['encoder'], which Tokenizer.load picks)"
        )
