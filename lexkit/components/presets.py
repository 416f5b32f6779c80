"""HF component JSON for the presets trainers use (byte-level, whitespace, Metaspace, digits, NFKC, lowercase,
sequences) and the ``ByteLevel`` decoder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lexkit.components.normalizers import _NORMALIZERS
from lexkit.components.patterns import _PATTERNS
from lexkit.components.pre_tokenizers import _PRE_TOKENIZERS

__all__ = [
    "byte_level_pre_tokenizer", "whitespace_pre_tokenizer", "metaspace_pre_tokenizer",
    "digits_pre_tokenizer", "nfkc_normalizer", "lowercase_normalizer", "sequence", "byte_level_decoder",
]


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
