"""The shared vocabulary model: dense ids, exact token bytes, ordered merges, pipeline settings.

A `Vocabulary` is plain, immutable data. Encoders, trainers and file formats live around it. Token content is
always exact bytes (or fixed-width code units for codebook alphabets); surface strings such as ``Ġ``, ``▁`` or
``<0xNN>`` belong to the file formats alone.
"""

from __future__ import annotations

import copy
import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import chain
from operator import add, itemgetter
from typing import Any, Literal

from lexkit.errors import VocabularyError

__all__ = [
    "JSON", "Relation", "Merge", "TokenKind", "SPECIAL_ROLES", "ROLE_NAMES", "SpecialRoles",
    "AddedTokenOptions", "Token", "Alphabet", "BYTES", "Vocabulary",
]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
Relation = Literal["right", "below"]
Merge = tuple[int, int] | tuple[int, int, str]


class TokenKind(str, enum.Enum):
    """What a token is; one to one with sentencepiece's piece types."""

    NORMAL = "normal"  # base symbol or merge result
    BYTE = "byte"  # byte-fallback piece <0xNN>
    SPECIAL = "special"  # control token, never produced from text unless allowed
    ADDED = "added"  # matched verbatim before the model, not special
    UNKNOWN = "unknown"  # <unk>
    UNUSED = "unused"  # placeholder id (holes in a non-dense id space have empty content)


# Special-token roles, in HF's names (``bos_token``, ``eos_token``...); a special filling none is "additional".
SPECIAL_ROLES = ("bos", "eos", "pad", "unk", "sep", "cls", "mask")
# Roles of conventional special-token names, for vocabularies whose file carries no role information (a bare
# tokenizer.json, a lexkit.json, tiktoken ranks). Each entry follows the tokenizer family's own HF configuration:
# GPT-2 uses "<|endoftext|>" as bos, eos and unk; Llama-3 "<|begin_of_text|>"/"<|end_of_text|>"; BERT the
# bracketed names; sentencepiece models "<s>", "</s>", "<unk>" (tests/lexkit/test_special_roles.py checks them).
ROLE_NAMES: Mapping[str, tuple[str, ...]] = {
    "<|endoftext|>": ("bos", "eos", "unk"),
    "<s>": ("bos",), "</s>": ("eos",), "<unk>": ("unk",), "<pad>": ("pad",), "<mask>": ("mask",),
    "<bos>": ("bos",), "<eos>": ("eos",), "[BOS]": ("bos",), "[EOS]": ("eos",),
    "<|begin_of_text|>": ("bos",), "<|end_of_text|>": ("eos",),
    "[PAD]": ("pad",), "[UNK]": ("unk",), "[SEP]": ("sep",), "[CLS]": ("cls",), "[MASK]": ("mask",),
}


@dataclass(frozen=True)
class SpecialRoles:
    """The roles a vocabulary's special, added and unknown tokens play (`Vocabulary.special_roles`).

    Attributes:
        by_token: token id -> its roles in `SPECIAL_ROLES` order, for every special, added and unknown token
            (an empty tuple: the token fills no named role, an "additional" special).

    >>> roles = SpecialRoles({0: ("bos", "eos", "unk"), 1: ()})
    >>> roles.ids, sorted(roles.select(["eos", "additional"]))
    ({'bos': 0, 'eos': 0, 'unk': 0}, [0, 1])
    """

    by_token: Mapping[int, tuple[str, ...]]

    @property
    def ids(self) -> dict[str, int]:
        """Role -> id of the first token (in id order) that plays it."""
        out: dict[str, int] = {}
        for token_id in sorted(self.by_token):
            for role in self.by_token[token_id]:
                out.setdefault(role, token_id)
        return out

    def roles_of(self, token_id: int) -> tuple[str, ...]:
        """The roles token ``token_id`` plays (empty for an additional special or a non-special token)."""
        return self.by_token.get(token_id, ())

    def select(self, roles: Iterable[str]) -> set[int]:
        """Ids of the tokens that play any of ``roles``; the pseudo-role ``"additional"`` selects the specials
        and added tokens that play none."""
        wanted = set(roles)
        return {token_id for token_id, played in self.by_token.items()
                if wanted.intersection(played) or (not played and "additional" in wanted)}


@dataclass(frozen=True)
class AddedTokenOptions:
    """HF added-token matching options, kept so `tokenizer.json` files round-trip exactly."""

    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = False
    in_model_vocab: bool = False  # the same id also appears in the model's own vocabulary


@dataclass(frozen=True)
class Token:
    """One vocabulary entry: its id, exact content and kind."""

    id: int
    content: bytes
    kind: TokenKind = TokenKind.NORMAL
    scaffold: bool = False
    score: float | None = None
    added: AddedTokenOptions | None = None

    @property
    def text(self) -> str:
        """The content as text (invalid UTF-8 shown with U+FFFD); for display and special-token names."""
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Alphabet:
    """The base units token content is made of: bytes for text, codebook ids for images."""

    kind: Literal["bytes", "codebook", "grid_codebook"] = "bytes"
    size: int = 256
    width: int = 1  # bytes per unit in `Token.content`

    @classmethod
    def bytes(cls) -> Alphabet:
        """The byte alphabet of text vocabularies (256 units, one byte each)."""
        return cls()

    @classmethod
    def codebook(cls, size: int) -> Alphabet:
        """A 1-D integer alphabet stored as fixed-width big-endian units (width 2 up to 65,536 codes)."""
        if size <= 0:
            raise VocabularyError(f"codebook size {size} must be positive")
        return cls("codebook", size, 1 if size <= 256 else 2 if size <= 65536 else 4)

    @classmethod
    def grid_codebook(cls, size: int) -> Alphabet:
        """A codebook alphabet whose tokens are 2-D patches (visual BPE)."""
        return replace(cls.codebook(size), kind="grid_codebook")

    def to_json(self) -> JSON:
        """The native-file form."""
        return {"kind": self.kind, "size": self.size, "width": self.width}


BYTES = Alphabet.bytes()


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """An immutable vocabulary: dense tokens, ordered merges and the pipeline settings that change encoding.

    Args:
        tokens: dense, ``tokens[i].id == i``.
        merges: ``(left_id, right_id)`` or ``(left_id, right_id, relation)``; rank = position. The result is the
            token whose content is the combination of both parts (concatenation for byte alphabets).
        alphabet: what content is made of.
        model: the model family the tokens follow: ``"bpe"``, ``"wordpiece"`` or ``"unigram"``.
        model_options: model-level settings that change encoding (HF names: ``byte_fallback``,
            ``ignore_merges``, ``fuse_unk``, ``continuing_subword_prefix``, ``end_of_word_suffix``, ``dropout``,
            ``max_input_chars_per_word``...).
        normalizer, pre_tokenizer, post_processor, decoder: HF component JSON objects, stored unchanged.
        metadata: provenance (trainer, configuration, corpus hash, lexkit version) and foreign-format extras.

    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b")])
    >>> len(v), v.id_of(b"ab"), v.merges[0] == (97, 98)
    (257, 256, True)
    """

    tokens: tuple[Token, ...]
    merges: tuple[Merge, ...] = ()
    alphabet: Alphabet = BYTES
    model: Literal["bpe", "wordpiece", "unigram"] = "bpe"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    normalizer: JSON | None = None
    pre_tokenizer: JSON | None = None
    post_processor: JSON | None = None
    decoder: JSON | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # subtle: the JSON fields are deep-copied so a caller mutating its dict cannot change this vocabulary.
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "merges", tuple(tuple(m) for m in self.merges))
        for name in ("model_options", "normalizer", "pre_tokenizer", "post_processor", "decoder", "metadata"):
            object.__setattr__(self, name, copy.deepcopy(getattr(self, name)))
        self.validate()

    # ----------------------------------------------------------------------------------------------------------
    # construction
    @classmethod
    def from_merges(
        cls,
        base: Sequence[bytes],
        merges: Iterable[tuple[bytes, bytes]],
        *,
        specials: Sequence[str] = (),
        **fields: Any,
    ) -> Vocabulary:
        """Build a BPE vocabulary from base symbols and merges given as byte pairs (CS336's contract).

        Ids: specials first, then ``base`` in order, then one new token per merge whose result is new.

        Raises:
            VocabularyError: a merge part is not yet in the vocabulary.
        """
        tokens = [Token(i, s.encode(), TokenKind.SPECIAL) for i, s in enumerate(specials)]
        ids: dict[bytes, int] = {}
        for content in base:
            ids[content] = len(tokens)
            tokens.append(Token(len(tokens), content))
        id_merges: list[Merge] = []
        for rank, (left, right) in enumerate(merges):
            for part in (left, right):
                if part not in ids:
                    raise VocabularyError(
                        f"merge {rank} ({left!r}, {right!r}) uses {part!r}, which is neither a base symbol nor "
                        "the result of an earlier merge; list merges in the order they were learned"
                    )
            result = left + right
            if result not in ids:
                ids[result] = len(tokens)
                tokens.append(Token(len(tokens), result))
            id_merges.append((ids[left], ids[right]))
        return cls(tuple(tokens), tuple(id_merges), **fields)

    def replace(self, **changes: Any) -> Vocabulary:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def renumber(self, mapping: Sequence[int]) -> Vocabulary:
        """Give token ``i`` the new id ``mapping[i]``; merges and post-processor ids follow.

        Raises:
            VocabularyError: ``mapping`` is not a permutation of the ids.
        """
        if sorted(mapping) != list(range(len(self.tokens))):
            raise VocabularyError(
                f"renumber needs a permutation of 0..{len(self.tokens) - 1}; got {len(mapping)} ids "
                f"with {len(set(mapping))} distinct values"
            )
        tokens: list[Token | None] = [None] * len(self.tokens)
        for token in self.tokens:
            tokens[mapping[token.id]] = replace(token, id=mapping[token.id])
        merges = tuple((mapping[m[0]], mapping[m[1]], *m[2:]) for m in self.merges)
        post = _remap_post_processor_ids(self.post_processor, mapping)
        return replace(self, tokens=tuple(t for t in tokens if t is not None), merges=merges, post_processor=post)

    # ----------------------------------------------------------------------------------------------------------
    # lookups (derived and cached)
    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def model_size(self) -> int:
        """Rows an embedding matrix needs: all tokens but scaffold tokens (which take the highest ids)."""
        return len(self.tokens) - sum(1 for t in self.tokens if t.scaffold)

    @cached_property
    def _ids_by_content(self) -> dict[bytes, int]:
        ids: dict[bytes, int] = {}
        for token in self.tokens:
            if token.kind in (TokenKind.NORMAL, TokenKind.UNKNOWN, TokenKind.ADDED):
                ids.setdefault(token.content, token.id)
        return ids

    def id_of(self, content: bytes) -> int | None:
        """The id of a normal, added or unknown token with exactly this content, or None."""
        return self._ids_by_content.get(content)

    @cached_property
    def byte_ids(self) -> dict[int, int]:
        """Byte value -> id of the token that stands for that single byte (byte-fallback pieces preferred)."""
        out: dict[int, int] = {}
        for token in self.tokens:
            if token.kind == TokenKind.BYTE:
                out[token.content[0]] = token.id
        for token in self.tokens:
            if token.kind == TokenKind.NORMAL and len(token.content) == 1:
                out.setdefault(token.content[0], token.id)
        return out

    @cached_property
    def special_tokens(self) -> dict[str, int]:
        """Text of each special or added token -> id."""
        return {t.text: t.id for t in self.tokens if t.kind in (TokenKind.SPECIAL, TokenKind.ADDED)}

    @cached_property
    def merge_ranks(self) -> dict[tuple[int, int], int]:
        """(left_id, right_id) -> rank of its first occurrence in the merge list."""
        ranks: dict[tuple[int, int], int] = {}
        for rank, merge in enumerate(self.merges):
            ranks.setdefault((merge[0], merge[1]), rank)
        return ranks

    @cached_property
    def unknown_id(self) -> int | None:
        """Id of the unknown token, if any."""
        return next((t.id for t in self.tokens if t.kind == TokenKind.UNKNOWN), None)

    def special_roles(self) -> SpecialRoles:
        """The roles of the special, added and unknown tokens, found by their conventional names (`ROLE_NAMES`).

        The one role table of lexkit: sticky-token detection and transfer both read it. An unknown-kind token
        is always ``unk``. A tokenizer's own configuration (transformers' ``bos_token``...) is richer where it
        exists; transfer prefers it.
        """
        return self._special_roles

    @cached_property
    def _special_roles(self) -> SpecialRoles:
        by_token: dict[int, tuple[str, ...]] = {}
        for token in self.tokens:
            if token.kind not in (TokenKind.SPECIAL, TokenKind.ADDED, TokenKind.UNKNOWN):
                continue
            played = set(ROLE_NAMES.get(token.text, ()))
            if token.kind == TokenKind.UNKNOWN:
                played.add("unk")
            by_token[token.id] = tuple(role for role in SPECIAL_ROLES if role in played)
        return SpecialRoles(by_token)

    def merge_result(self, merge: Merge) -> int:
        """Id of the token a merge produces."""
        content = self.tokens[merge[0]].content + self.tokens[merge[1]].content
        result = self.id_of(content)
        assert result is not None, "validate() guarantees every merge result exists"
        return result

    # ----------------------------------------------------------------------------------------------------------
    # invariants
    def validate(self) -> None:
        """Check the vocabulary's invariants; each failure names the offending token id and content.

        Raises:
            VocabularyError: an invariant is broken.
        """
        seen: dict[tuple[bool, bytes], int] = {}
        for position, token in enumerate(self.tokens):
            if token.id != position:
                raise VocabularyError(
                    f"token ids must be dense: position {position} holds id {token.id} ({token.content!r}); "
                    "fill holes with TokenKind.UNUSED tokens"
                )
            if token.kind == TokenKind.UNUSED and not token.content:
                continue
            if token.kind == TokenKind.SPECIAL:
                if not token.content:
                    raise VocabularyError(f"special token {token.id} has empty content; give it a name")
                continue
            # subtle: byte-fallback pieces (<0x61>) and a normal "a" share content by design; keep their
            # namespaces apart.
            key = (token.kind == TokenKind.BYTE, token.content)
            if key in seen:
                raise VocabularyError(
                    f"tokens {seen[key]} and {token.id} have the same content {token.content!r}; "
                    "content must be unique among non-special tokens"
                )
            seen[key] = token.id
            if self.alphabet.width > 1 and len(token.content) % self.alphabet.width:
                raise VocabularyError(
                    f"token {token.id} content {token.content!r} is not a whole number of "
                    f"{self.alphabet.width}-byte units"
                )
        self._validate_merges()
        if self.alphabet.kind == "bytes" and self.model == "bpe":
            present = {t.content[0] for t in self.tokens if len(t.content) == 1 and t.kind != TokenKind.SPECIAL}
            if len(present) < 256 and self.unknown_id is None:
                logger.warning(
                    "vocabulary covers %d of 256 single bytes and has no unknown token: text with other "
                    "bytes cannot be encoded",
                    len(present),
                )

    def _validate_merges(self) -> None:
        if self._merges_valid_fast():
            return
        n = len(self.tokens)
        defined: set[int] = set()
        for rank, merge in enumerate(self.merges):
            if len(merge) == 3 and merge[2] not in ("right", "below"):
                raise VocabularyError(f"merge {rank} has relation {merge[2]!r}; use 'right' or 'below'")
            for part in merge[:2]:
                if not 0 <= part < n:
                    raise VocabularyError(f"merge {rank} {merge[:2]} refers to id {part}, outside 0..{n - 1}")
                if self.tokens[part].kind == TokenKind.SPECIAL:
                    raise VocabularyError(
                        f"merge {rank} uses special token {part} ({self.tokens[part].content!r}); "
                        "special tokens take part in no merge"
                    )
            if self.alphabet.kind == "grid_codebook":
                continue  # 2-D patch results are checked by the visual trainer's own validation
            content = self.tokens[merge[0]].content + self.tokens[merge[1]].content
            result = self._ids_by_content.get(content)
            if result is None:
                raise VocabularyError(
                    f"merge {rank} ({merge[0]}, {merge[1]}) produces {content!r}, which is not a token; "
                    "add the result token before the merge"
                )
            defined.add(result)
        for token in self.tokens:
            if token.scaffold and (token.id not in defined or token.kind != TokenKind.NORMAL):
                raise VocabularyError(
                    f"scaffold token {token.id} ({token.content!r}) must be a normal merge result"
                )


    def _merges_valid_fast(self) -> bool:
        """True when every merge is a pair of non-special ids whose concatenation is a token (the common case),
        checked with C-level loops (a 445k-merge vocabulary: 0.2 s instead of 1.5 s); False sends the caller to
        the loop that names the first offending merge. Scaffold and 2-D vocabularies always take that loop."""
        merges, tokens = self.merges, self.tokens
        if self.alphabet.kind == "grid_codebook" or set(map(len, merges)) - {2} or any(t.scaffold for t in tokens):
            return False
        lefts, rights = list(map(itemgetter(0), merges)), list(map(itemgetter(1), merges))
        n = len(tokens)
        if merges and not (0 <= min(lefts) and 0 <= min(rights) and max(lefts) < n and max(rights) < n):
            return False
        specials = {t.id for t in tokens if t.kind == TokenKind.SPECIAL}
        if specials and not specials.isdisjoint(chain(lefts, rights)):
            return False
        contents = [t.content for t in tokens]
        joined = map(add, map(contents.__getitem__, lefts), map(contents.__getitem__, rights))
        return None not in map(self._ids_by_content.get, joined)


def _remap_post_processor_ids(spec: JSON | None, mapping: Sequence[int]) -> JSON | None:
    """Rewrite the token ids inside an HF post-processor spec after renumbering."""
    if spec is None:
        return None
    spec = copy.deepcopy(spec)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "ids" and isinstance(value, list):
                    node[key] = [mapping[i] for i in value]
                elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2:
                    node[key] = [value[0], mapping[value[1]]]
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec)
    return spec
