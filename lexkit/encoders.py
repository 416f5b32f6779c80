"""Named encoders: how a `Vocabulary` turns ordinary text (no special tokens) into ids.

Encoders that HF ``tokenizers`` can express compile the vocabulary to a ``tokenizer.json`` and run it in
`lexkit.engine` (fastokens where it reproduces HF, else HF's own Rust engine); `lexkit._reference` holds the slow,
obviously-correct versions they are tested against. The registry is
a static dictionary; later trainers add their encoders here.

- ``bpe``: merges by rank (HF merge-list semantics).
- ``scaffold``: Scaffold-BPE (Lian et al., arXiv 2404.17808): BPE with every merge in the HF engine, then a
  numpy lookup replaces each scaffold id by the non-scaffold pieces of its defining merge ("demolishing").
- ``long-first``: LBPE (Lian et al., arXiv 2411.05504) reading B: BPE whose merges are re-ranked by the length
  of the merged token, longest first, ties by rank; a plain BPE model to HF, so it runs at BPE speed.
- ``longest-token``: LBPE reading A / FLOTA (Hofmann et al. 2022): the longest vocabulary token anywhere in
  the pre-token, leftmost among equals, then both sides recursively.
- ``longest-pair``: LBPE's vocabulary reading: merge the adjacent pair that spells the longest vocabulary
  token, merge rule or not; exports as a BPE ``tokenizer.json`` over every split of every token.
- ``fewest-tokens``: LBPE's default: the fewest tokens per pre-token, the latest-learned among those. The three
  LBPE readings above run in the C kernel of `lexkit._lbpe` (Python when it is not built).
- ``longest-prefix`` (WordPiece) and ``unigram``: the HF models of those vocabularies.

Every encoder can say how it exports as a standalone ``tokenizer.json`` (`Encoder.to_hf`): ``scaffold`` only
lossily (the file would emit scaffold ids), ``longest-token`` and ``fewest-tokens`` not at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lexkit.errors import EncodingError, LexkitError, LossyConversionError
from lexkit.vocabulary import JSON, Vocabulary

if TYPE_CHECKING:
    import tokenizers

    from lexkit._lbpe import Reading
    from lexkit.engine import Engine

logger = logging.getLogger(__name__)


class Encoder:
    """Base class: turns ordinary text into ids for one vocabulary."""

    name: ClassVar[str]
    models: ClassVar[frozenset[str]]  # vocabulary model families this encoder applies to
    alphabets: ClassVar[frozenset[str]] = frozenset({"bytes"})  # alphabet kinds it encodes

    def __init__(self, vocabulary: Vocabulary) -> None:
        if vocabulary.model not in self.models:
            raise LexkitError(
                f"encoder {self.name!r} works on {'/'.join(sorted(self.models))} vocabularies, not "
                f"{vocabulary.model!r}; pick one of: {', '.join(encoders_for(vocabulary))}"
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


def _refuse_scaffolds(encoder: Encoder) -> None:
    """Raise when an encoder that emits merge results would run on a Scaffold-BPE vocabulary."""
    scaffolds = len(encoder.vocabulary) - encoder.vocabulary.model_size
    if scaffolds:
        raise LexkitError(
            f"the vocabulary has {scaffolds} scaffold tokens, which encoder {encoder.name!r} would emit although "
            "they have no embedding rows; use Tokenizer(vocabulary, encoder='scaffold') (the encoder recorded in "
            "vocabulary.metadata['encoder'], which Tokenizer.load picks)"
        )


class HFEncoder(Encoder):
    """An encoder whose fast path is `lexkit.engine` running the exported ``tokenizer.json``.

    ``backend`` is the HF ``tokenizers`` engine (the reference, and the fallback the `Engine` uses when fastokens
    cannot run this tokenizer.json or gives other ids on the probe set).
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
    def backend(self) -> tokenizers.Tokenizer:
        """The compiled HF tokenizer (built on first use)."""
        from tokenizers import Tokenizer as HFTokenizer

        return HFTokenizer.from_str(json.dumps(self.hf_json(), ensure_ascii=False))

    @cached_property
    def engine(self) -> Engine:
        """The encode engine (built on first use; `lexkit.engine` says which engine runs and why)."""
        from lexkit.engine import Engine

        return Engine(self.hf_json(), self.backend)

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
        return self.engine.encode_batch_flat(texts, add_special_tokens=add_special_tokens)

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


def long_first_order(vocabulary: Vocabulary) -> list[int]:
    """LBPE's merge order: ranks sorted by the merged token's length in bytes, longest first, ties by rank.

    >>> from lexkit.vocabulary import Vocabulary
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b"), (b"c", b"d"), (b"ab", b"c")])
    >>> long_first_order(v)
    [2, 0, 1]
    """
    tokens = vocabulary.tokens
    lengths = [len(tokens[merge[0]].content) + len(tokens[merge[1]].content) for merge in vocabulary.merges]
    return sorted(range(len(lengths)), key=lambda rank: (-lengths[rank], rank))


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


class ScaffoldEncoder(HFEncoder):
    """Scaffold-BPE encoding: BPE with every merge (scaffolds included), then scaffold ids demolished.

    The HF engine runs all merges; each scaffold id in its output is replaced by the non-scaffold pieces of
    its defining merge, expanded recursively (``specs/trainers.md`` 3.3), with one numpy gather per batch.
    When a scaffold token is produced by several merges, the expansion with the fewest pieces wins, then the
    lexicographically smallest id sequence. Output ids are dense model ids (``< vocabulary.model_size``).
    """

    name = "scaffold"
    models = frozenset({"bpe"})

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(vocabulary)
        tokens = vocabulary.tokens
        model_size = vocabulary.model_size
        if any(token.scaffold for token in tokens[:model_size]):
            raise LexkitError(
                "scaffold tokens must take the highest ids (style.md 3.4); renumber the vocabulary so that "
                "non-scaffold tokens come first, as the scaffold-bpe trainer does"
            )
        self.model_size = model_size

    @cached_property
    def expansions(self) -> dict[int, tuple[int, ...]]:
        """Scaffold id -> its non-scaffold pieces (the demolition table)."""
        vocabulary = self.vocabulary
        producers: dict[int, list[tuple[int, int]]] = {}
        for merge in vocabulary.merges:
            result = vocabulary.merge_result(merge)
            if vocabulary.tokens[result].scaffold:
                producers.setdefault(result, []).append((merge[0], merge[1]))
        table: dict[int, tuple[int, ...]] = {}

        def expand(token_id: int) -> tuple[int, ...]:
            if not vocabulary.tokens[token_id].scaffold:
                return (token_id,)
            found = table.get(token_id)
            if found is None:
                # subtle: parts are strictly shorter byte strings, so the recursion ends at base units.
                candidates = [expand(left) + expand(right) for left, right in producers[token_id]]
                found = table[token_id] = min(candidates, key=lambda pieces: (len(pieces), pieces))
            return found

        for token_id in producers:
            expand(token_id)
        return table

    @cached_property
    def _lookup(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, length) of every id's expansion in one flat array of pieces, for numpy gathers."""
        size = len(self.vocabulary)
        lengths = np.ones(size, dtype=np.int64)
        pieces: list[int] = list(range(size))
        starts = np.arange(size, dtype=np.int64)
        for token_id, expansion in sorted(self.expansions.items()):
            starts[token_id] = len(pieces)
            lengths[token_id] = len(expansion)
            pieces.extend(expansion)
        return starts, lengths, np.asarray(pieces, dtype=np.int64)

    def demolish(self, batch: list[list[int]]) -> list[list[int]]:
        """Replace scaffold ids by their pieces in every sequence (sequences without one are kept as they are)."""
        limit = self.model_size
        hits = [position for position, ids in enumerate(batch) if ids and max(ids) >= limit]
        if not hits:
            return batch
        sizes = np.fromiter((len(batch[position]) for position in hits), dtype=np.int64, count=len(hits))
        flat = np.fromiter(chain.from_iterable(batch[position] for position in hits), dtype=np.int64,
                           count=int(sizes.sum()))
        starts, lengths, pieces = self._lookup
        out_lengths = lengths[flat]
        total = int(out_lengths.sum())
        # Position j of the output reads pieces[starts[id] + (j - first output position of that id)].
        first = np.cumsum(out_lengths) - out_lengths
        gathered = pieces[np.repeat(starts[flat] - first, out_lengths) + np.arange(total, dtype=np.int64)]
        per_sequence = np.add.reduceat(out_lengths, np.cumsum(sizes) - sizes)
        result = list(batch)
        for position, ids in zip(hits, np.split(gathered, np.cumsum(per_sequence)[:-1])):
            result[position] = ids.tolist()
        return result

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        return self.demolish([super().encode_ordinary(text, add_special_tokens=add_special_tokens)])[0]

    def encode_ordinary_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        return self.demolish(super().encode_ordinary_batch(texts, add_special_tokens=add_special_tokens))

    encode_ordinary_batch_flat = Encoder.encode_ordinary_batch_flat  # demolition works on lists

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """The BPE model with every merge; lossy (HF would emit scaffold ids), so it needs ``allow_lossy``.

        Raises:
            LossyConversionError: without ``allow_lossy=True``.
        """
        return super().to_hf(allow_lossy=allow_lossy)


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
        from lexkit._lbpe import Segmenter

        self.segmenter = Segmenter(vocabulary, self.reading)

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
        from lexkit.formats._bytes_unicode import encode_surface
        from lexkit.formats.hf import to_hf

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


class LongestPrefixEncoder(HFEncoder):
    """WordPiece-style greedy longest-prefix matching."""

    name = "longest-prefix"
    models = frozenset({"wordpiece"})


class UnigramEncoder(HFEncoder):
    """Unigram LM segmentation (Viterbi over piece scores)."""

    name = "unigram"
    models = frozenset({"unigram"})


ENCODERS: dict[str, type[Encoder]] = {
    cls.name: cls
    for cls in (BPEEncoder, ScaffoldEncoder, LongFirstEncoder, LongestTokenEncoder, LongestPairEncoder,
                FewestTokensEncoder, LongestPrefixEncoder, UnigramEncoder)
}
# Encoders living in modules that import this one; resolved on first use (module, class name).
DEFERRED_ENCODERS: dict[str, tuple[str, str]] = {
    "visual": ("lexkit.grids", "VisualEncoder"), "morph": ("lexkit.morph", "MorphEncoder"),
}
DEFAULT_ENCODER = {"bpe": "bpe", "wordpiece": "longest-prefix", "unigram": "unigram"}


def _resolve(name: str) -> type[Encoder] | None:
    if name in ENCODERS:
        return ENCODERS[name]
    if name in DEFERRED_ENCODERS:
        import importlib

        module, attribute = DEFERRED_ENCODERS[name]
        cls: type[Encoder] = getattr(importlib.import_module(module), attribute)
        return cls
    return None


def encoders_for(vocabulary: Vocabulary) -> list[str]:
    """Names of the registered encoders that apply to this vocabulary's model family and alphabet."""
    applicable = []
    for name in (*ENCODERS, *DEFERRED_ENCODERS):
        cls = _resolve(name)
        only = vocabulary.metadata.get("only_encoders")
        if isinstance(only, list) and name not in only:
            continue
        if cls is not None and vocabulary.model in cls.models and vocabulary.alphabet.kind in cls.alphabets:
            applicable.append(name)
    return applicable


def get_encoder(name: str, vocabulary: Vocabulary) -> Encoder:
    """Instantiate the encoder registered as ``name`` for ``vocabulary``.

    Raises:
        LexkitError: no encoder has that name, or it does not apply to this vocabulary.
    """
    cls = _resolve(name)
    if cls is None:
        raise LexkitError(
            f"unknown encoder {name!r}; registered encoders: {', '.join([*ENCODERS, *DEFERRED_ENCODERS])}"
        )
    return cls(vocabulary)
