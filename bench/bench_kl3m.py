"""KL3M recipes on real legal text: ``domain`` vs GPT-4o (o200k), cl100k, Llama-3 and plain BPE; ``char`` boundary
stability under OCR-style errors vs plain BPE.

Corpus: the ScanCode licence texts (``cache/fixtures/legal/licenses/*.LICENSE``, YAML front matter stripped). The
split is by licence *family* (the file name up to the first ``-``, ``.`` or digit, so ``gpl-2.0`` and ``gpl-3.0``
are one family), a family being held out when crc32(family) % 10 == 0; near-duplicate licence versions therefore
never sit on both sides.

Part 1 (compression, KL3M's table 6.3): tokens per character (lower is better) and % fewer tokens than each
reference, on the held-out documents, for: plain lexkit BPE (GPT-2 regex, no normalizer), ``domain`` (KL3M recipe
with the built-in term sets and lexkit's space-prefixed term variants), ``domain`` without space variants (KL3M's
own added-token form), ``domain`` without terms (NFKC + specials + padding only) and the uncased ``domain``
(lowercased, so not lossless: KL3M reports it the same way), all at the same vocabulary size (``--vocab``, a
power of two). Also the total tokens of 20 citation fragments (``LEGAL_PROBES``) per tokenizer.

Part 2 (character level): ``char`` presets vs plain BPE of the same size (NFKC, same specials). The held-out text is
NFKC-normalized, then letters are corrupted at rate ``--error-rate`` (half substitutions with OCR confusions such as
l/1, O/0, e/c, rn-like n/m; half deletions; seeded). For each tokenizer: the longest learned token, and how many of
the clean text's token boundaries survive in the corrupted text (byte offsets mapped through the deletions):
``kept`` = share of clean boundaries present in the corrupted tokenization, ``f1`` = boundary F1 between the two.

Usage: python bench/bench_kl3m.py [--vocab 32768] [--char-presets 4k 16k] [--error-rate 0.02 0.05] [--json OUT]
The quick default (``make bench``) is ``--vocab 16384 --char-presets 4k``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import unicodedata
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir  # noqa: E402

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
# Citation fragments as they appear mid-sentence (KL3M's "domain terms" probe, with lexkit's own strings).
LEGAL_PROBES = (" 42 U.S.C. § 1983", " 28 U.S.C. §§ 1331", " 17 C.F.R. § 240.10b-5", " 85 Fed. Reg. 12345",
                " 123 F.3d 456", " 987 F. Supp. 2d 65", " 550 U.S. 544", " 127 S. Ct. 1955", " (9th Cir. 2004)",
                " (S.D.N.Y. 2010)", " Id. at 12", " et seq.", " subsection (a)(ii)", " paragraph (b)(3)(iv)",
                " Pub. L. No. 111-203", " 5 Cal. Rptr. 3d 1", " 300 N.E.2d 10", " Smith v. Jones, Inc.",
                " Acme Corp., LLC", " 15 U.S.C. §§ 78a et seq.")
_FAMILY = re.compile(r"[-.0-9]")


def load_licences(folder: Path) -> tuple[list[str], list[str], dict[str, Any]]:
    """Training and held-out documents, split by licence family."""
    train, held_out = [], []
    families: dict[str, set[str]] = {"train": set(), "held_out": set()}
    for path in sorted(folder.glob("*.LICENSE")):
        text = _FRONT_MATTER.sub("", path.read_text(encoding="utf-8", errors="replace")).strip()
        if not text:
            continue
        family = _FAMILY.split(path.stem, maxsplit=1)[0] or path.stem
        side = "held_out" if zlib.crc32(family.encode()) % 10 == 0 else "train"
        (held_out if side == "held_out" else train).append(text)
        families[side].add(family)
    info = {"train_documents": len(train), "held_out_documents": len(held_out),
            "train_characters": sum(map(len, train)), "held_out_characters": sum(map(len, held_out)),
            "train_families": len(families["train"]), "held_out_families": len(families["held_out"])}
    return train, held_out, info


def reference_counters(fixtures: Path) -> dict[str, Any]:
    """Token counters of the published tokenizers: name -> function(list of texts) -> token count."""
    import tiktoken
    from tokenizers import Tokenizer as HFTokenizer

    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(fixtures / "tiktoken")
    try:
        o200k, cl100k = tiktoken.get_encoding("o200k_base"), tiktoken.get_encoding("cl100k_base")
    finally:
        if saved is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved
    llama3 = HFTokenizer.from_file(str(fixtures / "llama3" / "tokenizer.json"))

    def tiktoken_count(encoding: Any) -> Any:
        return lambda texts: sum(map(len, encoding.encode_ordinary_batch(texts)))

    return {
        "gpt-4o (o200k)": tiktoken_count(o200k), "cl100k": tiktoken_count(cl100k),
        "llama-3": lambda texts: sum(len(e.ids) for e in llama3.encode_batch(texts, add_special_tokens=False)),
    }


def train_from_counts(config: Any, counts: dict[str, int]) -> tuple[Any, float]:
    """Train ``config``'s algorithm on pre-counted pre-tokens; returns (tokenizer, seconds)."""
    from lexkit import Tokenizer
    from lexkit.vocab import TRAINERS

    trainer = next(trainer for config_type, trainer in TRAINERS.values() if type(config) is config_type)
    start = time.perf_counter()
    vocabulary = trainer(config).train_from_counts(counts, progress=False)
    return Tokenizer(vocabulary), time.perf_counter() - start


def count_tokens(tokenizer: Any, texts: list[str]) -> int:
    return sum(map(len, tokenizer.encode_batch(texts, disallowed_special=())))


def compression(train: list[str], held_out: list[str], vocab: int, fixtures: Path, workers: int) -> dict[str, Any]:
    """Part 1: tokens per character of each tokenizer on the held-out documents."""
    from lexkit.corpus import count_pre_tokens
    from lexkit.vocab import BPEConfig, DomainConfig

    configs = {
        f"lexkit bpe {vocab}": BPEConfig(vocab_size=vocab, min_frequency=2),
        f"domain {vocab}": DomainConfig(vocab_size=vocab, min_frequency=2),
        f"domain {vocab}, no space variants (KL3M form)": DomainConfig(vocab_size=vocab, min_frequency=2,
                                                                      space_variants=False),
        f"domain {vocab}, no terms": DomainConfig(vocab_size=vocab, min_frequency=2, term_sets=()),
        f"domain {vocab}, uncased": DomainConfig(vocab_size=vocab, min_frequency=2, cased=False),
    }
    counted: dict[str, dict[str, int]] = {}
    characters = sum(map(len, held_out))
    rows: dict[str, dict[str, Any]] = {}
    probes: dict[str, int] = {}
    for name, counter in reference_counters(fixtures).items():
        tokens = counter(held_out)
        rows[name] = {"tokens": tokens, "tokens_per_char": tokens / characters}
        probes[name] = counter(list(LEGAL_PROBES))
    for name, config in configs.items():
        components = config.components()
        key = json.dumps(components["normalizer"])
        if key not in counted:
            counted[key] = count_pre_tokens(train, normalizer=components["normalizer"],
                                            pre_tokenizer=components["pre_tokenizer"], workers=workers,
                                            progress=False)
        tokenizer, seconds = train_from_counts(config, counted[key])
        encoded = tokenizer.encode_batch(held_out, disallowed_special=())
        tokens = sum(map(len, encoded))
        metadata = tokenizer.vocabulary.metadata
        added = {t.id for t in tokenizer.vocabulary.tokens if t.kind.value == "added"}
        rows[name] = {"tokens": tokens, "tokens_per_char": tokens / characters, "train_seconds": round(seconds, 1),
                      "vocab_size": len(tokenizer.vocabulary), "added_terms": metadata.get("added_terms", 0),
                      "padding_tokens": metadata.get("padding_tokens", 0),
                      "added_token_share": round(sum(i in added for ids in encoded for i in ids) / tokens, 4)}
        probes[name] = count_tokens(tokenizer, list(LEGAL_PROBES))
        print(f"  trained {name} in {seconds:.1f}s", flush=True)
    references = [name for name in rows if not name.startswith(("lexkit", "domain"))] + [f"lexkit bpe {vocab}"]
    for row in rows.values():
        row["percent_fewer_than"] = {ref: round(100.0 * (1 - row["tokens"] / rows[ref]["tokens"]), 2)
                                     for ref in references}
    return {"held_out_characters": characters, "rows": rows, "legal_probe_tokens": probes,
            "legal_probes": list(LEGAL_PROBES)}


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in values.items()}


def character_level(train: list[str], held_out: list[str], presets: list[str], rates: list[float],
                    workers: int) -> dict[str, Any]:
    """Part 2: longest learned token and boundary stability, char presets vs plain BPE of the same size."""
    from lexkit.analysis.boundary_stability import boundary_stability, corrupt_ocr
    from lexkit.corpus import count_pre_tokens
    from lexkit.vocab import BPEConfig, CharConfig
    from lexkit.vocab.kl3m import CHAR_PRESETS, KL3M_SPECIAL_TOKENS

    clean = [unicodedata.normalize("NFKC", text) for text in held_out]
    noisy = {rate: [corrupt_ocr(text, rate, seed=index) for index, text in enumerate(clean)] for rate in rates}
    counts = None
    rows: dict[str, dict[str, Any]] = {}
    for preset in presets:
        size, max_chars = CHAR_PRESETS[preset]
        configs = {
            f"char {preset} (max {max_chars})": CharConfig.preset(preset, min_frequency=2),
            f"char {preset}, HF length rule": CharConfig.preset(preset, min_frequency=2, hf_length_rule=True),
            f"bpe {size}": BPEConfig(vocab_size=size, min_frequency=2, normalizer="nfkc",
                                     special_tokens=KL3M_SPECIAL_TOKENS),
        }
        for name, config in configs.items():
            if counts is None:
                components = config.components()
                counts = count_pre_tokens(train, normalizer=components["normalizer"],
                                          pre_tokenizer=components["pre_tokenizer"], workers=workers, progress=False)
            tokenizer, seconds = train_from_counts(config, counts)
            learned = [t for t in tokenizer.vocabulary.tokens if t.kind.value == "normal"]
            lengths: dict[int, int] = {}
            for token in learned:
                lengths[len(token.content)] = lengths.get(len(token.content), 0) + 1
            tokens = count_tokens(tokenizer, clean)
            row: dict[str, Any] = {
                "vocab_size": len(tokenizer.vocabulary), "train_seconds": round(seconds, 1),
                "longest_learned_token": max(lengths), "learned_length_histogram": dict(sorted(lengths.items())),
                "tokens_per_char": tokens / sum(map(len, clean)),
            }
            if "HF length rule" not in name:
                row["stability"] = {str(rate): _rounded(asdict(boundary_stability(tokenizer, clean, noisy[rate])))
                                    for rate in rates}
            rows[name] = row
            print(f"  {name}: longest {row['longest_learned_token']}, {row.get('stability', '')}", flush=True)
    return {"error_rates": rates, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=16384, help="domain/BPE vocabulary size (a power of two)")
    parser.add_argument("--char-presets", nargs="*", default=["4k"], choices=["4k", "8k", "16k"])
    parser.add_argument("--error-rate", type=float, nargs="+", default=[0.02, 0.05])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-compression", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    fixtures = fixtures_dir()
    train, held_out, info = load_licences(fixtures / "legal" / "licenses")
    print(f"licences: {info}", flush=True)
    result: dict[str, Any] = {"corpus": info, "machine": f"{os.cpu_count()} cores (shared)"}
    if not args.skip_compression:
        result["compression"] = compression(train, held_out, args.vocab, fixtures, args.workers)
        print(f"\nheld-out tokens per character (vocab {args.vocab}; lower is better):")
        for name, row in result["compression"]["rows"].items():
            fewer = ", ".join(f"{v:+.1f}% vs {k}" for k, v in row["percent_fewer_than"].items() if k != name)
            print(f"  {name:48s} {row['tokens_per_char']:.4f}  ({fewer})")
        probes = result["compression"]["legal_probe_tokens"]
        print(f"\n{len(LEGAL_PROBES)} citation probes, total tokens: "
              + ", ".join(f"{name} {count}" for name, count in probes.items()))
    if args.char_presets:
        result["character_level"] = character_level(train, held_out, args.char_presets, args.error_rate,
                                                    args.workers)
        print("\nboundary stability under OCR-style errors (share of clean boundaries kept / F1):")
        for name, row in result["character_level"]["rows"].items():
            stability = " ".join(f"rate {rate}: {s['kept']:.3f}/{s['f1']:.3f}"
                                 for rate, s in row.get("stability", {}).items())
            print(f"  {name:32s} longest {row['longest_learned_token']}  {row['tokens_per_char']:.4f} tok/char  "
                  f"{stability}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
