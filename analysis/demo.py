"""``lexkit demo``: train on the embedded corpus and write a token-efficiency report against real tokenizers.

Every tenth document of the embedded corpus is held out for measuring. Each registered trainer in `DEMO_TRAINERS`
trains at the same vocabulary size; GPT-2 and o200k join the comparison when ``make fixtures`` has fetched them
(``$LEXKIT_FIXTURES`` or ``./cache/fixtures``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lexkit import Tokenizer
from lexkit.analysis.report import AnalysisReport, analyze, load_tokenizer, write_report
from lexkit.embedded import PROVENANCE, code_documents, prose_documents


def fixtures_dir() -> Path:
    """Where ``make fixtures`` puts the real tokenizers."""
    return Path(os.environ.get("LEXKIT_FIXTURES", "cache/fixtures"))


def _reference_specs() -> list[str]:
    """Loader specs (see `load_tokenizer`) of the real tokenizers present in the fixture cache."""
    specs = []
    gpt2 = fixtures_dir() / "gpt2" / "tokenizer.json"
    if gpt2.exists():
        specs.append(f"gpt2={gpt2}")
    if (fixtures_dir() / "tiktoken").exists():
        specs.append("o200k=tiktoken:o200k_base")
    return specs


def _configs(vocab_size: int) -> dict[str, Any]:
    """One configuration per demo trainer (the BPE family as it exists), at the same size."""
    from lexkit.vocab import TRAINERS

    specials = ("<|endoftext|>",)
    configs = {}
    for algorithm in ("bpe", "scaffold-bpe", "lbpe"):
        if algorithm in TRAINERS:
            config_type = TRAINERS[algorithm][0]
            configs[algorithm] = config_type(vocab_size=vocab_size, special_tokens=specials)
    return configs


def run_demo(output: Path, *, vocab_size: int = 8000, echo: Callable[[str], Any] | None = print) -> dict[str, Any]:
    """Train, save, measure and report; returns the headline figures (also in ``output/report/report.json``)."""
    from lexkit.vocab import train

    say = echo or (lambda _line: None)
    prose, code = prose_documents(), code_documents()
    held_prose, held_code = prose[::10], code[::10]
    training = [d for i, d in enumerate(prose) if i % 10] + [d for i, d in enumerate(code) if i % 10]
    say(f"embedded corpus: {len(training)} training / {len(held_prose) + len(held_code)} held-out documents "
        f"({PROVENANCE})")
    lines = [line for d in training for line in d.splitlines(keepends=True)]
    tokenizers: dict[str, Tokenizer] = {}
    timings = {}
    for algorithm, config in _configs(vocab_size).items():
        start = time.perf_counter()
        vocabulary = train(lines, config, algorithm=algorithm, progress=echo is not None)
        timings[algorithm] = round(time.perf_counter() - start, 2)
        tokenizer = Tokenizer(vocabulary, encoder=vocabulary.metadata.get("encoder"))
        tokenizer.save(output / algorithm)
        name = f"lexkit-{algorithm}-{vocab_size // 1000}k"
        tokenizers[name] = tokenizer
        say(f"trained {algorithm}: {len(vocabulary)} tokens in {timings[algorithm]:.1f}s -> {output / algorithm}")
    for spec in _reference_specs():
        name, tokenizer = load_tokenizer(spec)
        tokenizers[name] = tokenizer
    if len(tokenizers) == len(timings):
        say("(run `make fixtures` to compare with GPT-2 and o200k)")
    report = analyze(tokenizers, {"prose": lambda: iter(held_prose), "code": lambda: iter(held_code)},
                     progress=False)
    report.extra["training_seconds"] = timings
    index = write_report(report, output / "report")
    for line in _headline(report):
        say(line)
    say(f"report written to {index}")
    return json.loads((output / "report" / "report.json").read_text(encoding="utf-8"))


def _headline(report: AnalysisReport) -> list[str]:
    head = f"{'tokenizer':<24} {'vocab':>8}" + "".join(f" {c + ' B/tok':>12}" for c in report.corpora)
    rows = [head, "-" * len(head)]
    for name in report.tokenizers:
        rows.append(f"{name:<24} {report.get(name, report.corpora[0]).vocab_size:>8}"
                    + "".join(f" {report.get(name, c).bytes_per_token:>12.3f}" for c in report.corpora))
    return rows
