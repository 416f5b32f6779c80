"""HF ``tokenizers`` normalizers and pre-tokenizers, executed in Python so training can count pre-tokens fast.

Components are described by the same tagged JSON objects as in ``tokenizer.json`` (``{"type": "ByteLevel", ...}``).
`build_normalizer` and `build_pre_tokenizer` turn such an object into something that runs; `build_pipeline`
chains the two the way HF's trainer does. The strings produced are exactly those HF produces: ``pre_tokenize``
returns what ``tokenizers``' ``pre_tokenize_str`` returns (for ``ByteLevel``, GPT-2 byte-to-unicode surface
strings), and a `TextPipeline` returns the pre-tokens HF's trainer counts. The differential tests in
``tests/lexkit/test_components.py`` hold this against the installed ``tokenizers``.

Handled:
- normalizers: ``NFC``, ``NFD``, ``NFKC``, ``NFKD``, ``Lowercase``, ``Strip``, ``Replace`` (String and Regex
  patterns), ``Prepend``, ``BertNormalizer``, ``Sequence``;
- pre-tokenizers: ``ByteLevel``, ``Split`` (all five behaviours, ``invert``), ``Whitespace``, ``WhitespaceSplit``,
  ``CharDelimiterSplit``, ``Metaspace`` (``prepend_scheme`` always/first/never, ``split``), ``Digits``,
  ``Punctuation``, ``BertPreTokenizer``, ``Sequence``.

Not handled: any other type (``Precompiled``, ``UnicodeScripts``, ...). Building one never fails; running it
raises `UnsupportedComponentError` naming the component (the same holds for a ``Regex`` pattern that the
``regex`` module cannot compile). A malformed object of a handled type (a missing field, an unknown
``behavior``) raises `FormatError` when built, as ``tokenizers`` refuses to load it too.

Unicode versions: ``tokenizers`` classifies characters with Rust crates frozen at older Unicode versions than
the ``regex`` module and ``unicodedata``. The places where that changes results for characters that
``unicodedata`` knows are corrected with small tables below (``_PUNCTUATION_*``, ``_NORMALIZATION_LAG``,
``_CONTROL_LAG``), checked over every code point by a slow test. Remaining, documented differences: characters
assigned after the Unicode version of HF's regex engine (Oniguruma) follow the ``regex`` module's newer tables;
U+0295 is ``Ll`` for HF and ``Lo`` for ``regex`` (it matters only to patterns naming ``\\p{Ll}``/``\\p{Lo}``, such
as `O200K_PATTERN`); ``BertNormalizer(strip_accents=True)`` removes every ``\\p{Mn}`` character the ``regex``
module knows, while HF keeps about 500 nonspacing marks added after Unicode 9; user ``Split``/``Replace``
regexes run under the ``regex`` module's syntax (``\\w`` there also lacks ``\\p{No}``, which Oniguruma includes).
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, Literal

import regex

from lexkit.errors import FormatError, UnsupportedComponentError
from lexkit.formats._bytes_unicode import bytes_to_unicode

__all__ = [
    "CL100K_PATTERN",
    "GPT2_PATTERN",
    "O200K_PATTERN",
    "Normalizer",
    "PreTokenizer",
    "TextPipeline",
    "build_normalizer",
    "build_pipeline",
    "build_pre_tokenizer",
    "byte_level_decoder",
    "byte_level_pre_tokenizer",
    "digits_pre_tokenizer",
    "lowercase_normalizer",
    "metaspace_pre_tokenizer",
    "nfkc_normalizer",
    "sequence",
    "whitespace_pre_tokenizer",
]

# ---------------------------------------------------------------------------------------------------------------
# Published split patterns

#: GPT-2's pattern (OpenAI's ``encoder.py``); HF's ``ByteLevel(use_regex=True)`` splits with exactly this regex.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

#: GPT-4's ``cl100k_base`` pattern in the form Llama-3's ``tokenizer.json`` uses (no possessive quantifiers).
CL100K_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"""
    r"""\s+(?!\S)|\s+"""
)

#: GPT-4o's ``o200k_base`` pattern, as tiktoken publishes it (alternatives joined with ``|``).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

_PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}

# ---------------------------------------------------------------------------------------------------------------
# Character tables


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    """The body of a regex character class (no brackets) matching the inclusive code-point ranges."""
    return "".join(
        regex.escape(chr(lo)) if lo == hi else f"{regex.escape(chr(lo))}-{regex.escape(chr(hi))}" for lo, hi in ranges
    )


# subtle: the `regex` module's \s is exactly Unicode White_Space, which is Rust's `char::is_whitespace` (HF's
# WhitespaceSplit, Strip, BertNormalizer) and Oniguruma's \s (HF's regexes). Python's str.isspace() is NOT: it
# adds U+001C..U+001F, so str.split()/str.strip() must never be used here.
_WHITE_SPACE = "".join(chr(c) for c in range(0x3001) if regex.match(r"\s", chr(c)))  # U+3000 is the last
_WHITE_SPACE_SET = frozenset(_WHITE_SPACE)

# HF's `is_bert_punc` = ASCII punctuation or Unicode P* from the `unicode_categories` crate (Unicode ~9).
# Characters the `regex` module calls P* but that crate does not know (assigned later):
_PUNCTUATION_NEWER = (
    (0x061D, 0x061D), (0x09FD, 0x09FD), (0x0A76, 0x0A76), (0x0C77, 0x0C77), (0x0C84, 0x0C84), (0x1B4E, 0x1B4F),
    (0x1B7D, 0x1B7F), (0x2E43, 0x2E4F), (0x2E52, 0x2E5D), (0x2E60, 0x2E63), (0x10D6E, 0x10D6E),
    (0x10EAD, 0x10EAD), (0x10ED0, 0x10ED0), (0x10F55, 0x10F59), (0x10F86, 0x10F89), (0x113D4, 0x113D5),
    (0x113D7, 0x113D8), (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D), (0x11660, 0x1166C),
    (0x116B9, 0x116B9), (0x1183B, 0x1183B), (0x11944, 0x11946), (0x119E2, 0x119E2), (0x11A3F, 0x11A46),
    (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2), (0x11B00, 0x11B09), (0x11BE1, 0x11BE1), (0x11C41, 0x11C45),
    (0x11C70, 0x11C71), (0x11EF7, 0x11EF8), (0x11F43, 0x11F4F), (0x11FFF, 0x11FFF), (0x12FF1, 0x12FF2),
    (0x16D6D, 0x16D6F), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1E5FF, 0x1E5FF), (0x1E95E, 0x1E95F),
)
# ... and the two that crate calls punctuation while newer Unicode moved them out of P*.
_PUNCTUATION_OLDER = ((0x166D, 0x166D), (0x111C9, 0x111C9))
_PUNCTUATION = (
    rf"[[\p{{P}}!-/:-@\[-`{{-~{_char_class(_PUNCTUATION_OLDER)}]--[{_char_class(_PUNCTUATION_NEWER)}]]"
)

# Characters whose Unicode normalization HF's `unicode-normalization-alignments` crate (Unicode ~12.0) does not
# know, while `unicodedata` does: HF leaves them as they are, so lexkit protects them.
_NORMALIZATION_LAG = {
    "NFC": (),
    "NFD": ((0x11938, 0x11938),),
    "NFKC": (
        (0x32FF, 0x32FF), (0xA7F2, 0xA7F4), (0xAB69, 0xAB69), (0x10781, 0x10785), (0x10787, 0x107B0),
        (0x107B2, 0x107BA), (0x1F16C, 0x1F16C), (0x1FBF0, 0x1FBF9),
    ),
    "NFKD": (
        (0x32FF, 0x32FF), (0xA7F2, 0xA7F4), (0xAB69, 0xAB69), (0x10781, 0x10785), (0x10787, 0x107B0),
        (0x107B2, 0x107BA), (0x11938, 0x11938), (0x1F16C, 0x1F16C), (0x1FBF0, 0x1FBF9),
    ),
}

# Format characters (Cf) newer than HF's `unicode_categories` crate: BertNormalizer's clean_text keeps them.
_CONTROL_LAG = ((0x0890, 0x0891), (0x08E2, 0x08E2), (0x110CD, 0x110CD), (0x13430, 0x1343F))

# BertNormalizer's "Chinese character" blocks (HF `bert.rs`, from Google's BERT).
_CJK = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)

# str.translate table from a latin-1 decoded byte string to GPT-2 surface characters.
_BYTE_SURFACE = str.maketrans({chr(b): c for b, c in bytes_to_unicode().items()})

Behavior = Literal["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
_BEHAVIORS: dict[str, Behavior] = {
    "removed": "Removed",
    "isolated": "Isolated",
    "mergedwithprevious": "MergedWithPrevious",
    "mergedwithnext": "MergedWithNext",
    "contiguous": "Contiguous",
}


def _byte_surface(piece: str) -> str:
    """A pre-token as HF's ByteLevel shows it: its UTF-8 bytes through GPT-2's byte-to-unicode table."""
    if piece.isascii():  # ASCII characters are their own UTF-8 bytes
        return piece.translate(_BYTE_SURFACE)
    return piece.encode("utf-8").decode("latin-1").translate(_BYTE_SURFACE)


def _describe(spec: Mapping[str, Any]) -> str:
    return f"{spec.get('type', '?')} ({_json(spec)})"


def _json(spec: object) -> str:
    import json

    text = json.dumps(spec, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


# ---------------------------------------------------------------------------------------------------------------
# Splitting machinery shared by Split, Punctuation, Replace: HF's `Pattern::find_matches` and split behaviours

Span = tuple[int, int, bool]


def _find_matches(pattern: regex.Pattern[str], text: str) -> list[Span]:
    """Cut ``text`` into ``(start, end, is_match)`` spans covering it, as HF's ``find_matches`` does.

    subtle: Oniguruma's iterator (HF) never reports an empty match that starts where the previous match ended;
    Python's does, so those are skipped here.
    """
    spans: list[Span] = []
    previous = 0
    last_match_end = -1
    for match in pattern.finditer(text):
        start, end = match.span()
        if start == end == last_match_end:
            continue
        if previous != start:
            spans.append((previous, start, False))
        spans.append((start, end, True))
        previous = last_match_end = end
    if previous != len(text):
        spans.append((previous, len(text), False))
    return spans


def _apply_behavior(spans: list[Span], behavior: Behavior) -> list[tuple[int, int]]:
    """The spans HF keeps for a split behaviour (a line-by-line port of ``NormalizedString::split``)."""
    if behavior == "Removed":
        return [(start, end) for start, end, is_match in spans if not is_match]
    if behavior == "Isolated":
        return [(start, end) for start, end, _ in spans]
    kept: list[list[int]] = []
    previous_match = False
    if behavior == "Contiguous":
        for start, end, is_match in spans:
            if is_match == previous_match and kept:
                kept[-1][1] = end
            else:
                kept.append([start, end])
            previous_match = is_match
    elif behavior == "MergedWithPrevious":
        for start, end, is_match in spans:
            if is_match and not previous_match and kept:
                kept[-1][1] = end
            else:
                kept.append([start, end])
            previous_match = is_match
    else:  # MergedWithNext: the same fold, right to left
        for start, end, is_match in reversed(spans):
            if is_match and not previous_match and kept:
                kept[-1][0] = start
            else:
                kept.append([start, end])
            previous_match = is_match
        kept.reverse()
    return [(start, end) for start, end in kept]


def _split_with(pattern: regex.Pattern[str], text: str, behavior: Behavior, invert: bool) -> tuple[list[str], bool]:
    """Split ``text`` like HF; also say whether the first piece starts at the text's first character."""
    spans = _find_matches(pattern, text)
    if invert:
        spans = [(start, end, not is_match) for start, end, is_match in spans]
    kept = [(start, end) for start, end in _apply_behavior(spans, behavior) if end > start]
    return [text[start:end] for start, end in kept], bool(kept) and kept[0][0] == 0


def _compile(pattern: str) -> regex.Pattern[str]:
    """Compile a component's regex, or raise the error an unsupported component reports when it runs.

    subtle: HF compiles with Oniguruma's Ruby syntax, where ``^`` and ``$`` always match at line boundaries,
    hence MULTILINE. (Ruby's ``(?m)``, which means DOTALL there, is not translated.)
    """
    try:
        return regex.compile(pattern, regex.MULTILINE)
    except regex.error as exc:
        raise _NotExecutable(
            f"its regex {pattern!r} is not valid for Python's `regex` module ({exc}); lexkit runs HF's "
            "Oniguruma patterns through `regex`, which lacks a few Oniguruma-only constructs"
        ) from exc


def _pattern_of(spec: Mapping[str, Any]) -> tuple[str, bool]:
    """``{"String": s}`` or ``{"Regex": r}`` -> (text, is_regex), as HF's ``SplitPattern``/``ReplacePattern``."""
    pattern = spec.get("pattern")
    if isinstance(pattern, Mapping) and len(pattern) == 1:
        (kind, value), = pattern.items()
        if kind in ("String", "Regex") and isinstance(value, str):
            return value, kind == "Regex"
    raise FormatError(
        f"{spec.get('type')} component {_json(spec)}: 'pattern' must be {{\"String\": ...}} or {{\"Regex\": ...}}, "
        f"got {pattern!r}; write it as HF tokenizers does, e.g. \"pattern\": {{\"Regex\": \"\\\\s+\"}}"
    )


class _NotExecutable(Exception):
    """Internal: raised while building a component lexkit cannot run; turned into an `_Unsupported` object."""


# ---------------------------------------------------------------------------------------------------------------
# Normalizers


class Normalizer(ABC):
    """A text normalizer that agrees with HF ``tokenizers``' ``normalize_str`` on the same JSON object.

    Attributes:
        spec: the HF component JSON this normalizer was built from (None for the identity).
    """

    spec: dict[str, Any] | None = None

    def normalize(self, text: str) -> str:
        """Normalize ``text`` exactly as HF's ``normalize_str`` does.

        Args:
            text: any string.

        Returns:
            The normalized string.

        Raises:
            UnsupportedComponentError: the component (or one inside a Sequence) is not one lexkit can run.
        """
        return self._apply(text)[0]

    @abstractmethod
    def _apply(self, text: str) -> tuple[str, bool]:
        """Normalize; also say whether the result's first character still comes from the text's first one.

        HF tracks alignments; only this one bit of them changes what the trainer sees (``Metaspace`` with
        ``prepend_scheme="first"`` prepends only to a piece aligned with offset 0 of the original text).
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_json(self.spec)})"


class _IdentityNormalizer(Normalizer):
    def _apply(self, text: str) -> tuple[str, bool]:
        return text, True


class _UnicodeNormalizer(Normalizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._form: UnicodeForm = spec["type"]

    def _apply(self, text: str) -> tuple[str, bool]:
        return _unicode_normalize(self._form, text), True


UnicodeForm = Literal["NFC", "NFD", "NFKC", "NFKD"]
_LAG_SPLITTERS = {
    form: regex.compile(f"([{_char_class(lag)}])") if lag else None for form, lag in _NORMALIZATION_LAG.items()
}


def _unicode_normalize(form: UnicodeForm, text: str) -> str:
    """``unicodedata.normalize``, leaving alone the characters HF's normalization tables do not know."""
    lag = _LAG_SPLITTERS[form]
    if lag is None or lag.search(text) is None:
        return unicodedata.normalize(form, text)
    # subtle: HF treats the lagging characters as unassigned starters, which block reordering and composition,
    # so normalizing the runs between them separately is exact.
    parts = lag.split(text)
    return "".join(part if i % 2 else unicodedata.normalize(form, part) for i, part in enumerate(parts))


class _Lowercase(Normalizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def _apply(self, text: str) -> tuple[str, bool]:
        return _lowercase(text), True


def _lowercase(text: str) -> str:
    # subtle: HF lowercases character by character (Rust `char::to_lowercase`); Python's str.lower() applies the
    # context rule that turns a word-final capital sigma into "ς". Pre-mapping "Σ" to "σ" removes that rule.
    return text.replace("Σ", "σ").lower()


class _Strip(Normalizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._left = bool(spec.get("strip_left", True))
        self._right = bool(spec.get("strip_right", True))

    def _apply(self, text: str) -> tuple[str, bool]:
        at_origin = not (self._left and text[:1] in _WHITE_SPACE_SET)
        if self._left:
            text = text.lstrip(_WHITE_SPACE)
        if self._right:
            text = text.rstrip(_WHITE_SPACE)
        return text, at_origin



class _Replace(Normalizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        pattern, is_regex = _pattern_of(spec)
        content = spec.get("content")
        if not isinstance(content, str):
            raise FormatError(
                f"Replace component {_json(spec)}: 'content' must be a string, got {content!r}; "
                'add e.g. "content": "▁"'
            )
        self._content = content
        self._literal = None if is_regex else pattern
        self._regex = _compile(pattern) if is_regex else None

    def _apply(self, text: str) -> tuple[str, bool]:
        content = self._content
        if not text:  # HF finds no match in an empty string, not even an empty one
            return text, True
        if self._regex is None:
            literal = self._literal
            if not literal:  # HF: an empty String pattern matches nothing
                return text, True
            return text.replace(literal, content), not (content == "" and text.startswith(literal))
        spans = _find_matches(self._regex, text)
        out = "".join(content if is_match else text[start:end] for start, end, is_match in spans)
        at_origin = not (content == "" and spans and spans[0][2] and spans[0][1] > 0)
        return out, at_origin


class _Prepend(Normalizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        prepend = spec.get("prepend")
        if not isinstance(prepend, str):
            raise FormatError(
                f"Prepend component {_json(spec)}: 'prepend' must be a string, got {prepend!r}; "
                'add e.g. "prepend": "▁"'
            )
        self._prepend = prepend

    def _apply(self, text: str) -> tuple[str, bool]:
        return (self._prepend + text if text else text), True


class _BertNormalizer(Normalizer):
    _CONTROL = regex.compile(
        rf"[[\x00\ufffd\p{{Cc}}\p{{Cf}}\p{{Co}}]--[\t\n\r{_char_class(_CONTROL_LAG)}]]+", regex.V1
    )
    _OTHER_SPACE = regex.compile(r"[^\S ]")  # White_Space other than " " (what is left after control removal)
    _CJK_CHAR = regex.compile(f"([{_char_class(_CJK)}])")
    _NONSPACING = regex.compile(r"\p{Mn}+")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._clean_text = bool(spec.get("clean_text", True))
        self._chinese = bool(spec.get("handle_chinese_chars", True))
        self._lowercase = bool(spec.get("lowercase", True))
        strip_accents = spec.get("strip_accents")
        self._strip_accents = self._lowercase if strip_accents is None else bool(strip_accents)

    def _apply(self, text: str) -> tuple[str, bool]:
        at_origin = True
        if self._clean_text:
            at_origin = self._CONTROL.match(text) is None
            text = self._OTHER_SPACE.sub(" ", self._CONTROL.sub("", text))
        if self._chinese:
            text = self._CJK_CHAR.sub(r" \1 ", text)
        if self._strip_accents:
            text = _unicode_normalize("NFD", text)
            at_origin = at_origin and self._NONSPACING.match(text) is None
            text = self._NONSPACING.sub("", text)
        if self._lowercase:
            text = _lowercase(text)
        return text, at_origin


class _NormalizerSequence(Normalizer):
    def __init__(self, spec: dict[str, Any], items: list[Normalizer]) -> None:
        self.spec = spec
        self._items = items

    def _apply(self, text: str) -> tuple[str, bool]:
        at_origin = True
        for item in self._items:
            text, kept = item._apply(text)
            at_origin = at_origin and kept
        return text, at_origin


class _UnsupportedNormalizer(Normalizer):
    def __init__(self, spec: dict[str, Any], reason: str) -> None:
        self.spec = spec
        self._message = _unsupported_message("normalizer", spec, reason)

    def _apply(self, text: str) -> tuple[str, bool]:
        raise UnsupportedComponentError(self._message)


_NORMALIZERS: dict[str, Callable[[dict[str, Any]], Normalizer]] = {
    "NFC": _UnicodeNormalizer,
    "NFD": _UnicodeNormalizer,
    "NFKC": _UnicodeNormalizer,
    "NFKD": _UnicodeNormalizer,
    "Lowercase": _Lowercase,
    "Strip": _Strip,
    "Replace": _Replace,
    "Prepend": _Prepend,
    "BertNormalizer": _BertNormalizer,
}


def build_normalizer(spec: Mapping[str, Any] | None) -> Normalizer:
    """Build a runnable normalizer from an HF normalizer JSON object.

    Args:
        spec: the ``"normalizer"`` object of a ``tokenizer.json`` (``{"type": "NFKC"}``...), or None.

    Returns:
        A `Normalizer`; the identity for None. A type lexkit cannot run still builds: the returned object
        raises `UnsupportedComponentError` when used.

    Raises:
        FormatError: ``spec`` is not a component object, or a field of a handled type is malformed.

    >>> build_normalizer({"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}
    ...                  ).normalize("Ｈｅｌｌｏ")
    'hello'
    """
    if spec is None:
        return _IdentityNormalizer()
    kind = _type_of(spec, "normalizer")
    spec = dict(spec)
    try:
        if kind == "Sequence":
            items = spec.get("normalizers")
            if not isinstance(items, list):
                raise FormatError(
                    f"Sequence normalizer {_json(spec)} has no 'normalizers' list; "
                    'write it as {"type": "Sequence", "normalizers": [...]}'
                )
            return _NormalizerSequence(spec, [build_normalizer(item) for item in items])
        factory = _NORMALIZERS.get(kind)
        if factory is None:
            return _UnsupportedNormalizer(spec, f"lexkit runs only {sorted([*_NORMALIZERS, 'Sequence'])}")
        return factory(spec)
    except _NotExecutable as exc:
        return _UnsupportedNormalizer(spec, str(exc))


# ---------------------------------------------------------------------------------------------------------------
# Pre-tokenizers


class PreTokenizer(ABC):
    """A pre-tokenizer that returns exactly the strings HF ``tokenizers``' ``pre_tokenize_str`` returns.

    Attributes:
        spec: the HF component JSON this pre-tokenizer was built from (None for the identity).
    """

    spec: dict[str, Any] | None = None
    #: Per-piece map HF applies after splitting (ByteLevel's byte-to-unicode); counting applies it once per
    #: distinct pre-token instead of once per occurrence.
    surface: Callable[[str], str] | None = None

    def pre_tokenize(self, text: str) -> list[str]:
        """Split ``text`` into pre-tokens exactly as HF's ``pre_tokenize_str`` does (the strings only).

        Args:
            text: the (already normalized) text.

        Returns:
            The pre-tokens in order; ByteLevel pre-tokens are GPT-2 byte-to-unicode surface strings.

        Raises:
            UnsupportedComponentError: the component (or one inside a Sequence) is not one lexkit can run.

        >>> build_pre_tokenizer(byte_level_pre_tokenizer()).pre_tokenize("Hello world!")
        ['Hello', 'Ġworld', '!']
        """
        if not text:
            return []
        pieces = self._split(text, True)[0]
        surface = self.surface
        return [surface(piece) for piece in pieces] if surface is not None else pieces

    @abstractmethod
    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        """Split one non-empty piece, before `surface`; never returns empty strings.

        Args:
            text: the piece.
            at_origin: whether the piece starts at offset 0 of the original text (HF's alignment), which only
                ``Metaspace(prepend_scheme="first")`` reads.

        Returns:
            The pieces, and whether the first one starts at ``text``'s first character.
        """

    def _plain_split(self) -> Callable[[str], list[str]] | None:
        """A faster ``text -> pieces`` (before `surface`) when splitting ignores ``at_origin``, else None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_json(self.spec)})"


class _FindallPreTokenizer(PreTokenizer):
    """A pre-tokenizer that is one ``findall``: the pattern's matches are the pieces and none is empty."""

    _pattern: regex.Pattern[str]
    #: Whether removed characters may precede the first match (then ``at_origin`` must be computed).
    _drops: bool = False

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        pieces = self._pattern.findall(text)
        return pieces, not self._drops or text[0] not in _WHITE_SPACE_SET

    def _plain_split(self) -> Callable[[str], list[str]]:
        findall: Callable[[str], list[str]] = self._pattern.findall
        return findall


class _IdentityPreTokenizer(PreTokenizer):
    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        return [text], True

    def _plain_split(self) -> Callable[[str], list[str]]:
        return _as_list


def _as_list(text: str) -> list[str]:
    return [text] if text else []


class _ByteLevel(PreTokenizer):
    _GPT2 = regex.compile(GPT2_PATTERN)
    surface = staticmethod(_byte_surface)

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        # HF's defaults when a field is missing (`trim_offsets` only moves offsets, never the strings)
        self._prefix = bool(spec.get("add_prefix_space", True))
        self._use_regex = bool(spec.get("use_regex", True))

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        if self._prefix and text[0] != " ":
            text = " " + text
        return (self._GPT2.findall(text) if self._use_regex else [text]), True

    def _plain_split(self) -> Callable[[str], list[str]]:
        if self._prefix:
            return lambda text: self._split(text, True)[0] if text else []
        return self._GPT2.findall if self._use_regex else _as_list


class _Split(PreTokenizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        pattern, is_regex = _pattern_of(spec)
        self._behavior = _behavior_of(spec)
        self._invert = bool(spec.get("invert", False))
        self._regex = _compile(pattern if is_regex else regex.escape(pattern))
        # Isolated keeps every span, matched or not: a plain findall is enough when the matches tile the text.
        self._isolated = self._behavior == "Isolated" and self._regex.groups == 0

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        if self._isolated:
            pieces = self._regex.findall(text)
            if sum(map(len, pieces)) == len(text):
                return ([piece for piece in pieces if piece] if "" in pieces else pieces), True
        return _split_with(self._regex, text, self._behavior, self._invert)

    def _plain_split(self) -> Callable[[str], list[str]]:
        return lambda text: self._split(text, True)[0] if text else []


class _Whitespace(_FindallPreTokenizer):
    _pattern = regex.compile(r"\w+|[^\w\s]+")  # HF uses Rust's `regex` crate here, whose \w is the `regex` module's
    _drops = True

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec


class _WhitespaceSplit(_FindallPreTokenizer):
    _pattern = regex.compile(r"\S+")
    _drops = True

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec


class _BertPreTokenizer(_FindallPreTokenizer):
    _pattern = regex.compile(rf"{_PUNCTUATION}|[^\s{_PUNCTUATION}]+", regex.V1)
    _drops = True

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec


class _Digits(_FindallPreTokenizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        # HF tests Rust's char::is_numeric, i.e. general category N*; one match per digit or per run
        individual = bool(spec.get("individual_digits", False))
        self._pattern = regex.compile(r"\p{N}|\P{N}+" if individual else r"\p{N}+|\P{N}+")


class _CharDelimiterSplit(PreTokenizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        delimiter = spec.get("delimiter")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise FormatError(
                f"CharDelimiterSplit component {_json(spec)}: 'delimiter' must be one character, got "
                f'{delimiter!r}; write e.g. "delimiter": " "'
            )
        self._delimiter = delimiter

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        return [piece for piece in text.split(self._delimiter) if piece], text[0] != self._delimiter


class _Punctuation(PreTokenizer):
    _CHAR = regex.compile(_PUNCTUATION, regex.V1)
    _ISOLATED = regex.compile(rf"{_PUNCTUATION}|[^{_PUNCTUATION}]+", regex.V1)

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._behavior = _behavior_of(spec, default="Isolated")

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        if self._behavior == "Isolated":
            return self._ISOLATED.findall(text), True
        return _split_with(self._CHAR, text, self._behavior, False)


class _Metaspace(PreTokenizer):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        replacement = spec.get("replacement", "\u2581")
        if not isinstance(replacement, str) or len(replacement) != 1:
            raise FormatError(
                f"Metaspace component {_json(spec)}: 'replacement' must be one character, got {replacement!r}; "
                'write e.g. "replacement": "▁"'
            )
        scheme = spec.get("prepend_scheme")
        if scheme is None:  # files written before tokenizers 0.19 carry add_prefix_space instead
            scheme = "always" if spec.get("add_prefix_space", True) else "never"
        if scheme not in ("always", "first", "never"):
            raise FormatError(
                f"Metaspace component {_json(spec)}: prepend_scheme {scheme!r} is not one of 'always', 'first', "
                "'never'; set one of those"
            )
        self._replacement = replacement
        self._scheme = scheme
        escaped = regex.escape(replacement)
        self._pieces = regex.compile(f"{escaped}[^{escaped}]*|[^{escaped}]+") if spec.get("split", True) else None

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        replacement = self._replacement
        text = text.replace(" ", replacement)
        scheme = self._scheme
        if (scheme == "always" or (scheme == "first" and at_origin)) and not text.startswith(replacement):
            text = replacement + text
        # HF splits on the replacement with MergedWithNext: each one starts a piece, runs give single pieces
        return (self._pieces.findall(text) if self._pieces is not None else [text]), True

    def _plain_split(self) -> Callable[[str], list[str]] | None:
        if self._scheme == "first":
            return None
        return lambda text: self._split(text, True)[0] if text else []


class _PreTokenizerSequence(PreTokenizer):
    def __init__(self, spec: dict[str, Any], items: list[PreTokenizer]) -> None:
        self.spec = spec
        self._items = items
        self.surface = items[-1].surface if items else None

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        pieces = [text]
        starts_at_text = True
        last = len(self._items) - 1
        for position, item in enumerate(self._items):
            out: list[str] = []
            for index, piece in enumerate(pieces):
                split, first_kept = item._split(piece, at_origin and index == 0)
                if index == 0:
                    starts_at_text = starts_at_text and first_kept and bool(split)
                out += split
            if position != last and item.surface is not None:
                out = [item.surface(piece) for piece in out]
            pieces = out
            at_origin = at_origin and starts_at_text
        return pieces, starts_at_text

    def _plain_split(self) -> Callable[[str], list[str]] | None:
        if len(self._items) == 1:
            return self._items[0]._plain_split()
        if any(isinstance(item, _Metaspace) and item._scheme == "first" for item in self._items):
            return None
        return lambda text: self._split(text, True)[0] if text else []


class _UnsupportedPreTokenizer(PreTokenizer):
    def __init__(self, spec: dict[str, Any], reason: str) -> None:
        self.spec = spec
        self._message = _unsupported_message("pre-tokenizer", spec, reason)

    def _split(self, text: str, at_origin: bool) -> tuple[list[str], bool]:
        raise UnsupportedComponentError(self._message)


_PRE_TOKENIZERS: dict[str, Callable[[dict[str, Any]], PreTokenizer]] = {
    "ByteLevel": _ByteLevel,
    "Split": _Split,
    "Whitespace": _Whitespace,
    "WhitespaceSplit": _WhitespaceSplit,
    "CharDelimiterSplit": _CharDelimiterSplit,
    "Metaspace": _Metaspace,
    "Digits": _Digits,
    "Punctuation": _Punctuation,
    "BertPreTokenizer": _BertPreTokenizer,
}


def build_pre_tokenizer(spec: Mapping[str, Any] | None) -> PreTokenizer:
    """Build a runnable pre-tokenizer from an HF pre-tokenizer JSON object.

    Args:
        spec: the ``"pre_tokenizer"`` object of a ``tokenizer.json``, or None.

    Returns:
        A `PreTokenizer`; for None, one that returns the whole text as one pre-token. A type lexkit cannot run
        still builds: the returned object raises `UnsupportedComponentError` when used.

    Raises:
        FormatError: ``spec`` is not a component object, or a field of a handled type is malformed.

    >>> build_pre_tokenizer({"type": "Digits", "individual_digits": True}).pre_tokenize("a12")
    ['a', '1', '2']
    """
    if spec is None:
        return _IdentityPreTokenizer()
    kind = _type_of(spec, "pre-tokenizer")
    spec = dict(spec)
    try:
        if kind == "Sequence":
            items = spec.get("pretokenizers")
            if not isinstance(items, list):
                raise FormatError(
                    f"Sequence pre-tokenizer {_json(spec)} has no 'pretokenizers' list; "
                    'write it as {"type": "Sequence", "pretokenizers": [...]}'
                )
            return _PreTokenizerSequence(spec, [build_pre_tokenizer(item) for item in items])
        factory = _PRE_TOKENIZERS.get(kind)
        if factory is None:
            return _UnsupportedPreTokenizer(spec, f"lexkit runs only {sorted([*_PRE_TOKENIZERS, 'Sequence'])}")
        return factory(spec)
    except _NotExecutable as exc:
        return _UnsupportedPreTokenizer(spec, str(exc))


def _type_of(spec: object, family: str) -> str:
    if isinstance(spec, Mapping) and isinstance(spec.get("type"), str):
        return str(spec["type"])
    raise FormatError(
        f"a {family} must be an HF component object with a 'type' field, got {_json(spec)}; "
        'pass e.g. {"type": "NFKC"} or None'
    )


def _behavior_of(spec: Mapping[str, Any], default: str | None = None) -> Behavior:
    value = spec.get("behavior", default)
    behavior = _BEHAVIORS.get(str(value).replace("_", "").lower())
    if behavior is None:
        raise FormatError(
            f"{spec.get('type')} component {_json(spec)}: behavior {value!r} is not one of "
            f"{sorted(_BEHAVIORS.values())}; set one of those"
        )
    return behavior


def _unsupported_message(family: str, spec: Mapping[str, Any], reason: str) -> str:
    return (
        f"the {family} {_describe(spec)} cannot be run by lexkit: {reason}. Replace it in the tokenizer's "
        f"{family.replace('-', '_')} JSON with a supported component (see lexkit.components), or train with HF "
        "tokenizers directly for this pipeline"
    )


# ---------------------------------------------------------------------------------------------------------------
# Normalizer + pre-tokenizer, as HF's trainer runs them


class TextPipeline:
    """A normalizer followed by a pre-tokenizer: text in, the pre-tokens HF's trainer counts out.

    Use this rather than ``pre_tokenizer.pre_tokenize(normalizer.normalize(text))``: the two differ in one case
    (``Metaspace(prepend_scheme="first")`` after a normalizer that removes leading characters, such as ``Strip``),
    because HF keeps track of where the normalized text came from.

    >>> pipeline = build_pipeline({"type": "Lowercase"}, whitespace_pre_tokenizer())
    >>> pipeline.pre_tokenize("Hello, World")
    ['hello', ',', 'world']
    >>> dict(pipeline.count(["a b", "a"]))
    {'a': 2, 'b': 1}
    """

    def __init__(self, normalizer: Normalizer, pre_tokenizer: PreTokenizer) -> None:
        self.normalizer = normalizer
        self.pre_tokenizer = pre_tokenizer

    def pre_tokenize(self, text: str) -> list[str]:
        """Normalize and pre-tokenize one text item.

        Args:
            text: one training item (a line of a file, a document, an iterator item).

        Returns:
            The pre-token strings, as HF's trainer sees them.

        Raises:
            UnsupportedComponentError: a component is not one lexkit can run.
        """
        pieces = self._raw(text)
        surface = self.pre_tokenizer.surface
        return [surface(piece) for piece in pieces] if surface is not None else pieces

    def count(self, texts: Iterable[str], *, surface: bool = True) -> Counter[str]:
        """Count the pre-tokens of many text items (one item = one HF training sequence).

        Args:
            texts: the items.
            surface: apply the pre-tokenizer's final per-piece map (ByteLevel's byte-to-unicode). Pass False to
                merge counts of many calls first and map once at the end with `surface_counts`, which is faster.

        Returns:
            Pre-token string -> number of occurrences.

        Raises:
            UnsupportedComponentError: a component is not one lexkit can run.
        """
        raw: Counter[str] = Counter()
        split = self.pre_tokenizer._plain_split()
        if split is not None:
            if not isinstance(self.normalizer, _IdentityNormalizer):
                texts = map(self.normalizer.normalize, texts)
            raw.update(chain.from_iterable(map(split, texts)))
        else:
            for text in texts:
                raw.update(self._raw(text))
        return self.surface_counts(raw) if surface else raw

    def surface_counts(self, raw: Counter[str]) -> Counter[str]:
        """Apply the pre-tokenizer's final per-piece map to counts made with ``count(..., surface=False)``.

        Args:
            raw: counts of pre-tokens before the map.

        Returns:
            Counts of the mapped pre-tokens (``raw`` itself when the pre-tokenizer has no such map).
        """
        surface = self.pre_tokenizer.surface
        if surface is None:
            return raw
        counts: Counter[str] = Counter()
        for piece, count in raw.items():  # the map may join pieces (ByteLevel's added prefix space)
            counts[surface(piece)] += count
        return counts

    def _raw(self, text: str) -> list[str]:
        text, at_origin = self.normalizer._apply(text)
        return self.pre_tokenizer._split(text, at_origin)[0] if text else []

    def __repr__(self) -> str:
        return f"TextPipeline({self.normalizer!r}, {self.pre_tokenizer!r})"


def build_pipeline(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None) -> TextPipeline:
    """Build the normalize-then-pre-tokenize stage of an HF tokenizer from its two JSON objects.

    Args:
        normalizer: the HF normalizer JSON, or None.
        pre_tokenizer: the HF pre-tokenizer JSON, or None.

    Returns:
        A `TextPipeline`.

    Raises:
        FormatError: a component object is malformed (see `build_normalizer`, `build_pre_tokenizer`).
    """
    return TextPipeline(build_normalizer(normalizer), build_pre_tokenizer(pre_tokenizer))


# ---------------------------------------------------------------------------------------------------------------
# JSON builders for the presets trainers use


def byte_level_pre_tokenizer(
    pattern: Literal["gpt2", "cl100k", "o200k", "none"] = "gpt2", *, add_prefix_space: bool = False
) -> dict[str, Any]:
    """The HF JSON of a byte-level pre-tokenizer splitting with a published pattern.

    ``"gpt2"`` is HF's own ``ByteLevel(use_regex=True)``; ``"cl100k"``/``"o200k"`` are written like Llama-3's
    ``tokenizer.json``: ``Sequence[Split(Regex, Isolated), ByteLevel(use_regex=False)]``; ``"none"`` maps bytes
    without splitting.

    Args:
        pattern: which split pattern.
        add_prefix_space: add a space before the text when it does not start with one (GPT-2 style).

    Returns:
        The pre-tokenizer JSON object.

    Raises:
        ValueError: unknown ``pattern``, or ``add_prefix_space`` with ``cl100k``/``o200k`` (HF's ByteLevel would
            then add a space to every pre-token, not only the first).

    >>> byte_level_pre_tokenizer()
    {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True}
    """
    if pattern in ("gpt2", "none"):
        return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True,
                "use_regex": pattern == "gpt2"}
    if pattern not in _PATTERNS:
        raise ValueError(f"pattern {pattern!r} is not one of 'gpt2', 'cl100k', 'o200k', 'none'; pass one of those")
    if add_prefix_space:
        raise ValueError(
            f"add_prefix_space=True with pattern {pattern!r} would make HF's ByteLevel prefix a space to every "
            "pre-token the Split produces, not only the first; pass add_prefix_space=False and add the normalizer "
            '{"type": "Prepend", "prepend": " "} instead'
        )
    return sequence(
        [
            {"type": "Split", "pattern": {"Regex": _PATTERNS[pattern]}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ]
    )


def whitespace_pre_tokenizer() -> dict[str, Any]:
    """The HF JSON of ``Whitespace``: word runs (``\\w+``) and runs of other non-space characters.

    Returns:
        ``{"type": "Whitespace"}``.
    """
    return {"type": "Whitespace"}


def metaspace_pre_tokenizer(
    replacement: str = "\u2581",
    *,
    prepend_scheme: Literal["always", "first", "never"] = "always",
    split: bool = True,
) -> dict[str, Any]:
    """The HF JSON of ``Metaspace``: spaces become ``replacement``, which then starts each pre-token.

    Args:
        replacement: one character standing for a space (sentencepiece's ``▁`` by default).
        prepend_scheme: when to put a ``replacement`` in front of a piece that lacks one.
        split: split before each ``replacement``; False keeps the text as one pre-token.

    Returns:
        The pre-tokenizer JSON object.

    Raises:
        ValueError: ``replacement`` is not a single character or ``prepend_scheme`` is unknown.
    """
    if len(replacement) != 1:
        raise ValueError(f"replacement must be one character, got {replacement!r}; pass e.g. replacement='▁'")
    if prepend_scheme not in ("always", "first", "never"):
        raise ValueError(f"prepend_scheme {prepend_scheme!r} is not one of 'always', 'first', 'never'")
    return {"type": "Metaspace", "replacement": replacement, "prepend_scheme": prepend_scheme, "split": split}


def digits_pre_tokenizer(individual_digits: bool = False) -> dict[str, Any]:
    """The HF JSON of ``Digits``: numbers split from the rest, each digit alone if ``individual_digits``.

    Args:
        individual_digits: one pre-token per digit instead of per run of digits.

    Returns:
        The pre-tokenizer JSON object.
    """
    return {"type": "Digits", "individual_digits": individual_digits}


def nfkc_normalizer() -> dict[str, Any]:
    """The HF JSON of the ``NFKC`` Unicode normalizer.

    Returns:
        ``{"type": "NFKC"}``.
    """
    return {"type": "NFKC"}


def lowercase_normalizer() -> dict[str, Any]:
    """The HF JSON of ``Lowercase`` (per-character Unicode lowercasing).

    Returns:
        ``{"type": "Lowercase"}``.
    """
    return {"type": "Lowercase"}


def sequence(
    components: Sequence[Mapping[str, Any]], *, kind: Literal["normalizer", "pre_tokenizer"] | None = None
) -> dict[str, Any]:
    """The HF JSON of a ``Sequence`` of normalizers or of pre-tokenizers.

    Args:
        components: the component objects, in order.
        kind: which family; inferred from the components' types when None.

    Returns:
        ``{"type": "Sequence", "normalizers": [...]}`` or ``{"type": "Sequence", "pretokenizers": [...]}``.

    Raises:
        ValueError: the family cannot be inferred (empty list, unknown or mixed types); pass ``kind``.

    >>> sequence([nfkc_normalizer(), lowercase_normalizer()])["type"]
    'Sequence'
    """
    if kind is None:
        families = {_family_of(component) for component in components}
        if len(families) != 1 or None in families:
            raise ValueError(
                f"cannot tell whether {[c.get('type') for c in components]} are normalizers or pre-tokenizers; "
                "pass kind='normalizer' or kind='pre_tokenizer'"
            )
        kind = families.pop()
    key = "normalizers" if kind == "normalizer" else "pretokenizers"
    return {"type": "Sequence", key: [dict(component) for component in components]}


def _family_of(component: Mapping[str, Any]) -> Literal["normalizer", "pre_tokenizer"] | None:
    kind = component.get("type")
    if kind == "Sequence":
        return "normalizer" if "normalizers" in component else "pre_tokenizer" if "pretokenizers" in component else None
    if kind in _NORMALIZERS:
        return "normalizer"
    if kind in _PRE_TOKENIZERS:
        return "pre_tokenizer"
    return None


def byte_level_decoder() -> dict[str, Any]:
    """The HF JSON of the ``ByteLevel`` decoder (GPT-2 surface strings back to text).

    Returns:
        The decoder JSON object, as GPT-2's and Llama-3's ``tokenizer.json`` write it.
    """
    return {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
