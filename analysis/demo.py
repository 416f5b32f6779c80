"""``lexkit demo``: train BPE on the embedded corpus and compare its token efficiency with real tokenizers.

Every tenth document of the embedded corpus is held out for measuring. GPT-2 and o200k join the comparison
when ``make fixtures`` has fetched them (``$LEXKIT_FIXTURES`` or ``./cache/fixtures``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lexkit.analysis.efficiency import EfficiencySummary, measure, table

from lexkit import Tokenizer
from lexkit._io import atomic_write_text
from lexkit.embedded import PROVENANCE, default_corpus


def fixtures_dir() -> Path:
    """Where ``make fixtures`` puts the real tokenizers."""
    return Path(os.environ.get("LEXKIT_FIXTURES", "cache/fixtures"))


def _reference_tokenizers() -> list[tuple[str, Callable[[list[str]], list[list[int]]], int]]:
    """(name, encode_batch, vocab size) of the real tokenizers present in the fixture cache."""
    found: list[tuple[str, Callable[[list[str]], list[list[int]]], int]] = []
    gpt2 = fixtures_dir() / "gpt2" / "tokenizer.json"
    if gpt2.exists():
        tok = Tokenizer.load(gpt2)
        found.append(("gpt2", lambda texts: tok.encode_batch(texts, disallowed_special=()), len(tok.vocabulary)))
    cache = fixtures_dir() / "tiktoken"
    if cache.exists():
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache.resolve()))
        import tiktoken

        try:
            o200k = tiktoken.get_encoding("o200k_base")
        except Exception:  # noqa: BLE001 - a broken cache only means one fewer comparison
            return found
        found.append(("o200k_base", o200k.encode_ordinary_batch, o200k.n_vocab))
    return found


def run_demo(output: Path, *, vocab_size: int = 8000, echo: Callable[[str], Any] | None = print) -> dict[str, Any]:
    """Train, save and compare; returns the summary that is also written to ``output/summary.json``."""
    from lexkit.vocab import BPEConfig, train

    say = echo or (lambda _line: None)
    documents = default_corpus("mixed")
    held_out = documents[::10]
    training = [d for i, d in enumerate(documents) if i % 10]
    say(f"embedded corpus: {len(training)} training / {len(held_out)} held-out documents ({PROVENANCE})")
    start = time.perf_counter()
    config = BPEConfig(vocab_size=vocab_size, special_tokens=("<|endoftext|>",))
    vocabulary = train(_lines(training), config, progress=echo is not None)
    seconds = time.perf_counter() - start
    tokenizer = Tokenizer(vocabulary)
    tokenizer.save(output / "bpe")
    say(f"trained byte-level BPE: {len(vocabulary)} tokens in {seconds:.1f}s -> {output / 'bpe'}")

    summaries: list[EfficiencySummary] = [
        measure(f"lexkit-bpe-{vocab_size // 1000}k", lambda t: tokenizer.encode_batch(t, disallowed_special=()),
                held_out, vocab_size=len(vocabulary))
    ]
    for name, encode_batch, size in _reference_tokenizers():
        summaries.append(measure(name, encode_batch, held_out, vocab_size=size))
    if len(summaries) == 1:
        say("(run `make fixtures` to compare with GPT-2 and o200k)")
    rows = table(summaries)
    for row in rows:
        say(row)
    report = {"corpus": PROVENANCE, "training_documents": len(training), "held_out_documents": len(held_out),
              "training_seconds": round(seconds, 2), "tokenizers": [s.to_json() for s in summaries]}
    atomic_write_text(output / "summary.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(output / "summary.md", "```\n" + "\n".join(rows) + "\n```\n")
    say(f"summary written to {output / 'summary.json'} and {output / 'summary.md'}")
    return report


def _lines(documents: list[str]) -> list[str]:
    return [line for d in documents for line in d.splitlines(keepends=True)]
