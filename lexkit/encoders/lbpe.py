"""The LBPE encoders (Lian et al., arXiv 2411.05504): readings of a BPE vocabulary that prefer long tokens.

- ``long-first``: LBPE reading B: BPE whose merges are re-ranked by the length of the merged token, longest
  first, ties by rank; a plain BPE model to HF, so it runs at BPE speed.
- ``longest-token``: LBPE reading A / FLOTA (Hofmann et al. 2022): the longest vocabulary token anywhere in
  the pre-token, leftmost among equals, then both sides recursively.
- ``longest-pair``: LBPE's vocabulary reading: merge the adjacent pair that spells the longest vocabulary
  token, merge rule or not; exports as a BPE ``tokenizer.json`` over every split of every token.
- ``fewest-tokens``: LBPE's default: the fewest tokens per pre-token, the latest-learned among those. The three
  readings above run in the C kernel of `lexkit._lbpe` (Python when it is not built).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from lexkit.encoders.base import Encoder, _refuse_scaffolds
from lexkit.encoders.hf import HFEncoder
from lexkit.errors import EncodingError
from lexkit.vocabulary import JSON, Vocabulary

if TYPE_CHECKING:
    import numpy as np

    from lexkit._lbpe import Reading, Segmenter

__all__ = ["FewestTokensEncoder", "LongFirstEncoder", "LongestPairEncoder", "LongestTokenEncoder",
           "long_first_order"]


def long_first_order(vocabulary: Vocabulary) -> list[int]:
    """LBPE's merge order: ranks sorted by the merged token's length in bytes, longest first, ties by rank.

    >>> from lexkit.vocabulary import Vocabulary
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b"), (b"c", b"d"), (b"ab", b"c")])
    >>> long_first_order(v)
    [2, 0, 1]
    """
    import numpy as np

    sizes = np.fromiter((len(token.content) for token in vocabulary.tokens), dtype=np.int64,
                        count=len(vocabulary.tokens))
    merges = vocabulary.merges
    lengths = sizes[[merge[0] for merge in merges]] + sizes[[merge[1] for merge in merges]]
    order: list[int] = np.lexsort((np.arange(len(merges)), -lengths)).tolist()  # numpy: o200k in 0.1 s, not 0.9
    return order


class LongFirstEncoder(HFEncoder):
    """LBPE reading B: BPE whose merges are re-ranked by merged-token length (longest first, ties by rank).

    Within a pre-token the applicable merge that builds the longest token is applied first (leftmost among
    equal merges), which is HF's BPE loop over the re-ordered merge list.
    """

    name = "long-first"
    models = frozenset({"bpe"})

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(vocabulary)
        _refuse_scaffolds(self)

    def hf_json(self) -> JSON:
        data = super().hf_json()
        return _reorder_merges(data, long_first_order(self.vocabulary))

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """``tokenizer.json`` with the re-ranked merges: HF's plain BPE then encodes long-first."""
        return _reorder_merges(super().to_hf(allow_lossy=allow_lossy), long_first_order(self.vocabulary))


def _reorder_merges(data: JSON, order: list[int]) -> JSON:
    merges = data["model"]["merges"]
    data["model"]["merges"] = [merges[rank] for rank in order]
    return data



class LongestTokenEncoder(Encoder):
    """LBPE reading A / FLOTA: the longest vocabulary token anywhere in a pre-token, then both sides.

    Among tokens of equal length the leftmost occurrence wins; pieces never span the chosen token. Needs a
    byte-complete vocabulary (every single byte is a token), which byte-level BPE vocabularies are. Runs in
    the compiled kernel of `lexkit._lbpe` (Python when it is not built), with a cache per pre-token.
    """

    name = "longest-token"
    models = frozenset({"bpe"})
    reading: ClassVar[Reading] = "longest-token"

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(vocabulary)
        from lexkit._lbpe import check_vocabulary

        check_vocabulary(vocabulary)

    @cached_property
    def segmenter(self) -> Segmenter:
        """The reading's segmenter, built on first use (its token table and kernel take 0.3 s for o200k: an
        analysis report builds every encoder but may encode with it only in a worker process)."""
        from lexkit._lbpe import Segmenter

        return Segmenter(self.vocabulary, self.reading)

    def _refuse_post_processor(self, add_special_tokens: bool) -> None:
        if add_special_tokens and self.vocabulary.post_processor is not None:
            raise EncodingError(
                f"encoder {self.name!r} cannot run the post-processor; add the special ids yourself or pass "
                "add_special_tokens=False"
            )

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        self._refuse_post_processor(add_special_tokens)
        return self.segmenter.encode_batch([text])[0]

    def encode_ordinary_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        self._refuse_post_processor(add_special_tokens)
        return self.segmenter.encode_batch(texts)

    def encode_ordinary_batch_flat(self, texts: Sequence[str], *, add_special_tokens: bool = False
                                   ) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's flat ids and offsets straight, without a Python int per id (all cores)."""
        self._refuse_post_processor(add_special_tokens)
        return self.segmenter.encode_batch_flat(texts)

    def segment(self, content: bytes) -> list[int]:
        """Split one pre-token's bytes.

        >>> from lexkit.vocabulary import Vocabulary
        >>> from lexkit.components import byte_level_pre_tokenizer, byte_level_decoder
        >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b"), (b"b", b"c"),
        ...     (b"bc", b"d")], pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
        >>> [v.tokens[i].content for i in LongestTokenEncoder(v).segment(b"abcd")]  # BPE: ab c d
        [b'a', b'bcd']
        >>> [v.tokens[i].content for i in LongestTokenEncoder(v).segment(b"abc")]  # equal lengths: leftmost
        [b'ab', b'c']
        """
        return self.segmenter.segment(content)

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """No ``tokenizer.json`` form: HF has no longest-match model for BPE vocabularies.

        Raises:
            LossyConversionError: always without ``allow_lossy=True`` (then the plain BPE model is returned).
        """
        return super().to_hf(allow_lossy=allow_lossy)


class LongestPairEncoder(LongestTokenEncoder):
    """LBPE's vocabulary reading (the ``lbpe`` default): from single bytes, repeatedly merge the adjacent pair
    whose concatenation is the longest vocabulary token (then the lowest id, then leftmost), with or without
    a merge rule for it. Compiled kernel with C pre-tokenization for GPT-2 byte-level vocabularies.

    >>> from lexkit.vocabulary import Vocabulary
    >>> from lexkit.components import byte_level_pre_tokenizer, byte_level_decoder
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b"), (b"b", b"c"),
    ...     (b"bc", b"d")], pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    >>> [v.tokens[i].content for i in LongestPairEncoder(v).segment(b"abcd")]  # ab first, then no pair
    [b'ab', b'c', b'd']
    """

    name = "longest-pair"
    reading: ClassVar[Reading] = "longest-pair"

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """A BPE ``tokenizer.json`` whose merges are every split of every token in this reading's order
        (`lexkit._lbpe.pair_merges`): HF's BPE engine then encodes exactly as this encoder."""
        from lexkit._lbpe import pair_merges
        from lexkit.formats.hf import to_hf
        from lexkit.formats.surface import encode_surface

        data = to_hf(self.vocabulary, allow_lossy=allow_lossy)
        tokens = self.vocabulary.tokens
        data["model"]["merges"] = [
            [encode_surface(tokens[left].content), encode_surface(tokens[right].content)]
            for left, right in pair_merges(self.vocabulary)
        ]
        return data


class FewestTokensEncoder(LongestTokenEncoder):
    """LBPE's default reading: the fewest tokens per pre-token; among those, the largest sum of ids (the
    latest-learned, rarer and mostly longer tokens), then the longest first token. Never more tokens than
    BPE; compiled kernel with C pre-tokenization (`lexkit._lbpe`).

    >>> from lexkit.vocabulary import Vocabulary
    >>> from lexkit.components import byte_level_pre_tokenizer, byte_level_decoder
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b"), (b"b", b"c"),
    ...     (b"bc", b"d")], pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    >>> [v.tokens[i].content for i in FewestTokensEncoder(v).segment(b"abcd")]  # BPE: ab c d
    [b'a', b'bcd']
    """

    name = "fewest-tokens"
    reading: ClassVar[Reading] = "fewest-tokens"
