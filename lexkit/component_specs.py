"""Reading the tagged HF component objects (``{"type": "Sequence", "decoders": [...]}``) a `Vocabulary` keeps.

A vocabulary's normalizer, pre-tokenizer, decoder and post-processor are stored as HF ``tokenizer.json``
component JSON; `iter_components` lists every component inside one of them, nested ``Sequence``s included,
so runtime code and converters can ask "is there a Metaspace/ByteLevel step" without running the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lexkit.vocabulary import JSON

__all__ = ["iter_components"]

_CHILD_KEYS = ("pretokenizers", "normalizers", "decoders", "processors")  # where each Sequence type lists its parts


def iter_components(spec: Any) -> Iterator[JSON]:
    """Every component object in ``spec``, depth first, a ``Sequence`` before its parts; nothing for None.

    >>> [c["type"] for c in iter_components({"type": "Sequence", "decoders": [{"type": "Strip"}]})]
    ['Sequence', 'Strip']
    """
    if isinstance(spec, dict):
        yield spec
        for key in _CHILD_KEYS:
            for child in spec.get(key) or ():
                yield from iter_components(child)
