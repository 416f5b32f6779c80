"""HF pre-tokenizers, executed in Python: `PreTokenizer` and its implementations, built from JSON by
`build_pre_tokenizer`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import regex

from lexkit.components._specs import (
    _behavior_of,
    _compile,
    _json,
    _pattern_of,
    _split_with,
    _unsupported_message,
    build_component,
)
from lexkit.components._unicode import _PUNCTUATION, _WHITE_SPACE_SET
from lexkit.components.patterns import GPT2_PATTERN
from lexkit.errors import FormatError, UnsupportedComponentError
from lexkit.formats.surface import bytes_to_unicode

__all__ = ["PreTokenizer", "build_pre_tokenizer"]

# str.translate table from a latin-1 decoded byte string to GPT-2 surface characters.
_BYTE_SURFACE = str.maketrans({chr(b): c for b, c in bytes_to_unicode().items()})


def _byte_surface(piece: str) -> str:
    """A pre-token as HF's ByteLevel shows it: its UTF-8 bytes through GPT-2's byte-to-unicode table."""
    if piece.isascii():  # ASCII characters are their own UTF-8 bytes
        return piece.translate(_BYTE_SURFACE)
    return piece.encode("utf-8").decode("latin-1").translate(_BYTE_SURFACE)


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

        >>> from lexkit.components import byte_level_pre_tokenizer
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
    return build_component(
        spec, "pre-tokenizer", _PRE_TOKENIZERS, _PreTokenizerSequence, _UnsupportedPreTokenizer, build_pre_tokenizer
    )
