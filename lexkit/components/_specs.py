"""What the component modules share: reading a component's JSON (type, behaviour, pattern), error text, and the
splitting machinery of ``Split``, ``Punctuation`` and ``Replace`` (HF's ``Pattern::find_matches`` and behaviours)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import regex

from lexkit.errors import FormatError

T = TypeVar("T")

Behavior = Literal["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
_BEHAVIORS: dict[str, Behavior] = {
    "removed": "Removed",
    "isolated": "Isolated",
    "mergedwithprevious": "MergedWithPrevious",
    "mergedwithnext": "MergedWithNext",
    "contiguous": "Contiguous",
}


def _describe(spec: Mapping[str, Any]) -> str:
    return f"{spec.get('type', '?')} ({_json(spec)})"


def _json(spec: object) -> str:
    import json

    text = json.dumps(spec, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


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


def build_component(
    spec: Mapping[str, Any],
    family: Literal["normalizer", "pre-tokenizer"],
    factories: Mapping[str, Callable[[dict[str, Any]], T]],
    sequence: Callable[[dict[str, Any], list[T]], T],
    unsupported: Callable[[dict[str, Any], str], T],
    build: Callable[[Mapping[str, Any]], T],
) -> T:
    """Build one component of ``family`` from its JSON object: a ``Sequence`` of ``build(item)``, the
    ``factories`` entry of its type, or, for a type or field lexkit cannot run, an ``unsupported`` stand-in.

    Raises:
        FormatError: ``spec`` is not a component object, or its Sequence has no list of items.
    """
    kind = _type_of(spec, family)
    spec = dict(spec)
    key = "normalizers" if family == "normalizer" else "pretokenizers"
    try:
        if kind == "Sequence":
            items = spec.get(key)
            if not isinstance(items, list):
                raise FormatError(
                    f"Sequence {family} {_json(spec)} has no '{key}' list; "
                    f'write it as {{"type": "Sequence", "{key}": [...]}}'
                )
            return sequence(spec, [build(item) for item in items])
        factory = factories.get(kind)
        if factory is None:
            return unsupported(spec, f"lexkit runs only {sorted([*factories, 'Sequence'])}")
        return factory(spec)
    except _NotExecutable as exc:
        return unsupported(spec, str(exc))
