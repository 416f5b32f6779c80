"""Slow, obviously-correct reference encoders: the oracles the fast paths are tested against.

`ReferenceBPE` runs the vocabulary's normalizer and pre-tokenizer in Python (`lexkit.components`) and applies
BPE merges by rank exactly as HF ``tokenizers`` does: repeatedly merge the adjacent pair with the lowest rank,
leftmost first. Handles byte-level vocabularies and character-level ones with byte fallback or an unknown token.
The variants change one rule each, each written out plainly (Scaffold-BPE's demerging and the LBPE
readings of ``lexkit.vocab.lbpe``):
`ReferenceLongFirst` ranks merges by merged-token length, `ReferenceScaffold` demolishes scaffold tokens
recursively after BPE, `ReferenceLongestToken` recurses on the longest token anywhere, `ReferenceLongestPair`
merges the adjacent pair that spells the longest vocabulary token.
"""

from __future__ import annotations

from functools import cached_property

from lexkit.errors import EncodingError
from lexkit.formats.hf import surface_scheme
from lexkit.vocabulary import TokenKind, Vocabulary


class ReferenceBPE:
    """Merge-rank BPE over one vocabulary, in plain Python."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        from lexkit.components import build_pipeline

        self.vocabulary = vocabulary
        self.scheme, self.replacement = surface_scheme(vocabulary)
        self.pipeline = build_pipeline(vocabulary.normalizer, vocabulary.pre_tokenizer)
        self.ignore_merges = bool(vocabulary.model_options.get("ignore_merges", False))
        self.byte_fallback = bool(vocabulary.model_options.get("byte_fallback", False))
        self._cache: dict[bytes, list[int]] = {}

    @cached_property
    def _added(self) -> list[tuple[str, int]]:
        """Non-special added tokens, matched verbatim before the pipeline (longest first)."""
        added = [(t.text, t.id) for t in self.vocabulary.tokens if t.kind == TokenKind.ADDED]
        return sorted(added, key=lambda item: -len(item[0]))

    @cached_property
    def ranks(self) -> dict[tuple[int, int], tuple[int, ...]]:
        """The priority of each merge pair: lower merges first (here: its rank)."""
        return {pair: (rank,) for pair, rank in self.vocabulary.merge_ranks.items()}

    @cached_property
    def _result_of(self) -> dict[tuple[int, int], int]:
        return {(m[0], m[1]): self.vocabulary.merge_result(m) for m in self.vocabulary.merges}

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` (special-token text is treated as ordinary text)."""
        for content, token_id in self._added:
            if content in text:
                head, _, tail = text.partition(content)
                return [*self.encode(head), token_id, *self.encode(tail)] if head else [token_id, *self.encode(tail)]
        if not text:
            return []
        ids: list[int] = []
        for piece in self.pipeline.pre_tokenize(text):
            ids += self.encode_piece(self._piece_bytes(piece))
        return ids

    def _piece_bytes(self, piece: str) -> bytes:
        if self.scheme == "byte-level":
            from lexkit.formats.surface import decode_surface

            content = decode_surface(piece)
            assert content is not None, "a ByteLevel pre-tokenizer only emits table characters"
            return content
        if self.scheme == "metaspace":
            return piece.replace(self.replacement, " ").encode("utf-8")
        return piece.encode("utf-8")

    def encode_piece(self, content: bytes) -> list[int]:
        """BPE on one pre-token's bytes."""
        cached = self._cache.get(content)
        if cached is not None:
            return cached
        vocabulary = self.vocabulary
        whole = vocabulary.id_of(content)
        if self.ignore_merges and whole is not None:
            return [whole]
        symbols = self._initial_symbols(content)
        ranks = self.ranks
        while len(symbols) > 1:
            best = min(
                ((ranks[pair], position) for position, pair in enumerate(zip(symbols, symbols[1:]))
                 if pair in ranks),
                default=None,
            )
            if best is None:
                break
            position = best[1]
            merged = self._result_of[(symbols[position], symbols[position + 1])]
            symbols[position:position + 2] = [merged]
        self._cache[content] = symbols
        return symbols

    def _initial_symbols(self, content: bytes) -> list[int]:
        """Single bytes (byte-level) or single characters, with byte fallback / unknown for the rest."""
        vocabulary = self.vocabulary
        if self.scheme == "byte-level":
            try:
                return [vocabulary.byte_ids[b] for b in content]
            except KeyError as exc:
                raise EncodingError(f"byte {exc.args[0]:#04x} has no token in this vocabulary") from None
        symbols: list[int] = []
        for char in content.decode("utf-8"):
            token_id = vocabulary.id_of(char.encode("utf-8"))
            if token_id is not None:
                symbols.append(token_id)
            elif self.byte_fallback:
                symbols += [vocabulary.byte_ids[b] for b in char.encode("utf-8")]
            elif vocabulary.unknown_id is not None:
                if not (symbols and symbols[-1] == vocabulary.unknown_id
                        and vocabulary.model_options.get("fuse_unk")):
                    symbols.append(vocabulary.unknown_id)
            else:
                raise EncodingError(f"character {char!r} has no token and the vocabulary has no unknown token")
        return symbols


class ReferenceLongFirst(ReferenceBPE):
    """LBPE reading B: the applicable merge building the longest token first, ties by rank, then leftmost."""

    @cached_property
    def ranks(self) -> dict[tuple[int, int], tuple[int, ...]]:
        tokens = self.vocabulary.tokens
        return {
            pair: (-(len(tokens[pair[0]].content) + len(tokens[pair[1]].content)), rank)
            for pair, rank in self.vocabulary.merge_ranks.items()
        }


class ReferenceScaffold(ReferenceBPE):
    """Scaffold-BPE encoding: BPE with every merge, then each scaffold token replaced by the pieces of a
    merge producing it, recursively; among several producing merges, the fewest pieces, then the smallest ids."""

    def encode_piece(self, content: bytes) -> list[int]:
        return [piece for token_id in super().encode_piece(content) for piece in self.demolish(token_id)]

    def demolish(self, token_id: int) -> list[int]:
        """The non-scaffold pieces standing for ``token_id`` (itself when it is not scaffold)."""
        vocabulary = self.vocabulary
        if not vocabulary.tokens[token_id].scaffold:
            return [token_id]
        options = [
            self.demolish(merge[0]) + self.demolish(merge[1])
            for merge in vocabulary.merges if vocabulary.merge_result(merge) == token_id
        ]
        return min(options, key=lambda pieces: (len(pieces), pieces))


class _ReferenceReading(ReferenceBPE):
    """A reading of the vocabulary that ignores merge rules: each pre-token is segmented from the token table
    alone, by `_split` (cached per pre-token)."""

    with_bytes = False  # also read the single-byte tokens (kind ``byte``) as tokens

    @cached_property
    def _ids(self) -> dict[bytes, int]:
        vocabulary = self.vocabulary
        ids = {
            token.content: token.id for token in vocabulary.tokens[:vocabulary.model_size]
            if token.kind == TokenKind.NORMAL and token.content
        }
        if self.with_bytes:
            ids.update({bytes([byte]): token_id for byte, token_id in vocabulary.byte_ids.items()})
        return ids

    def encode_piece(self, content: bytes) -> list[int]:
        cached = self._cache.get(content)
        if cached is None:
            cached = self._cache[content] = self._split(content)
        return cached

    def _split(self, content: bytes) -> list[int]:
        raise NotImplementedError


class ReferenceLongestToken(_ReferenceReading):
    """FLOTA / LBPE reading A, as defined: the longest vocabulary token anywhere in the range (leftmost among
    equals) is fixed, then the left and right remainders are split the same way."""

    def _split(self, content: bytes) -> list[int]:
        ids = self._ids
        for length in range(len(content), 0, -1):
            for start in range(len(content) - length + 1):
                token_id = ids.get(content[start:start + length])
                if token_id is not None:
                    return [
                        *self.encode_piece(content[:start]), token_id,
                        *self.encode_piece(content[start + length:]),
                    ]
        return []


class ReferenceLongestPair(_ReferenceReading):
    """LBPE's vocabulary reading, as defined: from single bytes, repeatedly merge the adjacent pair whose
    concatenation is the longest vocabulary token, ties by the lowest id, then the shorter left part, then
    the leftmost; merge rules play no part."""

    with_bytes = True

    def _split(self, content: bytes) -> list[int]:
        ids = self._ids
        symbols = [content[position:position + 1] for position in range(len(content))]
        while True:
            candidates = [
                (-len(left + right), ids[left + right], len(left), position)
                for position, (left, right) in enumerate(zip(symbols, symbols[1:])) if left + right in ids
            ]
            if not candidates:
                return [ids[symbol] for symbol in symbols]
            position = min(candidates)[3]
            symbols[position:position + 2] = [symbols[position] + symbols[position + 1]]


class ReferenceFewestTokens(ReferenceLongestPair):
    """LBPE's default reading, as defined: among all segmentations into vocabulary tokens, the one with the
    fewest tokens, then the largest sum of ids, then the longest first token, the longest second, and so on."""

    def _split(self, content: bytes) -> list[int]:
        ids = self._ids
        best: dict[int, list[int]] = {len(content): []}  # start -> ids of the best segmentation of the rest

        def key(pieces: list[int]) -> tuple[int, int, list[int]]:
            return len(pieces), -sum(pieces), [-len(self.vocabulary.tokens[i].content) for i in pieces]

        for start in range(len(content) - 1, -1, -1):
            options = [[ids[content[start:end]], *best[end]] for end in range(start + 1, len(content) + 1)
                       if content[start:end] in ids]
            best[start] = min(options, key=key)
        return best[0]
