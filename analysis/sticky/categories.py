"""Step 4: sort vocabulary entries into filter categories (magikarp's reachability rules) and descriptive kinds."""

from __future__ import annotations

import re
from collections.abc import Iterable

from lexkit.analysis.sticky.config import DEFAULT_SPECIAL_ROLES
from lexkit.analysis.sticky.results import Category, TokenInfo
from lexkit.tokenizer import Tokenizer
from lexkit.vocabulary import TokenKind

__all__ = [
    "LEADING_SPACE_MARKS", "SENTINEL", "adds_leading_space", "special_ids", "token_kind", "categorize",
    "raw_vocab_strings",
]

LEADING_SPACE_MARKS = (" ", "\u2581", "_", "\u0120")
SENTINEL = "\u00ab"
_UNUSED = re.compile(r"^(\[unused\d+\]|<extra_id_\d+>|<unused\d+>|<\|reserved_special_token_\d+\|>|\[reserved\d*\])$")


def adds_leading_space(tokenizer: Tokenizer) -> bool:
    """Whether encoding ``"test"`` yields a first token that starts with a space mark (SentencePiece-like)."""
    ids = tokenizer.encode_ordinary("test")
    if not ids:
        return False
    first = tokenizer.vocabulary.tokens[ids[0]].content.decode("utf-8", errors="replace")
    return first.startswith(LEADING_SPACE_MARKS)


def special_ids(tokenizer: Tokenizer, roles: Iterable[str]) -> set[int]:
    """Ids of the tokenizer's specials that fill ``roles`` (bos, eos, pad, unk, sep, mask, cls, additional).

    Roles are the vocabulary's own (`Vocabulary.special_roles`, shared with transfer); a special or added token
    that plays no named role counts as ``additional``.
    """
    return tokenizer.vocabulary.special_roles().select(roles)


def token_kind(tokenizer: Tokenizer, token_id: int, text: str, *, leading_space: bool) -> str:
    """lexkit's descriptive kind of a token (a label of lexkit's reports, not the paper's).

    ``special`` (a special token of the tokenizer, CLS included), ``unused`` (placeholders such as
    ``[unused3]`` or ``<extra_id_0>``), ``fragment`` (a continuation piece, a single non-letter character,
    or a piece that does not start a word), ``word`` (letters only, two or more, word-initial), else
    ``other`` (numbers, mixed pieces). ``leading_space`` is `adds_leading_space` of the tokenizer: for
    such tokenizers a word-initial piece starts with a space mark.
    """
    vocabulary = tokenizer.vocabulary
    token = vocabulary.tokens[token_id]
    if token.kind in (TokenKind.SPECIAL, TokenKind.UNKNOWN):
        return "special"
    stripped = text.strip()
    if _UNUSED.match(stripped) or token.kind == TokenKind.UNUSED:
        return "unused"
    if vocabulary.model == "wordpiece":
        prefix = str(vocabulary.model_options.get("continuing_subword_prefix", "##"))
        word_initial = not text.startswith(prefix)
    else:
        word_initial = text.startswith(LEADING_SPACE_MARKS) or not leading_space
    if not word_initial or (len(stripped) == 1 and not stripped.isalpha()):
        return "fragment"
    if len(stripped) >= 2 and stripped.isalpha():
        return "word"
    return "other"


def categorize(tokenizer: Tokenizer, *, special_roles: Iterable[str] = DEFAULT_SPECIAL_ROLES,
               token_ids: Iterable[int] | None = None) -> dict[int, TokenInfo]:
    """Step 4: decode each id alone, re-encode, and sort it into a `Category` (magikarp's rules).

    Reachable means ``encode(decode([id])) == [id]`` with the tokenizer's own specials allowed. Tokenizers
    that add a leading space get a sentinel (``«``) before encoding, whose ids are removed afterwards.

    Args:
        tokenizer: a lexkit tokenizer (e.g. ``Tokenizer.load(folder / "tokenizer.json")``).
        special_roles: roles counted as OK_SPECIAL (the authors leave out ``cls``).
        token_ids: ids to examine (default: every id).

    Returns:
        ``{token_id: TokenInfo}`` in id order.
    """
    vocabulary = tokenizer.vocabulary
    ids = list(range(len(vocabulary))) if token_ids is None else list(token_ids)
    sentinel = adds_leading_space(tokenizer)
    sentinel_ids = tokenizer.encode_ordinary(SENTINEL) if sentinel else []
    texts = [_decode_for_insertion(tokenizer, i, sentinel, sentinel_ids) for i in ids]
    encoded = _reencode(tokenizer, [SENTINEL + t if sentinel else t for t in texts])
    if sentinel:
        encoded = [e[len(sentinel_ids):] if e[:len(sentinel_ids)] == sentinel_ids else e for e in encoded]
    chosen_specials = special_ids(tokenizer, special_roles)
    raw = _raw_strings(tokenizer)
    result = {}
    for token_id, text, reencoded in zip(ids, texts, encoded):
        category = _category(token_id, text, reencoded, chosen_specials)
        result[token_id] = TokenInfo(token_id=token_id, text=text, raw=raw.get(token_id, text), category=category,
                                     kind=token_kind(tokenizer, token_id, text, leading_space=sentinel))
    return result


def _decode_for_insertion(tokenizer: Tokenizer, token_id: int, sentinel: bool, sentinel_ids: list[int]) -> str:
    if not sentinel:
        return tokenizer.decode([token_id])
    # subtle: decoding after the sentinel keeps the token's leading space, which a lone decode would strip.
    prefix = tokenizer.decode(sentinel_ids)
    text = tokenizer.decode([*sentinel_ids, token_id])
    return text[len(prefix):] if text.startswith(prefix) else tokenizer.decode([token_id])


def _reencode(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Encode with the tokenizer's specials allowed; only texts holding a special's name take the slow path."""
    specials = tokenizer.vocabulary.special_tokens
    if not specials:
        return tokenizer.encode_batch(texts)
    pattern = re.compile("|".join(re.escape(name) for name in sorted(specials, key=len, reverse=True)))
    plain = [i for i, t in enumerate(texts) if not pattern.search(t)]
    out: list[list[int]] = [[] for _ in texts]
    for i, ids in zip(plain, tokenizer.encode_batch([texts[i] for i in plain], disallowed_special=())):
        out[i] = ids
    for i in set(range(len(texts))) - set(plain):
        out[i] = tokenizer.encode(texts[i], allowed_special="all")
    return out


def _category(token_id: int, text: str, reencoded: list[int], specials: set[int]) -> Category:
    if not text.strip():
        return Category.MEANINGLESS
    if reencoded == [token_id]:
        return Category.OK_SPECIAL if token_id in specials else Category.OK
    if (len(text) >= 3 and text[0] in "[<" and text[-1] in "]>" and any(c.isalpha() for c in text)):
        return Category.UNREACHABLE_SPECIAL
    if "\ufffd" in text:
        return Category.UNDECODEABLE
    return Category.UNREACHABLE_SINGLE_TOKEN if len(reencoded) == 1 else Category.UNREACHABLE_MULTI_TOKEN


def _raw_strings(tokenizer: Tokenizer) -> dict[int, str]:
    """The HF surface string of every id (``##ing``, ``Ġthe``, ``▁the``), from lexkit's exporter."""
    from lexkit.formats.hf import to_hf

    data = to_hf(tokenizer.vocabulary, allow_lossy=True)
    vocab = data["model"]["vocab"]
    entries = {int(i): str(s) for s, i in vocab.items()} if isinstance(vocab, dict) else {
        i: str(entry[0]) for i, entry in enumerate(vocab)}
    for added in data.get("added_tokens") or ():
        entries.setdefault(int(added["id"]), str(added["content"]))
    return entries


def raw_vocab_strings(tokenizer: Tokenizer) -> list[str]:
    """The raw strings of the base vocabulary (added tokens excluded), the texts μ is measured on."""
    from lexkit.formats.hf import to_hf

    vocab = to_hf(tokenizer.vocabulary, allow_lossy=True)["model"]["vocab"]
    if isinstance(vocab, dict):
        return [s for s, _ in sorted(vocab.items(), key=lambda item: item[1])]
    return [str(entry[0]) for entry in vocab]
