"""Token-efficiency figures of one tokenizer on one corpus: bytes and characters per token, fertility,
vocabulary utilisation. Works with any encoder given as a batch function, so HF, tiktoken and sentencepiece
tokenizers compare on equal terms with lexkit's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import regex

EncodeBatch = Callable[[list[str]], list[list[int]]]
_WORD = regex.compile(r"\S+")


@dataclass(frozen=True)
class EfficiencySummary:
    """Counts and ratios for one (tokenizer, corpus) pair."""

    name: str
    vocab_size: int
    tokens: int
    bytes: int
    characters: int
    words: int
    distinct_tokens: int

    @property
    def bytes_per_token(self) -> float:
        """UTF-8 bytes per token (higher = more compression)."""
        return self.bytes / self.tokens if self.tokens else 0.0

    @property
    def chars_per_token(self) -> float:
        """Unicode characters per token."""
        return self.characters / self.tokens if self.tokens else 0.0

    @property
    def fertility(self) -> float:
        """Tokens per whitespace-separated word."""
        return self.tokens / self.words if self.words else 0.0

    @property
    def utilisation(self) -> float:
        """Share of the vocabulary that the corpus uses at least once."""
        return self.distinct_tokens / self.vocab_size if self.vocab_size else 0.0

    def to_json(self) -> dict[str, float | int | str]:
        """Counts and ratios as a JSON-ready dict."""
        return {**vars(self), "bytes_per_token": round(self.bytes_per_token, 4),
                "chars_per_token": round(self.chars_per_token, 4), "fertility": round(self.fertility, 4),
                "utilisation": round(self.utilisation, 4)}


def measure(name: str, encode_batch: EncodeBatch, texts: Sequence[str], *, vocab_size: int,
            batch_size: int = 256) -> EfficiencySummary:
    """Encode ``texts`` with ``encode_batch`` and count.

    Args:
        name: label for reports.
        encode_batch: maps a list of texts to their id lists.
        texts: the corpus, as documents or lines.
        vocab_size: the tokenizer's vocabulary size (for utilisation).
        batch_size: texts per call.
    """
    tokens = 0
    seen: set[int] = set()
    for start in range(0, len(texts), batch_size):
        for ids in encode_batch(list(texts[start:start + batch_size])):
            tokens += len(ids)
            seen.update(ids)
    return EfficiencySummary(
        name=name, vocab_size=vocab_size, tokens=tokens, bytes=sum(len(t.encode("utf-8")) for t in texts),
        characters=sum(len(t) for t in texts), words=sum(len(_WORD.findall(t)) for t in texts),
        distinct_tokens=len(seen),
    )


def table(summaries: Sequence[EfficiencySummary]) -> list[str]:
    """A fixed-width text table of the summaries, with each tokenizer's token count relative to the first."""
    head = f"{'tokenizer':<22} {'vocab':>8} {'tokens':>9} {'bytes/tok':>9} {'chars/tok':>9} {'tok/word':>8} " \
           f"{'used':>6} {'vs first':>8}"
    rows = [head, "-" * len(head)]
    base = summaries[0].tokens if summaries else 0
    for s in summaries:
        relative = f"{s.tokens / base:.3f}x" if base else "-"
        rows.append(f"{s.name:<22} {s.vocab_size:>8} {s.tokens:>9} {s.bytes_per_token:>9.3f} "
                    f"{s.chars_per_token:>9.3f} {s.fertility:>8.3f} {s.utilisation:>6.1%} {relative:>8}")
    return rows
