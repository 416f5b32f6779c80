"""The byte view of a tokenizer that byte-level sampling needs: token bytes, canonical encoding, validity.

Byte-level sampling (Phan et al., "Exact Byte-Level Probabilities from Tokenized Language Models for FIM-Tasks
and Model Ensembles", arXiv 2410.09303) only ever asks a tokenizer four things: the exact bytes of each token,
the canonical encoding of a byte string, whether a token sequence is canonical (``encode(decode(s)) == s``), and
where the last pre-token boundary lies that no continuation of the text can move. `TokenizerAdapter` answers
them for any deterministic encoder given as a function; `TokenizerAdapter.from_tokenizer` builds one for a lexkit
`Tokenizer` (byte-level BPE such as GPT-2 or SmolLM2, and any other lexkit encoder over whole UTF-8 text).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from lexkit.errors import EncodingError

if TYPE_CHECKING:
    from lexkit.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

EncodeFn = Callable[[bytes], list[int]]
BoundaryFn = Callable[[bytes], int]


class TokenizerAdapter:
    """A deterministic tokenizer seen through bytes.

    Args:
        token_bytes: bytes of each token id; ``None`` for ids that never appear inside text (special, control,
            unknown, unused, or padding rows of a model's embedding). The list may be longer than the
            tokenizer's vocabulary so that it matches a model's output size.
        encode: the canonical encoding of a byte string (must be deterministic and prefix-closed: every prefix
            of a canonical sequence is canonical, which holds for merge-rank BPE and maximum-prefix encoding).
        final_boundary: ``final_boundary(x)`` is a byte offset ``<= len(x)`` at a pre-token boundary of ``x``
            that no continuation of ``x`` moves; tokens never span it. ``None`` means 0 (no pre-tokenizer).
        encode_many: optional batched ``encode`` (a fast engine); defaults to a loop.
        lookahead: bytes to try after a candidate token when the plain canonicality check fails: a token can be
            canonical only before some continuations (GPT-2's ``\\s+(?!\\S)`` keeps ``"\n" "\n"`` apart only
            before a non-space). Empty (the default) when the encoder has no lookahead.

    Raises:
        EncodingError: no token has bytes (nothing to sample).
    """

    def __init__(
        self,
        token_bytes: Sequence[bytes | None],
        encode: EncodeFn,
        *,
        final_boundary: BoundaryFn | None = None,
        encode_many: Callable[[list[bytes]], list[list[int]]] | None = None,
        lookahead: bytes = b"",
    ) -> None:
        self.token_bytes: list[bytes | None] = [b if b else None for b in token_bytes]
        if not any(self.token_bytes):
            raise EncodingError(
                "the tokenizer adapter got no token with bytes, so no byte can ever be produced; pass the "
                "token contents (bytes) of the vocabulary as token_bytes"
            )
        self._encode = encode
        self._final_boundary = final_boundary
        self._encode_many = encode_many
        self.lookahead = lookahead

    # ----------------------------------------------------------------------------------------------------------
    # construction
    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer, *, size: int | None = None) -> TokenizerAdapter:
        """Adapter for a lexkit byte-level BPE `Tokenizer` without a normalizer (GPT-2, SmolLM2, Llama-3, Qwen).

        Whole UTF-8 text goes through the tokenizer's own (fast) encoder. A string that ends inside a UTF-8
        character cannot be given to a text encoder; its valid head is encoded normally and the incomplete
        character is BPE-encoded as a pre-token of its own. Text encoders define no encoding for such strings,
        so this is a convention: results are exact at every byte of ASCII text and at character boundaries,
        and rely on this convention for states that sit inside a multi-byte character.

        Final boundaries: every pre-token boundary except the last two is final. This covers the GPT-2-style
        cases where a continuation re-splits the tail (whitespace lookahead ``\\s+(?!\\S)``, contractions,
        digit groups of at most three).

        Args:
            tokenizer: a lexkit tokenizer over bytes.
            size: pad ``token_bytes`` with ``None`` to this many ids (a model's output size).

        Raises:
            EncodingError: the pipeline is not byte-level or has a normalizer (bytes and text would disagree).
        """
        from lexkit._reference import ReferenceBPE
        from lexkit.components import build_pipeline
        from lexkit.formats._bytes_unicode import decode_surface
        from lexkit.formats.hf import _walk, surface_scheme
        from lexkit.vocabulary import TokenKind

        vocabulary = tokenizer.vocabulary
        scheme, _ = surface_scheme(vocabulary)
        normalizers = [c for c in _walk(vocabulary.normalizer) if c.get("type") != "Sequence"]
        if scheme != "byte-level" or normalizers:
            raise EncodingError(
                f"this tokenizer's pipeline is {scheme!r} with {len(normalizers)} normalizer(s), so its token bytes "
                "and the text bytes can differ (SentencePiece-style metaspace and dummy prefix, normalization) and "
                "covers over raw bytes are not defined yet; byte-level sampling supports byte-level BPE "
                "tokenizers (GPT-2, SmolLM2, Llama-3, Qwen): use one, or build a TokenizerAdapter from an encode "
                "function yourself"
            )
        kinds = (TokenKind.NORMAL, TokenKind.BYTE)
        token_bytes: list[bytes | None] = [t.content if t.kind in kinds else None for t in vocabulary.tokens]
        if size is not None:
            token_bytes += [None] * (size - len(token_bytes))
        reference = ReferenceBPE(vocabulary)
        pipeline = build_pipeline(vocabulary.normalizer, vocabulary.pre_tokenizer)

        def split_text(data: bytes) -> tuple[str, bytes]:
            try:
                return data.decode("utf-8"), b""
            except UnicodeDecodeError as exc:
                head = data[:exc.start].decode("utf-8")
                return head, data[exc.start:]

        def encode(data: bytes) -> list[int]:
            head, rest = split_text(data)
            ids = tokenizer.encode_ordinary(head) if head else []
            return ids + reference.encode_piece(rest) if rest else ids

        def encode_many(items: list[bytes]) -> list[list[int]]:
            texts: list[str] = []
            for item in items:
                head, rest = split_text(item)
                if rest:
                    return [encode(i) for i in items]
                texts.append(head)
            return tokenizer.encode_batch(texts, disallowed_special=())

        def final_boundary(data: bytes) -> int:
            head, _ = split_text(data)
            pieces = pipeline.pre_tokenize(head) if head else []
            return sum(len(decode_surface(piece) or b"") for piece in pieces[:-2])

        # one representative of each GPT-2-style regex class: letter, digit, space, newline, punctuation
        return cls(token_bytes, encode, final_boundary=final_boundary, encode_many=encode_many,
                   lookahead=b"a0 \n.")

    # ----------------------------------------------------------------------------------------------------------
    # queries
    def __len__(self) -> int:
        return len(self.token_bytes)

    def encode(self, data: bytes) -> list[int]:
        """The canonical token ids of ``data``."""
        return self._encode(data) if data else []

    def encode_many(self, items: list[bytes]) -> list[list[int]]:
        """`encode` over many byte strings (batched when the tokenizer has a fast engine)."""
        if self._encode_many is not None:
            return self._encode_many(items)
        return [self.encode(item) for item in items]

    def decode(self, ids: Sequence[int]) -> bytes:
        """Concatenated bytes of ``ids`` (ids without bytes contribute nothing)."""
        return b"".join(self.token_bytes[i] or b"" for i in ids)

    def final_boundary(self, data: bytes) -> int:
        """A byte offset in ``data`` that no continuation moves and no token spans (0 when unknown)."""
        return self._final_boundary(data) if self._final_boundary is not None else 0

    @cached_property
    def max_token_bytes(self) -> int:
        """The longest token, in bytes (``L_max``)."""
        return max(len(b) for b in self.token_bytes if b)

    @cached_property
    def byte_table(self) -> tuple[np.ndarray, np.ndarray]:
        """``(table, lengths)``: ``table[t, j]`` is byte j of token t (0 past the end), ``lengths[t]`` its length.

        Ids without bytes have length 0.
        """
        table = np.zeros((len(self.token_bytes), self.max_token_bytes), dtype=np.int16)
        lengths = np.zeros(len(self.token_bytes), dtype=np.int64)
        for token_id, content in enumerate(self.token_bytes):
            if content:
                table[token_id, :len(content)] = np.frombuffer(content, dtype=np.uint8)
                lengths[token_id] = len(content)
        return table, lengths

    @cached_property
    def _sorted(self) -> tuple[list[bytes], np.ndarray]:
        pairs = sorted((b, i) for i, b in enumerate(self.token_bytes) if b)
        return [b for b, _ in pairs], np.array([i for _, i in pairs], dtype=np.int64)

    def tokens_with_prefix(self, prefix: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes start with ``prefix`` (a contiguous range of the sorted contents)."""
        contents, ids = self._sorted
        lo = bisect.bisect_left(contents, prefix)
        # subtle: every string that starts with `prefix` sorts before prefix + b"\xff" * (longer than any token).
        hi = bisect.bisect_left(contents, prefix + b"\xff" * (self.max_token_bytes + 1), lo)
        return ids[lo:hi]

    def valid_extensions(self, prefix: Sequence[int], candidates: np.ndarray) -> np.ndarray:
        """Which ``prefix + [t]`` can begin a canonical encoding, for each ``t`` in ``candidates``.

        ``prefix + [t]`` must re-encode to itself, or be the start of the encoding of itself followed by one of
        the ``lookahead`` bytes.

        Only the tail after the last final boundary is re-encoded: tokens never span a final boundary and the
        tokens before it cannot change (prefix closure), so the check is exact and short.
        """
        if len(candidates) == 0:
            return np.zeros(0, dtype=bool)
        start, tail_bytes = self._tail(prefix)
        tail = list(prefix[start:])
        ids_list = candidates.tolist()
        encoded = self.encode_many([tail_bytes + (self.token_bytes[t] or b"") for t in ids_list])
        valid = np.array([ids == [*tail, t] for ids, t in zip(encoded, ids_list)], dtype=bool)
        retry = [k for k in np.flatnonzero(~valid).tolist()] if self.lookahead else []
        if retry:
            probes = [tail_bytes + (self.token_bytes[ids_list[k]] or b"") + bytes([c])
                      for k in retry for c in self.lookahead]
            encoded = self.encode_many(probes)
            width = len(self.lookahead)
            for j, k in enumerate(retry):
                want = [*tail, ids_list[k]]
                valid[k] = any(ids[:len(want)] == want for ids in encoded[j * width:(j + 1) * width])
        return valid

    def lefts_by_first_byte(self, prefix: Sequence[int], first_bytes: Sequence[int]) -> dict[int, list[int]]:
        r"""For each byte ``b``: the tokens that must precede a token starting with ``b`` right after ``prefix``.

        Usually ``prefix`` itself, but pre-tokenization is not prefix-closed: GPT-2's ``\s+(?!\S)`` encodes
        ``"\n\n"`` as one token yet ``"\n\nA"`` as ``"\n" "\n" "A"``, so a token starting with ``A`` after
        ``"\n\n"`` follows a different (canonical) left part. It is read off ``encode(decode(prefix) + b)``;
        bytes whose probe merges into an earlier token are left out (no token can start there after them).
        """
        start, tail_bytes = self._tail(prefix)
        head = list(prefix[:start])
        out: dict[int, list[int]] = {}
        for b, ids in zip(first_bytes, self.encode_many([tail_bytes + bytes([b]) for b in first_bytes])):
            if ids and self.token_bytes[ids[-1]] == bytes([b]):
                out[b] = head + ids[:-1]
        return out

    def _tail(self, prefix: Sequence[int]) -> tuple[int, bytes]:
        """``(k, bytes)``: ``prefix[k:]`` are the tokens after the last final boundary, and their bytes."""
        data = self.decode(prefix)
        boundary = self.final_boundary(data)
        start, offset = 0, 0
        for position, token_id in enumerate(prefix):
            if offset >= boundary:
                break
            offset += len(self.token_bytes[token_id] or b"")
            start = position + 1
        if offset != boundary:  # the boundary is not a token boundary of this prefix: use everything
            logger.debug("final boundary %d is inside a token; re-encoding the whole prefix", boundary)
            start, offset = 0, 0
        return start, data[offset:]
