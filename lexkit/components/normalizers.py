"""HF normalizers, executed in Python: `Normalizer` and its implementations, built from JSON by `build_normalizer`."""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Literal

import regex

from lexkit.components._specs import (
    _compile,
    _find_matches,
    _json,
    _pattern_of,
    _unsupported_message,
    build_component,
)
from lexkit.components._unicode import (
    _CJK,
    _CONTROL_LAG,
    _NORMALIZATION_LAG,
    _WHITE_SPACE,
    _WHITE_SPACE_SET,
    _char_class,
)
from lexkit.errors import FormatError, UnsupportedComponentError

__all__ = ["Normalizer", "UnicodeForm", "build_normalizer"]


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
    return build_component(
        spec, "normalizer", _NORMALIZERS, _NormalizerSequence, _UnsupportedNormalizer, build_normalizer
    )
