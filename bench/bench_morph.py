"""The morphological hybrid (``morph``) on real Turkish: TR %, Pure %, root preservation, round trip, speed.

Trains ``morph`` (lexicon built from hunspell-tr) and a plain BPE of the same size on the same text (Atatürk's
speeches minus every tenth), then on held-out text (every tenth speech plus the UD treebank sentences) reports
TR % / Pure % (offline predicates, `lexkit.analysis.meaning`) for morph, that BPE, GPT-4o (o200k), Llama-3 and
Qwen2.5; root preservation on the treebank's (form, lemma) pairs; whether decode(encode(x)) == x on every
held-out text; and encoding throughput of morph vs the BPE (lexkit's fast path), printed as ratios.
Usage: python bench/bench_morph.py [--full] [--vocab-size N] [--json PATH]   (default: a quick small run)
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir  # noqa: E402


def _data(turkish: Path, train_limit: int | None, held_limit: int | None) -> tuple[list[str], list[str], list[str]]:
    """Training speeches, held-out speeches, treebank sentences."""
    with sqlite3.connect(turkish / "speeches.db") as db:
        rows = [body for (body,) in db.execute("SELECT body FROM speech_texts WHERE lang='tr' ORDER BY rowid")]
    train = [row for index, row in enumerate(rows) if index % 10 != 0][:train_limit]
    held = [row for index, row in enumerate(rows) if index % 10 == 0][:held_limit]
    sentences = []
    for conllu in sorted(turkish.glob("*.conllu")):
        sentences += [line[len("# text = "):].rstrip("\n") for line in conllu.open(encoding="utf-8")
                      if line.startswith("# text = ")]
    return train, held, sentences[:None if held_limit is None else 10 * held_limit]


def _external(fixtures: Path) -> dict[str, Any]:
    """GPT-4o (o200k), Llama-3 and Qwen2.5 as segmenters."""
    import tiktoken

    from lexkit import Tokenizer
    from lexkit.analysis.meaning import lexkit_segmenter, tiktoken_segmenter
    from lexkit.formats.tiktoken import read_ranks

    os.environ["TIKTOKEN_CACHE_DIR"] = str(fixtures / "tiktoken")
    o200k = tiktoken.get_encoding("o200k_base")
    family = json.loads((fixtures / "qwen" / "patterns.json").read_text(encoding="utf-8"))["families"]["qwen2.5"]
    qwen = tiktoken.Encoding("qwen2.5", pat_str=family["pat_str"],
                             mergeable_ranks=read_ranks(fixtures / "qwen" / family["file"]),
                             special_tokens=family["special_tokens"])
    llama = Tokenizer.load(fixtures / "llama3" / "tokenizer.json")
    return {"gpt-4o (o200k)": tiktoken_segmenter(o200k), "llama-3": lexkit_segmenter(llama),
            "qwen2.5": tiktoken_segmenter(qwen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="all the text and 32,768 ids (the measured claims)")
    parser.add_argument("--vocab-size", type=int, default=None, help="default: 32768 with --full, else 8192")
    parser.add_argument("--roots-only-at-word-start", action="store_true", help="morph option (default: off)")
    parser.add_argument("--lexicon", type=Path, default=None, help="a built lexicon (default: build it now)")
    parser.add_argument("--bpe-min-frequency", type=int, default=1,
                        help="the plain BPE's min_frequency (1: it reaches --vocab-size on small text, like morph)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    from lexkit import Tokenizer
    from lexkit.analysis.meaning import OfflineJudge, lexkit_segmenter, meaning_report, root_preservation
    from lexkit.formats.hunspell import Hunspell
    from lexkit.vocab import train
    from lexkit.vocab.morph.lexicon import load_lexicon
    from lexkit.vocab.morph.turkish import TURKISH, affix_classes, build_turkish_lexicon, conllu_lemmas

    fixtures = fixtures_dir()
    turkish = fixtures / "turkish"
    vocab_size = args.vocab_size or (32768 if args.full else 8192)
    train_texts, held, sentences = _data(turkish, None if args.full else 60, None if args.full else 8)
    held_out = held + sentences
    out: dict[str, Any] = {"vocab_size": vocab_size, "full": args.full, "cores": os.cpu_count(),
                           "roots_only_at_word_start": args.roots_only_at_word_start,
                           "bpe_min_frequency": args.bpe_min_frequency,
                           "train_chars": sum(map(len, train_texts)), "held_out_chars": sum(map(len, held_out)),
                           "held_out_texts": len(held_out)}
    start = time.perf_counter()
    hunspell = Hunspell(turkish / "hunspell" / "tr_TR.dic", turkish / "hunspell" / "tr_TR.aff")
    pairs = conllu_lemmas([str(p) for p in sorted(turkish.glob("*.conllu"))])
    scratch = Path(tempfile.mkdtemp(prefix="bench_morph."))
    if args.lexicon is None:
        lexicon = build_turkish_lexicon(hunspell, treebank_lemmas=[lemma for _, lemma in pairs])
        lexicon_path = lexicon.save(scratch / "tr.json")
        out["lexicon_build_seconds"] = round(time.perf_counter() - start, 2)
    else:
        lexicon_path, lexicon = args.lexicon, load_lexicon(args.lexicon)
    out["lexicon"] = dict(lexicon.extra.get("stats", {}))

    start = time.perf_counter()
    morph = Tokenizer(train(train_texts, algorithm="morph", vocab_size=vocab_size, lexicon=str(lexicon_path),
                            roots_only_at_word_start=args.roots_only_at_word_start, progress=False))
    out["morph_train_seconds"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    bpe = Tokenizer(train(train_texts, algorithm="bpe", vocab_size=vocab_size, min_frequency=args.bpe_min_frequency,
                          progress=False))
    out["bpe_train_seconds"] = round(time.perf_counter() - start, 2)
    out["sizes"] = {"morph": len(morph.vocabulary), "bpe": len(bpe.vocabulary)}
    out["morph_layout"] = {key: morph.vocabulary.metadata["morph"][key] for key in ("roots", "bpe")}
    out["morph_layout"]["affix_classes"] = len(morph.vocabulary.metadata["morph"]["affixes"])

    # Round trip on every held-out text, and the realizer's miss rate (words sent to the BPE fallback).
    fresh = Tokenizer(morph.vocabulary)
    mismatches = sum(fresh.decode(fresh.encode(text)) != text for text in held_out)
    stats = fresh.encoder.stats
    out["round_trip"] = {"texts": len(held_out), "mismatches": mismatches, "distinct_words": stats["words"],
                         "fallback_words": stats["fallback_words"],
                         "fallback_percent": round(100 * stats["fallback_words"] / max(1, stats["words"]), 2)}

    judge = OfflineJudge(hunspell.words, [stem for stem, flags in hunspell.entries.items() if flags],
                         [form for cls in affix_classes() for form in cls.forms], TURKISH)
    segmenters = {"morph": lexkit_segmenter(morph), f"bpe-{vocab_size}": lexkit_segmenter(bpe), **_external(fixtures)}
    out["meaning"] = {}
    out["root_preservation"] = {}
    for name, segment in segmenters.items():
        out["meaning"][name] = meaning_report(segment, held_out, judge).to_json()
        out["root_preservation"][name] = root_preservation(segment, pairs, TURKISH)

    # Throughput on the held-out text: a fresh morph tokenizer (cold word cache) vs lexkit's BPE fast path.
    megabytes = sum(len(text.encode("utf-8")) for text in held_out) / 1e6
    timings: dict[str, float] = {}
    cold = Tokenizer(morph.vocabulary)  # an empty word cache: every distinct word is segmented and checked
    for name, run in (("morph encode (cold cache)", lambda: [cold.encode(t) for t in held_out]),
                      ("morph encode (warm cache)", lambda: [cold.encode(t) for t in held_out]),
                      # the fallback runs of all new words in one engine call
                      ("morph encode_batch (cold cache)", lambda: Tokenizer(morph.vocabulary).encode_batch(held_out)),
                      ("bpe encode (one text at a time)", lambda: [bpe.encode(t) for t in held_out]),
                      ("bpe encode_batch", lambda: bpe.encode_batch(held_out))):
        start = time.perf_counter()
        run()
        timings[name] = time.perf_counter() - start
    base = timings["bpe encode (one text at a time)"]
    out["throughput"] = {name: {"seconds": round(sec, 3), "mb_per_s": round(megabytes / sec, 3),
                                "vs_bpe_one_at_a_time": round(base / sec, 3)} for name, sec in timings.items()}

    print(f"morph vs BPE, {vocab_size} ids; train {out['train_chars']:,} chars, held out {out['held_out_chars']:,}"
          f" chars ({len(held_out)} texts); {os.cpu_count()} cores")
    print(f"{'tokenizer':<18} {'tokens':>9} {'unique':>7} {'TR %':>6} {'Pure %':>7} {'root pres. %':>13}")
    for name, report in out["meaning"].items():
        print(f"{name:<18} {report['tokens']:>9,} {report['unique']:>7,} {report['turkish_percent']:>6.2f} "
              f"{report['pure_percent']:>7.2f} {out['root_preservation'][name]['percent']:>13.2f}")
    print(f"round trip: {mismatches} mismatches in {len(held_out)} texts; "
          f"{out['round_trip']['fallback_percent']}% of distinct words took the BPE fallback")
    for name, row in out["throughput"].items():
        print(f"{name:<34} {row['seconds']:>8.3f} s {row['mb_per_s']:>8.3f} MB/s {row['vs_bpe_one_at_a_time']:>7.3f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
