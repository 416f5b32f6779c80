"""`TextPipeline`: a normalizer then a pre-tokenizer, run the way HF's trainer runs them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from lexkit.components.normalizers import Normalizer, _IdentityNormalizer, build_normalizer
from lexkit.components.pre_tokenizers import PreTokenizer, build_pre_tokenizer

__all__ = ["TextPipeline", "build_pipeline"]


class TextPipeline:
    """A normalizer followed by a pre-tokenizer: text in, the pre-tokens HF's trainer counts out.

    Use this rather than ``pre_tokenizer.pre_tokenize(normalizer.normalize(text))``: the two differ in one case
    (``Metaspace(prepend_scheme="first")`` after a normalizer that removes leading characters, such as ``Strip``),
    because HF keeps track of where the normalized text came from.

    >>> from lexkit.components import whitespace_pre_tokenizer
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
