"""A vocabulary at a glance (what ``lexkit inspect`` prints): size, kinds, longest tokens, merges, pipeline."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from lexkit.vocabulary import Merge, Vocabulary

__all__ = ["show", "VocabularySummary", "describe"]


def show(content: bytes) -> str:
    """Content for humans: text with control characters escaped, invalid UTF-8 as \\x.. escapes."""
    text = content.decode("utf-8", errors="backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class VocabularySummary:
    """The facts ``lexkit inspect`` reports."""

    size: int
    model_size: int
    model: str
    alphabet: str
    kinds: dict[str, int]
    merges: int
    longest: list[tuple[int, str, int]]  # (id, shown content, length in bytes)
    first_merges: list[tuple[str, str, str]]  # (left, right, result)
    last_merges: list[tuple[str, str, str]]
    pipeline: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(vars(self))

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        out = [
            f"vocabulary: {self.size} tokens ({self.model_size} with embedding rows), model {self.model}, "
            f"alphabet {self.alphabet}",
            "kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items())),
            f"merges: {self.merges}",
            "pipeline: " + ", ".join(f"{k} {v or '-'}" for k, v in self.pipeline.items()),
            "longest tokens:",
            *(f"  {token_id:>7}  {length:>3} B  {shown!r}" for token_id, shown, length in self.longest),
        ]
        if self.first_merges:
            out.append("first merges (left + right -> result):")
            out += [f"  {a!r} + {b!r} -> {c!r}" for a, b, c in self.first_merges]
            out.append("last merges:")
            out += [f"  {a!r} + {b!r} -> {c!r}" for a, b, c in self.last_merges]
        return out


def _component_name(spec: dict[str, Any] | None) -> str | None:
    if spec is None:
        return None
    children = spec.get("pretokenizers") or spec.get("normalizers") or spec.get("decoders") or []
    if children:
        return "+".join(str(_component_name(c)) for c in children)
    return str(spec.get("type"))


def describe(vocabulary: Vocabulary, *, top: int = 10) -> VocabularySummary:
    """Summarise ``vocabulary``, listing ``top`` longest tokens and first/last merges."""
    tokens = vocabulary.tokens
    longest = sorted(tokens, key=lambda t: (-len(t.content), t.id))[:top]

    def merge_view(merge: Merge) -> tuple[str, str, str]:
        left, right = tokens[merge[0]].content, tokens[merge[1]].content
        return show(left), show(right), show(left + right)

    merges = vocabulary.merges
    return VocabularySummary(
        size=len(vocabulary), model_size=vocabulary.model_size, model=vocabulary.model,
        alphabet=f"{vocabulary.alphabet.kind}({vocabulary.alphabet.size})",
        kinds=dict(Counter(t.kind.value for t in tokens)), merges=len(merges),
        longest=[(t.id, show(t.content), len(t.content)) for t in longest],
        first_merges=[merge_view(m) for m in merges[:top]],
        last_merges=[merge_view(m) for m in merges[-top:]] if top else [],
        pipeline={"normalizer": _component_name(vocabulary.normalizer),
                  "pre_tokenizer": _component_name(vocabulary.pre_tokenizer),
                  "decoder": _component_name(vocabulary.decoder)},
    )
