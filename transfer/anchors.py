"""Anchor matching: which target tokens already have a row in the source model.

A token's canonical key is ``(role, bytes)`` where the bytes are exactly what the token contributes to decoded
text. lexkit's `Vocabulary` already stores those bytes for GPT-2 byte-level (``Ġhello``), SentencePiece
(``▁hello``) and byte-fallback (``<0x0A>``) surfaces alike, so matching across tokenizer families is plain
equality; WordPiece pieces are the one case rewritten here (``##ing`` -> ``ing``, ``hello`` -> `` hello``).
Special tokens match by role first (bos, eos, pad, unk, mask), then by their exact text.

Not handled: prefix matching (copying the row of the longest existing prefix) and fuzzy (case-folded) matching.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from lexkit.errors import LexkitError
from lexkit.transfer.tokenizer import TEXT_KINDS, TransferTokenizer
from lexkit.vocabulary import Token, TokenKind, Vocabulary

MatchKind = Literal["exact", "role"]
Key = tuple[str, bytes]
__all__ = ["TEXT_KINDS", "AnchorMatch", "canonical_key", "match_anchors", "source_keys"]


@dataclass(frozen=True)
class AnchorMatch:
    """Target tokens that have a source row, and how each was matched.

    Attributes:
        pairs: target id -> source id, in target id order.
        kinds: target id -> ``"exact"`` (same canonical bytes, or same special-token text) or ``"role"``.
    """

    pairs: dict[int, int] = field(default_factory=dict)
    kinds: dict[int, MatchKind] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)

    def counts(self) -> dict[str, int]:
        """Number of anchors per match kind, plus ``total``."""
        counts = Counter(self.kinds.values())
        return {"exact": counts["exact"], "role": counts["role"], "total": len(self.pairs)}


def canonical_key(vocabulary: Vocabulary, token: Token) -> Key | None:
    """The canonical key ``(role, bytes)`` of one token, or None for an unused id.

    Normal and byte-fallback tokens share the ``"normal"`` role, so ``<0x0A>`` and a byte-level ``Ċ`` (both the
    byte 0x0A) get the same key; special and unknown tokens are keyed by their text under ``"special"``, added
    tokens under ``"added"``.

    Args:
        vocabulary: the vocabulary the token belongs to (its model family decides the WordPiece rewrite).
        token: the token.

    Returns:
        The key, or None when the token is an unused placeholder.
    """
    if token.kind == TokenKind.UNUSED:
        return None
    if token.kind in (TokenKind.SPECIAL, TokenKind.UNKNOWN):
        return ("special", token.content)
    if token.kind == TokenKind.ADDED:
        return ("added", token.content)
    content = token.content
    if vocabulary.model == "wordpiece" and token.kind == TokenKind.NORMAL:
        prefix = str(vocabulary.model_options.get("continuing_subword_prefix", "##")).encode()
        content = content[len(prefix):] if content.startswith(prefix) else b" " + content
    return ("normal", content)


def source_keys(source: TransferTokenizer, rows: int) -> dict[Key, int]:
    """Canonical key -> source id, for the source tokens that have an embedding row.

    When several source tokens share a key (a SentencePiece ``a`` and its ``<0x61>`` byte piece), the normal
    token wins over the byte piece, then the lower id.
    """
    vocabulary = source.vocabulary
    keys: dict[Key, int] = {}
    ordered = sorted(vocabulary.tokens[:rows], key=lambda t: (t.kind == TokenKind.BYTE, t.id))
    for token in ordered:
        key = canonical_key(vocabulary, token)
        if key is not None:
            keys.setdefault(key, token.id)
    return keys


def match_anchors(source: TransferTokenizer, target: TransferTokenizer, *, source_rows: int) -> AnchorMatch:
    """Match every target token against the source vocabulary.

    Special and unknown target tokens match a source token with the same role (in the order bos, eos, pad,
    unk, mask), else a source special with the same text. Added tokens match a source added or special token
    with the same text, else a normal token with the same bytes. Everything else matches by canonical bytes.

    Args:
        source: the source tokenizer.
        target: the target tokenizer.
        source_rows: rows of the source embedding matrix; source ids at or above it are ignored.

    Returns:
        The anchors.

    Raises:
        LexkitError: no target token matches any source token (the tokenizers share nothing to anchor on).
    """
    keys = source_keys(source, source_rows)
    source_roles = {role: i for role, i in source.roles.items() if i < source_rows}
    match = AnchorMatch()
    for token in target.vocabulary.tokens:
        key = canonical_key(target.vocabulary, token)
        if key is None:
            continue
        found: tuple[int, MatchKind] | None = None
        if token.kind in (TokenKind.SPECIAL, TokenKind.UNKNOWN):
            role = next((r for r in target.roles_of(token.id) if r in source_roles), None)
            if role is not None:
                found = (source_roles[role], "role")
            elif key in keys:
                found = (keys[key], "exact")
        elif token.kind == TokenKind.ADDED:
            for candidate in (key, ("special", token.content), ("normal", token.content)):
                if candidate in keys:
                    found = (keys[candidate], "exact")
                    break
        elif key in keys:
            found = (keys[key], "exact")
        if found is not None:
            match.pairs[token.id], match.kinds[token.id] = found
    if not match.pairs:
        raise LexkitError(
            f"no anchors: none of the target tokenizer's {len(target)} tokens has the same bytes or special "
            f"role as any of the source's {source_rows} tokens, so there is nothing to transplant from; "
            "check that the target is a text tokenizer over the same script, or pass the right source tokenizer"
        )
    return match
