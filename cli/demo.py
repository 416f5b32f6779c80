"""``lexkit demo``: train on the embedded corpus and write a token-efficiency report against real tokenizers.

Every fourth paragraph of the embedded corpus is held out for measuring (about 120 KB of prose and 390 KB of
code: whole documents were too lumpy, the 79 prose topics gave 9k held-out tokens). The demo also reports how much
bytes per token moves between the two halves of the held-out text, so a reader sees how stable the figures are.
Each demo trainer trains at the same vocabulary size; GPT-2 and o200k join the comparison when their fixtures are
present (``make demo`` fetches them: ``$LEXKIT_FIXTURES`` or ``./cache/fixtures``). The report's ``index.html``
holds the token viewer, and ``viewer.html`` shows it on English, code, Turkish and number samples.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lexkit import Tokenizer
from lexkit.analysis.report import AnalysisReport, analyze, load_tokenizer, write_report
from lexkit.analysis.viewer import build_viewer, render_page
from lexkit.analysis.viewer_passages import default_passages
from lexkit.atomic import atomic_write_text
from lexkit.cli._fixtures import fixtures_dir, use_fixture_tiktoken_cache
from lexkit.embedded import PROVENANCE, code_documents, prose_documents

__all__ = ["split_paragraphs", "half_spread", "run_demo"]


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


def split_paragraphs(documents: list[str], every: int = 4) -> tuple[list[str], list[str]]:
    """(training, held-out): every ``every``-th paragraph (blank-line separated) of each document is held out."""
    training: list[str] = []
    held: list[str] = []
    for document in documents:
        for index, paragraph in enumerate(document.split("\n\n")):
            (held if index % every == every - 1 else training).append(paragraph + "\n\n")
    return training, held


def half_spread(tokenizer: Tokenizer, texts: list[str]) -> float:
    """Relative difference of bytes per token between the even and the odd half of ``texts`` (percent)."""
    halves = [texts[0::2], texts[1::2]]
    rates = []
    for half in halves:
        tokens = sum(len(ids) for ids in tokenizer.encode_batch(half, disallowed_special=()))
        rates.append(sum(len(t.encode("utf-8")) for t in half) / max(tokens, 1))
    return 100 * abs(rates[0] - rates[1]) / max(min(rates), 1e-9)


def run_demo(output: Path, *, vocab_size: int = 8000, echo: Callable[[str], Any] | None = print) -> dict[str, Any]:
    """Train, save, measure and report; returns the headline figures (also in ``output/report/report.json``)."""
    from lexkit.vocab import train

    say = echo or (lambda _line: None)
    bars = echo is not None and sys.stderr.isatty()  # bars on a terminal; plain lines (``say``) in logs
    train_prose, held_prose = split_paragraphs(prose_documents())
    train_code, held_code = split_paragraphs(code_documents())
    size = {name: sum(len(t.encode("utf-8")) for t in texts) for name, texts in
            (("prose", held_prose), ("code", held_code))}
    say(f"embedded corpus: {len(train_prose) + len(train_code)} training / {len(held_prose) + len(held_code)} "
        f"held-out paragraphs ({size['prose'] / 1e3:.0f} KB prose, {size['code'] / 1e3:.0f} KB code held out; "
        f"{PROVENANCE})")
    lines = [line for d in train_prose + train_code for line in d.splitlines(keepends=True)]
    tokenizers: dict[str, Tokenizer] = {}
    timings = {}
    for algorithm, config in _configs(vocab_size).items():
        say(f"training {algorithm} ({vocab_size} tokens) ...")
        start = time.perf_counter()
        vocabulary = train(lines, config, algorithm=algorithm, progress=bars)
        timings[algorithm] = round(time.perf_counter() - start, 2)
        tokenizer = Tokenizer(vocabulary, encoder=vocabulary.metadata.get("encoder"))
        tokenizer.save(output / algorithm)
        name = f"lexkit-{algorithm}-{vocab_size // 1000}k"
        tokenizers[name] = tokenizer
        say(f"trained {algorithm}: {len(vocabulary)} tokens in {timings[algorithm]:.1f}s -> {output / algorithm}")
    use_fixture_tiktoken_cache()
    for spec in _reference_specs():
        name, tokenizer = load_tokenizer(spec)
        tokenizers[name] = tokenizer
    if len(tokenizers) == len(timings):
        say("(GPT-2 and o200k fixtures not found: `make demo` fetches them; or run "
            "`.venv/bin/python scripts/fetch_fixtures.py --only gpt2 tiktoken`)")
    say(f"measuring {len(tokenizers)} tokenizers on the held-out text ...")
    report = analyze(tokenizers, {"prose": lambda: iter(held_prose), "code": lambda: iter(held_code)},
                     progress=bars)
    report.extra["training_seconds"] = timings
    report.extra["held_out_bytes"] = size
    spread = {name: {"prose": round(half_spread(tok, held_prose), 2), "code": round(half_spread(tok, held_code), 2)}
              for name, tok in tokenizers.items()}
    report.extra["held_out_half_spread_percent"] = spread
    index = write_report(report, output / "report")
    for line in _headline(report):
        say(line)
    worst = max(max(v.values()) for v in spread.values())
    say(f"stability: bytes/token differs by at most {worst:.1f}% between the two halves of the held-out text")
    viewer = atomic_write_text(output / "viewer.html", render_page(build_viewer(tokenizers, default_passages()),
                                                                  title="lexkit demo: token viewer"))
    say(f"report written to {index} (token viewer inside; also {viewer})")
    return json.loads((output / "report" / "report.json").read_text(encoding="utf-8"))


def _headline(report: AnalysisReport) -> list[str]:
    head = f"{'tokenizer':<24} {'vocab':>8}" + "".join(f" {c + ' B/tok':>12}" for c in report.corpora)
    rows = [head, "-" * len(head)]
    for name in report.tokenizers:
        rows.append(f"{name:<24} {report.get(name, report.corpora[0]).vocab_size:>8}"
                    + "".join(f" {report.get(name, c).bytes_per_token:>12.3f}" for c in report.corpora))
    return rows
