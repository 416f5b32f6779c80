"""The byte view of a tokenizer that byte-level sampling needs: token bytes, canonical encoding, validity.

Byte-level sampling (Phan et al., "Exact Byte-Level Probabilities from Tokenized Language Models for FIM-Tasks
and Model Ensembles", arXiv 2410.09303) only ever asks a tokenizer four things: the exact bytes of each token,
the canonical encoding of a byte string, whether a token sequence is canonical (``encode(decode(s)) == s``), and
where the last pre-token boundary lies that no continuation of the text can move. `TokenizerAdapter` answers
them for any deterministic encoder given as a function; `TokenizerAdapter.from_tokenizer` builds one for a lexkit
`Tokenizer`: byte-level BPE (GPT-2, SmolLM2, Llama-3, Qwen) and SentencePiece BPE with byte fallback (Llama-2,
Mistral), whose ``▁`` is a space, whose ``<0xNN>`` pieces are bytes, and whose dummy prefix is a space the adapter
puts before every text (`TokenizerAdapter.text_prefix`). Unigram models, normalizers that change the text and
SentencePiece models without byte fallback are refused: their token bytes do not spell the raw text one to one.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from lexkit.errors import EncodingError

__all__ = ["TokenizerAdapter"]

if TYPE_CHECKING:
    from lexkit.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

EncodeFn = Callable[[bytes], list[int]]
BoundaryFn = Callable[[bytes], int]

# UTF-8 second bytes allowed after these lead bytes (overlong, surrogate and > U+10FFFF forms excluded)
_SECOND_BYTE_CHOICES = {0xE0: 32, 0xED: 32, 0xF0: 48, 0xF4: 16}


_SPACE_AFTER_NON_SPACE = re.compile(rb"[^ ] ")


def _split_utf8(data: bytes) -> tuple[str, bytes]:
    """``(text, rest)``: the longest valid UTF-8 head of ``data`` and the bytes after it."""
    try:
        return data.decode("utf-8"), b""
    except UnicodeDecodeError as exc:
        return data[:exc.start].decode("utf-8"), data[exc.start:]


def _utf8_completions(partial: bytes) -> int:
    """How many characters have a UTF-8 encoding that starts with ``partial`` (an unfinished valid sequence)."""
    lead = partial[0]
    length = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    missing = length - len(partial)
    second = _SECOND_BYTE_CHOICES.get(lead, 64) if len(partial) == 1 else 64
    return int(second * 64 ** (missing - 1))


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
            before a non-space). Empty (the default) promises a prefix-closed encoder without lookahead: the
            left part of every canonical extension of ``s`` is ``s`` itself.
        text_prefix: bytes the tokenizer puts before every non-empty text (SentencePiece's dummy-prefix space).
            The adapter works on ``text_prefix + text``; `lexkit.sampling.ByteSampler` adds and hides it.
        can_begin: ``can_begin(x)`` is whether some encodable text starts with ``x`` (for SentencePiece: ``x``
            is valid UTF-8 up to an incomplete last character that byte fallback can still complete). ``None``
            accepts every byte string.

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
        text_prefix: bytes = b"",
        can_begin: Callable[[bytes], bool] | None = None,
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
        self.text_prefix = text_prefix
        self._can_begin = can_begin

    def padded(self, size: int) -> TokenizerAdapter:
        """The same adapter with ``None`` (no bytes) for the ids from ``len(self)`` up to ``size``."""
        return TokenizerAdapter([*self.token_bytes, *[None] * (size - len(self))], self._encode,
                                final_boundary=self._final_boundary, encode_many=self._encode_many,
                                lookahead=self.lookahead, text_prefix=self.text_prefix, can_begin=self._can_begin)

    # ----------------------------------------------------------------------------------------------------------
    # construction
    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer, *, size: int | None = None) -> TokenizerAdapter:
        """Adapter for a lexkit byte-level BPE or SentencePiece BPE `Tokenizer` (see the module docstring).

        Byte-level BPE (GPT-2, SmolLM2, Llama-3, Qwen; no normalizer): whole UTF-8 text goes through the
        tokenizer's own (fast) encoder. A string that ends inside a UTF-8 character cannot be given to a text
        encoder; its valid head is encoded normally and the incomplete character is BPE-encoded as a pre-token
        of its own. Text encoders define no encoding for such strings, so this is a convention: results are
        exact at every byte of ASCII text and at character boundaries, and rely on this convention for states
        that sit inside a multi-byte character. Final boundaries: every pre-token boundary except the last two
        is final. This covers the GPT-2-style cases where a continuation re-splits the tail (whitespace
        lookahead ``\\s+(?!\\S)``, contractions, digit groups of at most three).

        SentencePiece BPE with byte fallback: see `TokenizerAdapter.from_sentencepiece_tokenizer`.

        Args:
            tokenizer: a lexkit tokenizer over bytes.
            size: pad ``token_bytes`` with ``None`` to this many ids (a model's output size).

        Raises:
            EncodingError: the pipeline is neither byte-level nor SentencePiece-style, or has a normalizer that
                changes the text (bytes and text would disagree).
        """
        from lexkit._reference import ReferenceBPE
        from lexkit.component_specs import iter_components
        from lexkit.components import build_pipeline
        from lexkit.formats.hf import surface_scheme
        from lexkit.formats.surface import decode_surface
        from lexkit.vocabulary import TokenKind

        vocabulary = tokenizer.vocabulary
        scheme, _ = surface_scheme(vocabulary)
        if scheme == "metaspace":
            return cls.from_sentencepiece_tokenizer(tokenizer, size=size)
        normalizers = [c for c in iter_components(vocabulary.normalizer) if c.get("type") != "Sequence"]
        if scheme != "byte-level" or normalizers:
            raise EncodingError(
                f"this tokenizer's pipeline is {scheme!r} with {len(normalizers)} normalizer(s), so its token bytes "
                "and the text bytes can differ and covers over raw bytes are not defined; byte-level sampling "
                "supports byte-level BPE tokenizers (GPT-2, SmolLM2, Llama-3, Qwen) and SentencePiece BPE with "
                "byte fallback (Llama-2, Mistral): use one, or build a TokenizerAdapter from an encode function"
            )
        kinds = (TokenKind.NORMAL, TokenKind.BYTE)
        token_bytes: list[bytes | None] = [t.content if t.kind in kinds else None for t in vocabulary.tokens]
        if size is not None:
            token_bytes += [None] * (size - len(token_bytes))
        reference = ReferenceBPE(vocabulary)
        pipeline = build_pipeline(vocabulary.normalizer, vocabulary.pre_tokenizer)

        def encode(data: bytes) -> list[int]:
            head, rest = _split_utf8(data)
            ids = tokenizer.encode_ordinary(head) if head else []
            return ids + reference.encode_piece(rest) if rest else ids

        def encode_many(items: list[bytes]) -> list[list[int]]:
            texts: list[str] = []
            for item in items:
                head, rest = _split_utf8(item)
                if rest:
                    return [encode(i) for i in items]
                texts.append(head)
            return tokenizer.encode_batch(texts, disallowed_special=())

        def final_boundary(data: bytes) -> int:
            head, _ = _split_utf8(data)
            pieces = pipeline.pre_tokenize(head) if head else []
            return sum(len(decode_surface(piece) or b"") for piece in pieces[:-2])

        # one representative of each GPT-2-style regex class: letter, digit, space, newline, punctuation
        return cls(token_bytes, encode, final_boundary=final_boundary, encode_many=encode_many,
                   lookahead=b"a0 \n.")

    @classmethod
    def from_sentencepiece_tokenizer(cls, tokenizer: Tokenizer, *, size: int | None = None) -> TokenizerAdapter:
        """Adapter for SentencePiece BPE with byte fallback (Llama-2, Mistral), read from ``.model`` or HF files.

        Token bytes come from the vocabulary's byte view (``▁`` is a space, ``<0xNN>`` the byte NN). The dummy
        prefix becomes `text_prefix` (a space): the adapter encodes ``" " + text`` with the prefix step removed,
        which gives sentencepiece's ids for every non-empty text. SentencePiece BPE merges by piece score with
        no pre-tokenizer; merging never crosses a surviving boundary, so the encoding is prefix-closed. When no
        piece holds a space after a non-space (true of Llama-2 and Mistral), every such space starts a token
        whatever follows, which gives the final boundaries. A string that ends inside a UTF-8 character is
        encoded as its valid head plus byte pieces (the convention of `from_tokenizer`); `can_begin` accepts it
        only when some completion of that character is not a piece (byte fallback spells only those), so byte
        pieces are canonical exactly for characters outside the vocabulary.

        Raises:
            EncodingError: a Unigram model, no byte fallback, or a normalizer or pre-tokenizer step other than
                the dummy prefix and ``" " -> "▁"`` (the precise step is named).
        """
        from lexkit.component_specs import iter_components
        from lexkit.formats.surface import METASPACE
        from lexkit.tokenizer import Tokenizer
        from lexkit.vocabulary import TokenKind

        vocabulary = tokenizer.vocabulary
        steps = [c for c in iter_components(vocabulary.normalizer) if c.get("type") != "Sequence"]
        prefix_step = {"type": "Prepend", "prepend": METASPACE}
        space_step = {"type": "Replace", "pattern": {"String": " "}, "content": METASPACE}
        dummy_prefix = bool(steps) and steps[0] == prefix_step
        rest = steps[1:] if dummy_prefix else steps
        problems = []
        if vocabulary.model != "bpe":
            problems.append(f"model {vocabulary.model!r} (Unigram segmentation is not prefix-closed)")
        if not vocabulary.model_options.get("byte_fallback"):
            problems.append("no byte fallback (unknown characters become <unk>, which has no bytes)")
        if rest != [space_step]:
            problems.append(f"normalizer steps {[c.get('type') for c in rest]} instead of one Replace(' ', '▁')")
        if vocabulary.pre_tokenizer is not None:
            problems.append(f"pre-tokenizer {vocabulary.pre_tokenizer.get('type')!r} (dummy prefix and splits "
                            "must come from the legacy normalizer form)")
        if problems:
            raise EncodingError(
                "this SentencePiece-style tokenizer cannot be sampled byte by byte: " + "; ".join(problems) +
                ". lexkit supports SentencePiece BPE with byte_fallback whose normalizer is the dummy prefix "
                "plus ' ' -> '▁' (Llama-2, Mistral: read the .model with from_sentencepiece, or a legacy "
                "tokenizer.json)"
            )
        kinds = (TokenKind.NORMAL, TokenKind.BYTE)
        token_bytes: list[bytes | None] = [t.content if t.kind in kinds else None for t in vocabulary.tokens]
        if size is not None:
            token_bytes += [None] * (size - len(token_bytes))
        body = Tokenizer(vocabulary.replace(normalizer={"type": "Sequence", "normalizers": [space_step]}))
        byte_ids = {t.content[0]: t.id for t in vocabulary.tokens if t.kind == TokenKind.BYTE}
        if len(byte_ids) < 256:
            raise EncodingError(
                f"this SentencePiece vocabulary has {len(byte_ids)} byte pieces instead of 256, so byte fallback "
                "cannot spell every character; use the model's original .model file"
            )
        # how many single-character pieces start with each incomplete UTF-8 prefix
        pieces_with_prefix: dict[bytes, int] = defaultdict(int)
        for token in vocabulary.tokens:
            content = token.content
            if token.kind == TokenKind.NORMAL and len(content) > 1 and len(content.decode("utf-8")) == 1:
                for cut in range(1, len(content)):
                    pieces_with_prefix[content[:cut]] += 1

        def encode(data: bytes) -> list[int]:
            head, tail = _split_utf8(data)
            ids = body.encode_ordinary(head) if head else []
            return ids + [byte_ids[b] for b in tail]

        def encode_many(items: list[bytes]) -> list[list[int]]:
            if any(_split_utf8(item)[1] for item in items):
                return [encode(item) for item in items]
            return body.encode_batch([item.decode("utf-8") for item in items], disallowed_special=())

        def can_begin(data: bytes) -> bool:
            try:
                data.decode("utf-8")
                return True
            except UnicodeDecodeError as exc:
                if exc.end != len(data) or exc.reason != "unexpected end of data":
                    return False  # invalid UTF-8, not just an unfinished last character
                partial = data[exc.start:]
                return _utf8_completions(partial) > pieces_with_prefix.get(partial, 0)

        has_inner_space = any(
            t.kind == TokenKind.NORMAL and _SPACE_AFTER_NON_SPACE.search(t.content) for t in vocabulary.tokens)

        def final_boundary(data: bytes) -> int:
            if has_inner_space:
                return 0
            start = data.rfind(b" ")  # the last run of spaces starts a token when a non-space precedes it
            while start > 0 and data[start - 1] == 0x20:
                start -= 1
            return max(start, 0)

        return cls(token_bytes, encode, final_boundary=final_boundary, encode_many=encode_many,
                   text_prefix=b" " if dummy_prefix else b"", can_begin=can_begin)

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
        the ``lookahead`` bytes; with `can_begin`, its bytes must also begin some encodable text.

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
        if self._can_begin is not None:
            for k in np.flatnonzero(valid).tolist():
                valid[k] = self._can_begin(tail_bytes + (self.token_bytes[ids_list[k]] or b""))
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
